"""Every intermediate tensor of a frozen graph on one image, in topological order, for `explain`."""

from __future__ import annotations

import heapq
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.base import ModelLoadError, to_mask
from pytest_deeplab.runtime.intermediate_records import TensorRecord, save_array, saved_itemsize
from pytest_deeplab.runtime.tf import import_tensorflow, session_config


def topological_order(ops: list[Any]) -> list[Any]:
    """Ops so that every input comes first; among ready ops, the GraphDef's own order."""
    position = {op.name: i for i, op in enumerate(ops)}
    consumers: dict[str, list[Any]] = {op.name: [] for op in ops}
    pending: dict[str, int] = {}
    for op in ops:
        parents = {t.op.name for t in op.inputs} | {c.name for c in op.control_inputs}
        pending[op.name] = len(parents)
        for parent in parents:
            consumers[parent].append(op)
    ready = [(position[op.name], op.name) for op in ops if pending[op.name] == 0]
    heapq.heapify(ready)
    by_name = {op.name: op for op in ops}
    ordered = []
    while ready:
        _, name = heapq.heappop(ready)
        ordered.append(by_name[name])
        for child in consumers[name]:
            pending[child.name] -= 1
            if pending[child.name] == 0:
                heapq.heappush(ready, (position[child.name], child.name))
    if len(ordered) != len(ops):
        raise ModelLoadError("the graph has a cycle outside control flow; cannot order its ops")
    return ordered


def _ancestors(op: Any) -> set[str]:
    seen: set[str] = set()
    stack = [op]
    while stack:
        current = stack.pop()
        if current.name in seen:
            continue
        seen.add(current.name)
        stack.extend(t.op for t in current.inputs)
        stack.extend(current.control_inputs)
    return seen


def _absorbed(op: Any, survivors: set[str], dependent: set[str]) -> list[str]:
    """Image-dependent float ops feeding `op` that did not survive optimisation: fused into it."""
    absorbed: list[str] = []
    stack = [t.op for t in op.inputs]
    while stack:
        parent = stack.pop()
        if parent.name in survivors or parent.name not in dependent or parent.name in absorbed:
            continue
        if not any(t.dtype.is_floating for t in parent.outputs):
            continue
        absorbed.append(parent.name)
        stack.extend(t.op for t in parent.inputs)
    return sorted(absorbed)


class GraphIntermediates:
    """A frozen graph loaded once, fed one image, its intermediate tensors fetched on demand.

    By default the tensors are those the optimised graph really materialises: a plain run's
    partition graph (after Grappler and oneDNN's rewrites) tells which nodes survive; a fused
    node keeps the name of the last op it absorbed (`block/Relu6` for Conv2D+BiasAdd+Relu6),
    and fetching only survivors leaves every fusion of plain inference in place. `unfused=True`
    switches Grappler's remapper off and takes every float tensor of the graph instead.
    """

    def __init__(
        self, path: Path, input_tensor: str, output_tensor: str, threads: int | None,
        image: np.ndarray, unfused: bool = False, allow_ops: tuple[str, ...] = (),
    ) -> None:
        tf = import_tensorflow()
        from pytest_deeplab.runtime.frozen_graph import import_graph
        from pytest_deeplab.runtime.safety.check import checked_graph_def

        graph_def = checked_graph_def(path, None, allow_ops)
        self.node_count = len(graph_def.node)
        self.unfused = unfused
        self.graph = import_graph(graph_def, path)
        del graph_def
        try:
            self.input = self.graph.get_tensor_by_name(input_tensor)
            self.output = self.graph.get_tensor_by_name(output_tensor)
        except (KeyError, ValueError):
            raise ModelLoadError(
                f"{path}: tensor {input_tensor!r} or {output_tensor!r} is not in the graph; set "
                "input_tensor / output_tensor for the model (see `pytest-deeplab inspect`)"
            ) from None
        self.feed = {self.input: image[np.newaxis]}
        config = session_config(threads)
        if unfused:
            from tensorflow.core.protobuf import rewriter_config_pb2

            config.graph_options.rewrite_options.remapping = rewriter_config_pb2.RewriterConfig.OFF
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)
        self._mask, executed = self._plain_run(tf)
        computed = self._computed_tensors()
        self.tensors = computed if unfused else [t for t in computed if t.op.name in executed]
        with self.graph.as_default(), tf.name_scope("pytest_deeplab_explain_shapes"):
            shape_ops = [tf.shape(t, out_type=tf.int64) for t in self.tensors]
        shapes = self.session.run(shape_ops, self.feed) if shape_ops else []
        survivors = {t.op.name for t in self.tensors}
        self.records = [
            TensorRecord(
                name=t.name, op=t.op.name, type=t.op.type, dtype=t.dtype.name,
                shape=[int(d) for d in shape],
                bytes=int(np.prod(shape, dtype=np.int64)) * saved_itemsize(t.dtype.name),
                kernel=executed.get(t.op.name, ""),
                fused=[] if unfused else _absorbed(t.op, survivors, self._dependent),
            )
            for t, shape in zip(self.tensors, shapes)
        ]
        self._by_name = {t.name: t for t in self.tensors}

    def _plain_run(self, tf: Any) -> tuple[np.ndarray, dict[str, str]]:
        """Plain inference: the mask, and the kernel of every node the optimised graph runs."""
        options = tf.compat.v1.RunOptions(output_partition_graphs=True)
        metadata = tf.compat.v1.RunMetadata()
        result = np.asarray(self.session.run(self.output, self.feed, options=options,
                                             run_metadata=metadata))[0]
        if self.output.dtype.is_floating:
            result = result.argmax(axis=-1)
        executed = {}
        for partition in metadata.partition_graphs:
            for node in partition.node:
                fused = [f.decode() for f in node.attr["fused_ops"].list.s] if (
                    "fused_ops" in node.attr) else []
                executed[node.name] = node.op + (f"({','.join(fused)})" if fused else "")
        return to_mask(result), executed

    def _computed_tensors(self) -> list[Any]:
        """Float tensors that depend on the image and feed the output, in topological order."""
        needed = _ancestors(self.output.op)
        dependent: set[str] = set()
        self._dependent = dependent
        tensors = []
        for op in topological_order(self.graph.get_operations()):
            if op.name not in needed or op is self.input.op:
                continue
            if not any(t.op.name in dependent or t.op is self.input.op for t in op.inputs):
                continue
            dependent.add(op.name)
            for t in op.outputs:
                if not t.dtype.is_floating or not self.graph.is_fetchable(t):
                    continue
                if t.value_index > 0 and not t.consumers():
                    continue
                tensors.append(t)
        return tensors

    def mask(self) -> np.ndarray:
        return self._mask

    def dump(self, names: list[str], folder: Path) -> list[dict[str, Any]]:
        """Fetch these tensors in one pass and write each to folder; nothing is kept."""
        tensors = [self._by_name[name] for name in names]
        values = self.session.run(tensors, self.feed)
        written = []
        index = {t.name: i for i, t in enumerate(self.tensors)}
        for tensor in tensors:
            value = values.pop(0)  # each array is released once written
            written.append({"name": tensor.name,
                            "file": save_array(folder, index[tensor.name], value),
                            "shape": list(np.shape(value))})
            del value
        return written

    def describe(self) -> dict[str, Any]:
        return {"format": "frozen_graph", "nodes": self.node_count, "unfused": self.unfused,
                "logits": self._logits(),
                "input": self.input.name, "output": self.output.name}

    def _logits(self) -> str | None:
        """The float tensor the class ids are arg-maxed from (DeepLab's upsampled logits)."""
        needed = _ancestors(self.output.op)
        argmax = [op for op in self.graph.get_operations()
                  if op.type == "ArgMax" and op.name in needed and op.inputs[0].dtype.is_floating]
        return argmax[-1].inputs[0].name if argmax else None

    def close(self) -> None:
        self.session.close()
