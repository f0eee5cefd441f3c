"""Frozen inference graphs (the zoo's `frozen_inference_graph.pb`) under TF 2 via compat.v1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.base import ModelLoadError, to_mask
from pytest_deeplab.runtime.graph_def import read_graph_def
from pytest_deeplab.runtime.tf import import_tensorflow, session_config

__all__ = ["FrozenGraphPredictor", "import_graph", "likely_tensors", "read_graph_def"]


def likely_tensors(graph_def: Any) -> tuple[list[str], list[str]]:
    """Placeholders (likely inputs) and nodes nothing consumes (likely outputs)."""
    consumed = {name.split(":")[0].lstrip("^") for node in graph_def.node for name in node.input}
    inputs = [f"{n.name}:0" for n in graph_def.node if n.op == "Placeholder"]
    outputs = [
        f"{n.name}:0" for n in graph_def.node
        if n.name not in consumed and n.op not in ("Const", "NoOp", "Assert", "Placeholder")
    ]
    return inputs, outputs


def import_graph(graph_def: Any, path: Path) -> Any:
    """A tf.Graph holding `graph_def`; a graph this TensorFlow cannot import is a ModelLoadError."""
    tf = import_tensorflow()
    graph = tf.Graph()
    with graph.as_default():
        try:
            tf.compat.v1.import_graph_def(graph_def, name="")
        except (ValueError, tf.errors.NotFoundError) as exc:
            raise ModelLoadError(
                f"{path}: TensorFlow {tf.__version__} cannot import this graph: {exc}. An op "
                "or attribute unknown to this version usually means the graph was exported "
                "with a newer TensorFlow."
            ) from None
    return graph


def refuse_incompatible(graph_def: Any, path: Path, name: str) -> None:
    """The pre-flight (runtime.compat) before the graph is imported: a graph this TensorFlow
    lacks ops or attributes for is named, with every reason, before anything is timed (the gate
    loads each model in each environment before its first timed round)."""
    from pytest_deeplab.runtime.compat import check_graph_def

    report = check_graph_def(graph_def, str(path))
    if not report.ok:
        raise ModelLoadError(
            f"model {name}: TensorFlow {report.tensorflow} cannot load {path}:\n"
            + "\n".join(f"  - {problem}" for problem in report.problems)
        )


class FrozenGraphPredictor:
    """One graph in its own session; `make_callable` keeps per-call overhead near zero."""

    input_size: int | None = None  # the graph pads any image up to its crop itself

    def __init__(
        self,
        name: str,
        path: Path,
        input_tensor: str,
        output_tensor: str,
        threads: int | None,
        *,
        label_set: str | None = None,
        num_classes: int | None = None,
        allow_ops: tuple[str, ...] = (),
    ) -> None:
        from pytest_deeplab.runtime.safety.check import checked_graph_def

        tf = import_tensorflow()
        self.name = name
        self.path = str(path)
        graph_def = checked_graph_def(path, name, allow_ops)
        refuse_incompatible(graph_def, path, name)
        self.node_count = len(graph_def.node)
        self.graph = import_graph(graph_def, path)
        self.input_name = input_tensor
        self.output_name = output_tensor
        try:
            inp = self.graph.get_tensor_by_name(input_tensor)
            out = self.graph.get_tensor_by_name(output_tensor)
        except (KeyError, ValueError):
            inputs, outputs = likely_tensors(graph_def)
            raise ModelLoadError(
                f"{path}: tensor {input_tensor!r} or {output_tensor!r} is not in the graph. "
                f"Likely inputs: {', '.join(inputs) or 'none'}; likely outputs: "
                f"{', '.join(outputs[:10]) or 'none'}. Set input_tensor / output_tensor in "
                "[tool.pytest-deeplab.models.NAME]."
            ) from None
        self.input_dtype = inp.dtype.name
        self.output_dtype = out.dtype.name
        self._float_logits = out.dtype.is_floating
        channels = out.shape[-1] if out.shape.rank == 4 else None
        if self._float_logits and num_classes and channels and channels != num_classes:
            raise ModelLoadError(
                f"{path}: the model scores {channels} classes (output {output_tensor} has "
                f"{channels} logits channels) but its label set {label_set!r} has {num_classes}. "
                f"Set label_set in [tool.pytest-deeplab.models.{name}] to the set the model was "
                "trained on, or choose the right output_tensor."
            )
        self.session = tf.compat.v1.Session(graph=self.graph, config=session_config(threads))
        self._run = self.session.make_callable(out, feed_list=[inp])

    def predict(self, image: np.ndarray) -> np.ndarray:
        batch = image[np.newaxis]
        result = np.asarray(self._run(batch))[0]
        if self._float_logits:
            result = result.argmax(axis=-1)
        return to_mask(result)

    def describe(self) -> dict[str, Any]:
        return {
            "format": "frozen_graph",
            "input": f"{self.input_name} ({self.input_dtype})",
            "output": f"{self.output_name} ({self.output_dtype})",
            "nodes": self.node_count,
        }

    def close(self) -> None:
        self.session.close()
