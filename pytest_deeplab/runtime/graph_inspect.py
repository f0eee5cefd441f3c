"""Inspect a frozen graph: tensors, parameters, multiply-adds (TensorFlow's profiler) and the
network description `modelcard.structure` judges. Imports TensorFlow."""

from __future__ import annotations

import contextlib
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_deeplab.modelcard.structure import (
    CONV_KINDS,
    GraphInspection,
    NetNode,
    TensorInfo,
    analyse_structure,
)
from pytest_deeplab.runtime.base import ModelLoadError

# (op type, input index) pairs that hold weights, and what `parameter_breakdown` calls them.
_WEIGHT_INPUTS: dict[str, dict[int, str]] = {
    "Conv2D": {1: "filters"},
    "DepthwiseConv2dNative": {1: "filters"},
    "Conv2DBackpropInput": {1: "filters"},
    "MatMul": {1: "filters"},
    "BiasAdd": {1: "biases"},
    "FusedBatchNorm": {1: "batch norm", 2: "batch norm", 3: "batch norm", 4: "batch norm"},
    "FusedBatchNormV2": {1: "batch norm", 2: "batch norm", 3: "batch norm", 4: "batch norm"},
    "FusedBatchNormV3": {1: "batch norm", 2: "batch norm", 3: "batch norm", 4: "batch norm"},
}


_TF_KINDS = {
    "Conv2D": "conv", "DepthwiseConv2dNative": "dwconv", "MatMul": "fc",
    "AvgPool": "pool", "MaxPool": "pool", "Mean": "pool",
    "ResizeBilinear": "resize", "ResizeNearestNeighbor": "resize", "ResizeBicubic": "resize",
    "ResizeArea": "resize", "Conv2DBackpropInput": "resize",
    "ConcatV2": "concat", "Concat": "concat",
    "SpaceToBatchND": "s2b", "BatchToSpaceND": "b2s",
}


_PROBE = (1, 48, 64, 3)


def count_graph_parameters(graph_def: Any) -> tuple[int, dict[str, int]]:
    """Weights of a frozen graph: element counts of float Const tensors feeding weight inputs.

    Counted: Conv2D / DepthwiseConv2dNative / Conv2DBackpropInput / MatMul filters, BiasAdd
    biases, and the four FusedBatchNorm inputs (scale, offset, moving mean, moving variance -
    all stored in the file and needed at inference). A constant reached through Identity
    ("weights/read") counts once however many ops use it. Not counted: constants feeding other
    ops (shapes, paddings, block shapes, preprocessing scalars).
    """
    by_name = {n.name: n for n in graph_def.node}

    def resolve(ref: str) -> Any:
        node = by_name.get(ref.split(":")[0].lstrip("^"))
        for _ in range(8):
            if node is None or node.op != "Identity" or not node.input:
                break
            node = by_name.get(node.input[0].split(":")[0])
        return node

    seen: dict[str, str] = {}
    for node in graph_def.node:
        for index, role in _WEIGHT_INPUTS.get(node.op, {}).items():
            if index >= len(node.input):
                continue
            const = resolve(node.input[index])
            if const is not None and const.op == "Const" and const.name not in seen:
                seen[const.name] = role
    breakdown: Counter[str] = Counter()
    for name, role in seen.items():
        value = by_name[name].attr["value"].tensor
        if value.dtype not in (1, 2, 19, 14):  # DT_FLOAT, DT_DOUBLE, DT_HALF, DT_BFLOAT16
            continue
        dims = [d.size for d in value.tensor_shape.dim]
        breakdown[role] += math.prod(dims) if dims else 1
    return sum(breakdown.values()), dict(breakdown)


def _shape_list(tensor: Any) -> list[int | None] | None:
    shape = tensor.shape
    if shape.rank is None:
        return None
    return [None if d is None else int(d) for d in shape.as_list()]


def _import(tf: Any, graph_def: Any, input_name: str, dtype: Any,
            shape: Sequence[int] | None) -> Any:
    graph = tf.Graph()
    with graph.as_default():
        input_map = None
        if shape is not None:
            fixed = tf.compat.v1.placeholder(dtype, list(shape), name="pytest_deeplab_input")
            input_map = {input_name: fixed}
        tf.compat.v1.import_graph_def(graph_def, input_map=input_map, name="")
    return graph


def _graph_nodes(tf: Any, graph: Any) -> tuple[list[NetNode], dict[str, Any]]:
    """The TF-free description of an imported graph (static shapes included)."""
    from tensorflow.python.framework import tensor_util

    constant_ops: set[str] = set()
    nodes: list[NetNode] = []
    shapes: dict[str, Any] = {}
    for op in graph.get_operations():
        if op.type == "Const" or (
            op.type == "Identity" and op.inputs and op.inputs[0].op.name in constant_ops
        ):
            constant_ops.add(op.name)
            continue
        kind = _TF_KINDS.get(op.type, "other")
        rate = 1
        if op.type in ("Conv2D", "DepthwiseConv2dNative"):
            try:
                dilations = list(op.get_attr("dilations"))
                rate = max(int(dilations[1]), int(dilations[2]))
            except (ValueError, IndexError):
                rate = 1
        elif op.type == "SpaceToBatchND":
            block = tensor_util.constant_value(op.inputs[1])
            if block is not None and len(block):
                rate = int(max(block))
        data = [t for t in op.inputs if t.op.name not in constant_ops]
        if kind == "concat":
            pass  # every non-constant input is a branch (the axis is a constant)
        elif op.inputs and op.inputs[0].op.name not in constant_ops:
            data = [op.inputs[0]]
        elif kind == "resize" and len(op.inputs) > 2:  # Conv2DBackpropInput: (sizes, w, x)
            data = [op.inputs[2]]
        else:
            data = []
        for t in (*data, *op.outputs):
            if t.name not in shapes:
                shapes[t.name] = _shape_list(t)
        nodes.append(NetNode(op.name, op.type, kind, [t.name for t in data],
                             [t.name for t in op.outputs], rate))
    return nodes, shapes


def _float_ops(tf: Any, graph: Any) -> int:
    builder = tf.compat.v1.profiler.ProfileOptionBuilder
    options = builder(builder.float_operation()).with_empty_output().build()
    try:
        from tensorflow.python.util.deprecation import silence
    except ImportError:  # pragma: no cover - a TensorFlow without the helper
        silence = contextlib.nullcontext
    with warnings.catch_warnings(), silence():
        warnings.simplefilter("ignore")
        profile = tf.compat.v1.profiler.profile(graph, options=options)
    return int(profile.total_float_ops)


def inspect_frozen_graph(
    path: Path,
    input_tensor: str = "ImageTensor:0",
    output_tensor: str = "SemanticPredictions:0",
    *,
    size: int | None = None,
    default_size: int | None = None,
) -> GraphInspection:
    """Inspect a frozen inference graph; see the module docstring for how each figure is found."""
    from pytest_deeplab.runtime.frozen_graph import likely_tensors, read_graph_def
    from pytest_deeplab.runtime.tf import import_tensorflow

    tf = import_tensorflow()
    graph_def = read_graph_def(path)
    histogram = Counter(n.op for n in graph_def.node)
    placeholders, dangling = likely_tensors(graph_def)
    names = {n.name for n in graph_def.node}
    notes: list[str] = []
    if input_tensor.split(":")[0] not in names:
        if not placeholders:
            raise ModelLoadError(f"{path}: the graph has no Placeholder to feed an image into")
        notes.append(f"{input_tensor} is not in the graph; measured through {placeholders[0]}")
        input_tensor = placeholders[0]
    outputs = [output_tensor] if output_tensor.split(":")[0] in names else dangling[:4]

    try:
        plain = _import(tf, graph_def, input_tensor, None, None)
    except (ValueError, tf.errors.NotFoundError) as exc:
        raise ModelLoadError(
            f"{path}: TensorFlow {tf.__version__} cannot import this graph: {exc}"
        ) from None
    inp = plain.get_tensor_by_name(input_tensor)
    input_shape = _shape_list(inp)
    dtype = inp.dtype
    info_in = [TensorInfo(input_tensor, dtype.name, input_shape)]
    info_out = []
    for name in outputs:
        t = plain.get_tensor_by_name(name)
        info_out.append(TensorInfo(name, t.dtype.name, _shape_list(t)))
    parameters, breakdown = count_graph_parameters(graph_def)

    # The crop: feed a small probe image and see what size the network's first conv receives.
    fixed_hw = None
    if input_shape and len(input_shape) == 4 and input_shape[1] and input_shape[2]:
        fixed_hw = (int(input_shape[1]), int(input_shape[2]))
    channels = input_shape[3] if input_shape and len(input_shape) == 4 else None
    channels = channels or 3
    crop, crop_source = None, ""
    if fixed_hw:
        crop, crop_source = max(fixed_hw), "the input tensor's fixed shape"
    else:
        probe = (*_PROBE[:3], channels)
        try:
            nodes, shapes = _graph_nodes(tf, _import(tf, graph_def, input_tensor, dtype, probe))
            seen = analyse_structure(nodes, shapes).network_input
        except (ValueError, tf.errors.InvalidArgumentError):
            seen = None
        if seen and seen not in probe[1:3]:
            crop, crop_source = seen, "the size the graph pads/resizes every input to"
        elif default_size:
            crop, crop_source = default_size, "the catalogue (the graph takes any size)"
            notes.append("the graph has no fixed crop: it runs at the size it is fed")
    measured = size or crop
    if measured is None:
        raise ModelLoadError(f"{path}: cannot tell the input size; pass --size N")
    if fixed_hw and size and size not in fixed_hw:
        notes.append(f"the input has a fixed shape {fixed_hw}; --size {size} ignored")
        measured = max(fixed_hw)
    shape = [1, measured, measured, channels]
    if fixed_hw:
        shape[1:3] = fixed_hw
    try:
        graph = _import(tf, graph_def, input_tensor, dtype, shape)
    except (ValueError, tf.errors.InvalidArgumentError) as exc:
        hint = (f"it pads every input to its crop, {crop}x{crop}, so it takes at most that"
                if crop and crop_source.startswith("the size") else "try another --size")
        raise ModelLoadError(
            f"{path}: the graph does not accept a {measured}x{measured} input: {hint} "
            f"({str(exc).splitlines()[0][:200]})"
        ) from None
    nodes, shapes = _graph_nodes(tf, graph)
    structure = analyse_structure(nodes, shapes)
    if structure.network_input and structure.network_input != measured:
        notes.append(f"a {measured}x{measured} input reaches the network as "
                     f"{structure.network_input}x{structure.network_input}")
        measured = structure.network_input
    madds = _float_ops(tf, graph) / 2
    return GraphInspection(
        format="frozen_graph",
        path=str(path),
        file_bytes=path.stat().st_size,
        runtime=f"TensorFlow {tf.__version__}",
        inputs=info_in,
        outputs=info_out,
        op_histogram=dict(histogram.most_common()),
        node_count=len(graph_def.node),
        parameters=parameters,
        parameter_breakdown=breakdown,
        crop_size=crop,
        crop_source=crop_source,
        measured_size=measured,
        multiply_adds=madds,
        madds_method="tfprof float ops / 2",
        num_classes=_classes(graph, nodes, shapes),
        structure=structure,
        notes=notes,
    )


def _classes(graph: Any, nodes: Sequence[NetNode], shapes: dict[str, Any]) -> int | None:
    """Channels of the logits: the input of ArgMax, else the last convolution's output."""
    for node in nodes:
        if node.op == "ArgMax" and node.inputs:
            shape = shapes.get(node.inputs[0])
            if shape and len(shape) == 4 and shape[3]:
                return int(shape[3])
    convs = [n for n in nodes if n.kind in CONV_KINDS]
    if convs:
        shape = shapes.get(convs[-1].outputs[0])
        if shape and shape[-1]:
            return int(shape[-1])
    return None
