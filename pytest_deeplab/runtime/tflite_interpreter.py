"""A TF Lite interpreter that cannot take the process down, and who it is.

A `.tflite` file given to `Interpreter(model_path=...)` is used without verification: a
truncated file segfaults the whole pytest process (measured: 49 of 50 random truncations of the
official model, exit 139). The bytes are therefore handed over as `model_content`, which runs
the flatbuffer verifier first and turns a damaged file into a ValueError; a declared tensor too
large for this machine (a corrupted shape) is refused before `allocate_tensors` tries to
allocate it and invites the kernel's OOM killer. benchmarks/tflite_corruption_study.py measures
both on thousands of damaged files.

The interpreter comes from `ai_edge_litert` (LiteRT) when installed, else from `tf.lite`
(deprecated, slated to leave the TensorFlow wheel). XNNPACK, applied by default on CPU, changes
numerics; `xnnpack=False` asks for BUILTIN_WITHOUT_DEFAULT_DELEGATES, the op resolver without
default delegates.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.tflite_probe import probe, verifies

TFLITE_IDENTIFIER = b"TFL3"
EDGETPU_OP = "edgetpu-custom-op"
CUSTOM = 32  # BuiltinOperator.CUSTOM in the TF Lite schema
BeforeAllocate = Callable[[Any], None]  # called with the interpreter before allocate_tensors()


@dataclass(frozen=True)
class InterpreterPackage:
    """Where the interpreter class comes from: `ai_edge_litert 2.3.0` or `tf.lite (TF 2.21.0)`."""

    interpreter: Any
    resolver: Any  # the OpResolverType enum
    schema: Any  # the flatbuffer schema module shipped beside the interpreter
    label: str


def interpreter_package() -> InterpreterPackage:
    """LiteRT when installed, else TensorFlow's tf.lite (imported here, lazily)."""
    try:
        from ai_edge_litert import schema_py_generated
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:
        from pytest_deeplab.runtime.tf import import_tensorflow

        tf = import_tensorflow()
        from tensorflow.lite.python import schema_py_generated as schema

        return InterpreterPackage(tf.lite.Interpreter, tf.lite.experimental.OpResolverType,
                                  schema, f"tf.lite (TensorFlow {tf.__version__})")
    return InterpreterPackage(Interpreter, OpResolverType, schema_py_generated,
                              f"ai_edge_litert {_version('ai-edge-litert')}")


def interpreter_label() -> str:
    """The run identity's `tflite_runtime`, without building an interpreter."""
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        from pytest_deeplab.runtime.tf import import_tensorflow

        return f"tf.lite (TensorFlow {import_tensorflow().__version__})"
    return f"ai_edge_litert {_version('ai-edge-litert')}"


def _version(distribution: str) -> str:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "(version unknown)"


def read_model_bytes(path: Path, name: str) -> bytes:
    """The file's bytes, refused early when they cannot be a TF Lite flatbuffer."""
    data = path.read_bytes()
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelLoadError(
            f"{path}: not a TF Lite model: {_what_it_is(data)}; a .tflite file carries the "
            f"identifier 'TFL3' in bytes 4-8. If this is a frozen graph, set format = "
            f"\"frozen_graph\" in [tool.pytest-deeplab.models.{name}]; if it was downloaded, "
            f"delete it and fetch it again (`pytest-deeplab fetch {name}`)."
        )
    return data


def _what_it_is(data: bytes) -> str:
    if not data:
        return "the file is empty (0 bytes)"
    head = data[:16].lstrip()
    if head[:1] == b"<":
        return f"it starts like an HTML or XML page ({len(data)} bytes), e.g. a failed download"
    if data[:2] == b"\x1f\x8b":
        return "it is a gzip archive: extract the .tflite from it"
    if data[:2] == b"PK":
        return "it is a zip archive: extract the .tflite from it"
    return f"bytes 4-8 are {data[4:8]!r} ({len(data)} bytes)"


def create_interpreter(
    package: InterpreterPackage, path: Path, data: bytes, threads: int | None, xnnpack: bool,
    *, preserve_all_tensors: bool = False, before_allocate: BeforeAllocate | None = None,
) -> Any:
    """Verify, build and check the interpreter; every failure is a ModelLoadError.

    With XNNPACK the model is first prepared once by TF Lite's built-in kernels alone, whose
    Prepare checks every op's tensors: XNNPACK's own preparation trusts them and crashed on a
    corrupted operator input that the built-in conv kernel reports as an error (found by
    benchmarks/tflite_corruption_study.py). `preserve_all_tensors` keeps every intermediate
    readable after `invoke` (for `explain`; it costs memory). `before_allocate(interpreter)`
    runs on the returned interpreter before its `allocate_tensors()`, where a profiler must be
    attached to see the delegate's operators (`explain --latency`).
    """
    custom = custom_ops(package.schema, data)
    if EDGETPU_OP in custom:
        raise edgetpu_error(path)
    if hasattr(os, "fork") and not verifies(package.label, lambda b: _built(package, b, 1), data):
        probe(path, package.label,
              lambda: _run_once(_prepared_pair(package, path, data, threads, xnnpack, custom)))
    return _prepared_pair(package, path, data, threads, xnnpack, custom, preserve_all_tensors,
                          before_allocate)


def _prepared_pair(package: InterpreterPackage, path: Path, data: bytes, threads: int | None,
                   xnnpack: bool, custom: set[str], preserve: bool = False,
                   before_allocate: BeforeAllocate | None = None) -> Any:
    kinds = package.resolver
    builtin = _prepared(package, path, data, threads, kinds.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
                        custom, preserve and not xnnpack, None if xnnpack else before_allocate)
    if not xnnpack:
        return builtin
    del builtin
    return _prepared(package, path, data, threads, kinds.AUTO, custom, preserve,
                     before_allocate)


def _built(package: InterpreterPackage, data: bytes, threads: int | None,
           resolver: Any = None, preserve: bool = False) -> Any:
    kinds = package.resolver
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
        return package.interpreter(
            model_content=data, num_threads=threads,
            experimental_op_resolver_type=resolver or kinds.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
            experimental_preserve_all_tensors=preserve)


def _run_once(interpreter: Any) -> None:
    """One inference on a blank input: kernels that only fail when they run, fail here."""
    import numpy as np

    for details in interpreter.get_input_details():
        interpreter.set_tensor(details["index"], np.zeros(details["shape"], details["dtype"]))
    interpreter.invoke()


def _prepared(package: InterpreterPackage, path: Path, data: bytes, threads: int | None,
              resolver: Any, custom: set[str], preserve: bool = False,
              before_allocate: BeforeAllocate | None = None) -> Any:
    try:
        interpreter = _built(package, data, threads, resolver, preserve)
    except ValueError as exc:
        raise ModelLoadError(
            f"{path}: the TF Lite file is truncated or corrupt ({len(data)} bytes; the "
            f"interpreter says: {_first_line(exc)}). Delete it and fetch or copy it again."
        ) from None
    check_tensor_sizes(path, interpreter)
    if before_allocate is not None:
        before_allocate(interpreter)
    try:
        interpreter.allocate_tensors()
    except (RuntimeError, ValueError) as exc:
        if EDGETPU_OP in str(exc):
            raise edgetpu_error(path) from None
        hint = (f" It uses custom ops ({', '.join(sorted(custom))}) this interpreter does not "
                "have." if custom else "")
        raise ModelLoadError(
            f"{path}: the TF Lite interpreter cannot prepare this model: {_first_line(exc)}.{hint}"
        ) from None
    return interpreter


def edgetpu_error(path: Path) -> ModelLoadError:
    return ModelLoadError(
        f"{path}: this is an Edge TPU build (it contains the custom op '{EDGETPU_OP}'), which "
        "runs only on a Coral Edge TPU. Test the CPU build of the same model instead: Coral "
        "publishes it beside the Edge TPU file, named without '_edgetpu' (e.g. "
        "deeplabv3_mnv2_pascal_quant.tflite for deeplabv3_mnv2_pascal_quant_edgetpu.tflite)."
    )


def custom_ops(schema: Any, data: bytes) -> set[str]:
    """Names of the custom ops in a (verified) model, read from its operator codes."""
    names = set()
    try:
        model = schema.Model.GetRootAs(data, 0)
        for i in range(model.OperatorCodesLength()):
            code = model.OperatorCodes(i)
            builtin = max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode()))
            if builtin == CUSTOM and code.CustomCode():
                names.add(code.CustomCode().decode("utf-8", "replace"))
    except Exception:  # an older schema module: the interpreter's own message must do
        return names
    return names


def check_tensor_sizes(path: Path, interpreter: Any) -> None:
    """Refuse a tensor larger than this machine's memory: a corrupted shape, not a model."""
    limit = physical_memory()
    if limit is None:
        return
    for tensor in interpreter.get_tensor_details():
        size = 1
        for dim in tensor["shape"]:
            size *= max(int(dim), 1)
        size *= _itemsize(tensor["dtype"])
        if size > limit:
            shape = [int(d) for d in tensor["shape"]]
            raise ModelLoadError(
                f"{path}: tensor {tensor['name']} declares shape {shape} "
                f"({size / 2**30:.1f} GiB), more than this machine's memory "
                f"({limit / 2**30:.1f} GiB): the file is corrupt. Fetch or copy it again."
            )


def _itemsize(dtype: Any) -> int:
    import numpy as np

    try:
        return int(np.dtype(dtype).itemsize)
    except TypeError:
        return 1


def physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return None


def delegate_partitions(interpreter: Any) -> int | None:
    """How many parts of the graph a delegate (XNNPACK on CPU) took over; None if unknown.

    Read from the execution plan: each delegated partition shows as one DELEGATE node."""
    try:
        ops = interpreter._get_ops_details()
    except Exception:  # a private helper; an interpreter without it just cannot say
        return None
    return sum(1 for op in ops if op.get("op_name") == "DELEGATE")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0].rstrip(".") if text else type(exc).__name__
