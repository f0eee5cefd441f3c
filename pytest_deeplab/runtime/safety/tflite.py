"""Every operator of every subgraph of a TF Lite flatbuffer, read with the schema only.

Builtin operators are TF Lite's own kernels; a CUSTOM operator runs whatever the runtime
registered under its name (Flex* ops run TensorFlow kernels, file ops included), so custom
operators are listed under their custom code and refused unless a model allows them by name.
Nothing here builds an interpreter.
"""

from __future__ import annotations

import struct
from typing import Any

from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.safety.findings import OpUse

CUSTOM_CONTEXT = "custom"


def builtin_names(schema: Any) -> dict[int, str]:
    table = schema.BuiltinOperator
    return {v: k for k, v in vars(table).items() if not k.startswith("_") and isinstance(v, int)}


def tflite_uses(data: bytes, schema: Any, path: str) -> list[OpUse]:
    """One use per operator; a flatbuffer that cannot be walked is refused, not guessed at."""
    names = builtin_names(schema)
    custom = schema.BuiltinOperator.CUSTOM
    try:
        model = schema.Model.GetRootAsModel(data, 0)
        codes = []
        for i in range(_bounded(model.OperatorCodesLength(), data)):
            code = model.OperatorCodes(i)
            builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
            if builtin == custom:
                raw = code.CustomCode()
                codes.append((raw.decode("utf-8", "replace") if raw else "<unnamed>", True))
            else:
                codes.append((names.get(builtin, f"BUILTIN_{builtin}"), False))
        uses = []
        for s in range(_bounded(model.SubgraphsLength(), data)):
            graph = model.Subgraphs(s)
            label = f"subgraph {s}" + (f" ({graph.Name().decode('utf-8', 'replace')})"
                                       if graph.Name() else "")
            for o in range(_bounded(graph.OperatorsLength(), data)):
                op = graph.Operators(o)
                name, is_custom = codes[op.OpcodeIndex()]
                first = graph.Tensors(op.Outputs(0)).Name() if op.OutputsLength() else None
                node = f"operator {o}" + (
                    f" -> {first.decode('utf-8', 'replace')}" if first else "")
                uses.append(OpUse(name, node, label, CUSTOM_CONTEXT if is_custom else "graph"))
        return uses
    except (IndexError, struct.error) as exc:  # an offset past the end of the bytes
        raise _damaged(path, data, "an offset points past the end of the file") from exc
    except (ValueError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise _damaged(path, data, str(exc)) from exc


def _damaged(path: str, data: bytes, why: str) -> ModelLoadError:
    return ModelLoadError(
        f"{path}: the TF Lite file is truncated or corrupt ({len(data)} bytes; its operators "
        f"cannot be read: {why}). Delete it and fetch or copy it again."
    )


def _bounded(count: int, data: bytes) -> int:
    """A count no flatbuffer of this size can hold means a damaged file, not a long loop."""
    if count < 0 or count > len(data):
        raise ValueError(f"a table claims {count} entries in a {len(data)}-byte file")
    return count
