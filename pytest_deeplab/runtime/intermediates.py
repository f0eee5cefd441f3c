"""Every floating-point tensor a model computes on one image, written to .npy files in chunks.

`explain` compares two runs tensor by tensor. Holding all activations of a large graph at once
would take gigabytes (a 2049-px Xception), so a run is asked for a few tensors at a time: each
`dump(names, folder)` fetches only those tensors (one forward pass of a frozen graph per chunk),
writes each to its own .npy file and lets them go. The caller picks chunks from the byte sizes
`records()` reports.

Frozen graphs: the tensors are those of ops that depend on the image input (data edges) and feed
the output, in topological order (GraphDef order among ready ops); secondary outputs nothing
consumes (FusedBatchNorm's batch statistics) are left out, since Grappler may rewrite their op.
Fetching a tensor keeps Grappler from fusing its op away in that pass; both sides of a comparison
fetch the same chunks, so they are rewritten alike. The mask comes from a pass that fetches only
the output: plain inference, exactly as the suite runs it.
"""

from __future__ import annotations

import heapq
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.base import ModelLoadError, to_mask
from pytest_deeplab.runtime.tf import import_tensorflow, session_config


@dataclass
class TensorRecord:
    """One tensor of the run: where it comes from and how big it is (plain data)."""

    name: str  # tensor name (frozen graph "node:0"; TF Lite its tensor name)
    op: str  # the node that computes it
    type: str  # that node's op type
    dtype: str  # as computed (dumps are floating point: dequantized where quantized)
    shape: list[int]
    bytes: int  # size of the dumped float array
    kernel: str = ""  # what really ran: e.g. _FusedConv2D(BiasAdd,Relu6) (frozen graphs)
    fused: list[str] = field(default_factory=list)  # ops absorbed into this one by fusion

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def save_array(folder: Path, index: int, value: np.ndarray) -> str:
    """Write one tensor as float (float16/32/64 kept, anything else as float32)."""
    array = np.asarray(value)
    if array.dtype not in (np.float16, np.float32, np.float64):
        array = array.astype(np.float32)
    path = folder / f"t{index:05d}.npy"
    np.save(path, array, allow_pickle=False)
    return path.name


def _saved_itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize if dtype in ("float16", "float32", "float64") else 4


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
        image: np.ndarray, unfused: bool = False,
    ) -> None:
        tf = import_tensorflow()
        from pytest_deeplab.runtime.frozen_graph import read_graph_def

        graph_def = read_graph_def(path)
        self.node_count = len(graph_def.node)
        self.unfused = unfused
        self.graph = tf.Graph()
        with self.graph.as_default():
            try:
                tf.compat.v1.import_graph_def(graph_def, name="")
            except (ValueError, tf.errors.NotFoundError) as exc:
                raise ModelLoadError(
                    f"{path}: TensorFlow {tf.__version__} cannot import this graph: {exc}"
                ) from None
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
                bytes=int(np.prod(shape, dtype=np.int64)) * _saved_itemsize(t.dtype.name),
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


def onednn_active() -> bool | None:
    """Whether this TensorFlow really runs oneDNN kernels (None if it cannot say).

    Not the same as "x86 and TF_ENABLE_ONEDNN_OPTS unset": TF 2.21 leaves oneDNN off by default
    on CPUs without AVX-512 (measured on this project's 2-core AVX2 machines).
    """
    import_tensorflow()
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    probe = getattr(_pywrap_util_port, "IsMklEnabled", None)
    return bool(probe()) if probe is not None else None


def open_intermediates(
    path: Path, fmt: str, *, input_tensor: str, output_tensor: str, threads: int | None,
    image: np.ndarray, xnnpack: bool = True, unfused: bool = False,
) -> Any:
    """The intermediates of one model file on one image (frozen graph or TF Lite)."""
    if not path.exists():
        raise ModelLoadError(f"model file {path} does not exist")
    if fmt == "frozen_graph":
        return GraphIntermediates(path, input_tensor, output_tensor, threads, image, unfused)
    if fmt == "tflite":
        from pytest_deeplab.runtime.tflite_intermediates import TFLiteIntermediates

        return TFLiteIntermediates(path, threads, image, xnnpack)
    raise ModelLoadError(
        f"{path}: explain reads frozen graphs and TF Lite models, not {fmt!r}"
    )
