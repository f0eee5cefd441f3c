"""Look inside a model file: tensors, ops, parameters, multiply-adds and DeepLab's structure.

The model card (`pytest-deeplab inspect MODEL`) is built from what this module measures; nothing
here trusts a model's name or the catalogue. TensorFlow is imported inside the functions that read
a file; the structural analysis (`analyse_structure`) works on a small TF-free description of the
network (`NetNode`), so frozen graphs and TF Lite models are judged by the same rules and the rules
can be tested without TensorFlow.

How each figure is found
------------------------
- Crop size (frozen graphs): the graph is imported with its image input mapped onto a small
  fixed-shape placeholder; TensorFlow's shape inference evaluates the export's padding/resize
  constants, so the first convolution's input has the size the graph pads every image to (513
  for the PASCAL zoo graphs). If the network input keeps the probe's size the graph has no fixed
  crop and the catalogue's input size is used. TF Lite models: the input tensor's shape.
- Multiply-adds (frozen graphs): the graph is imported onto a placeholder of fixed shape
  [1, N, N, 3] (N = the crop unless asked otherwise) and `tf.compat.v1.profiler` counts its float
  operations; multiply-adds = float ops / 2. TF Lite models: summed from tensor shapes over
  CONV_2D (out elements x kh x kw x cin), DEPTHWISE_CONV_2D (out elements x kh x kw),
  TRANSPOSE_CONV and FULLY_CONNECTED. Both count the padding an atrous convolution adds, as
  TensorFlow executes it.
- Output stride: the spatial size of the deepest feature map - the smallest output of any
  convolution in the network, leaving out 1x1 maps (global image pooling) and the batch-folded
  maps inside SpaceToBatchND/BatchToSpaceND pairs (atrous convolution) - relative to the network
  input: OS = 2^round(log2((S - 1) / (H - 1))), e.g. (513 - 1) / (65 - 1) = 8. Atrous
  convolution keeps the resolution, so this is the stride DeepLab's `output_stride` names; a
  decoder works at a finer stride after it and is reported separately.
- Atrous rates: the block_shape constants of SpaceToBatchND ops (how TF 1 exported atrous
  convolution) and the `dilations` attributes of Conv2D/DepthwiseConv2dNative (TF Lite:
  dilation factors in the op options, read from the flatbuffer when TensorFlow's schema module
  is available).
- ASPP: a channel concat whose inputs are parallel branches from one feature map (traced back
  to the tensor they share) of which at least one is atrous. A concat of a 1x1 conv and image
  pooling only (the MobileNet-v2 zoo head) is not ASPP.
- Decoder: a channel concat at a finer resolution than the deepest feature map that fuses an
  upsampled (resized) lower-resolution input with a feature map that is not upsampled.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.base import ModelLoadError

# --- the TF-free description of a network ----------------------------------------------------

CONV_KINDS = ("conv", "dwconv")
# Ops that read only a tensor's shape: they do not make a feature map a branch point.
SHAPE_ONLY_OPS = frozenset({"Shape", "ShapeN", "Size", "Rank", "Assert", "SHAPE"})


@dataclass
class NetNode:
    """One op: `kind` is normalised across formats, `inputs` are data tensors (no constants)."""

    name: str
    op: str
    kind: str  # conv | dwconv | fc | pool | resize | concat | s2b | b2s | other
    inputs: list[str]
    outputs: list[str]
    rate: int = 1  # atrous rate (dilation, or SpaceToBatchND block size)


@dataclass
class Structure:
    """What `analyse_structure` finds; every field may be None when the graph does not say."""

    network_input: int | None = None
    deepest: tuple[int, int] | None = None
    output_stride: int | None = None
    atrous_rates: dict[int, int] = field(default_factory=dict)  # rate -> number of ops
    aspp: bool | None = None
    aspp_rates: list[int] = field(default_factory=list)
    aspp_branches: int = 0
    image_pooling: bool = False
    decoder: bool | None = None
    decoder_stride: int | None = None


def _hw(shape: Sequence[int | None] | None) -> tuple[int, int] | None:
    if shape is None or len(shape) != 4 or shape[1] is None or shape[2] is None:
        return None
    return int(shape[1]), int(shape[2])


def _batch(shape: Sequence[int | None] | None) -> int | None:
    return None if not shape or shape[0] is None else int(shape[0])


def stride_from_sizes(network_input: int, feature: int) -> int | None:
    """Nearest power of two to (S - 1) / (H - 1): DeepLab's crops are k * OS + 1 (513 = 64*8+1)."""
    if feature <= 1 or network_input <= feature:
        return 1 if network_input == feature else None
    ratio = (network_input - 1) / (feature - 1)
    return int(2 ** round(math.log2(ratio)))


def analyse_structure(
    nodes: Sequence[NetNode], shapes: dict[str, Sequence[int | None] | None]
) -> Structure:
    """Output stride, atrous rates, ASPP and decoder from ops and static tensor shapes."""
    out = Structure()
    producer = {t: n for n in nodes for t in n.outputs}
    consumers: dict[str, list[NetNode]] = {}
    for n in nodes:
        for t in n.inputs:
            consumers.setdefault(t, []).append(n)

    convs = [n for n in nodes if n.kind in CONV_KINDS]
    sizes_in = [hw[0] for n in convs if (hw := _hw(shapes.get(n.inputs[0]) if n.inputs else None))
                and _batch(shapes.get(n.inputs[0])) == 1]
    if sizes_in:
        out.network_input = max(sizes_in)
    maps = [hw for n in convs for t in n.outputs
            if (hw := _hw(shapes.get(t))) and _batch(shapes.get(t)) == 1 and min(hw) > 1]
    if maps:
        out.deepest = min(maps)
        if out.network_input:
            out.output_stride = stride_from_sizes(out.network_input, out.deepest[0])

    rates = Counter(n.rate for n in nodes if n.rate > 1 and n.kind in (*CONV_KINDS, "s2b"))
    out.atrous_rates = dict(sorted(rates.items()))

    def branch_point(tensor: str) -> bool:
        users = [c for c in consumers.get(tensor, []) if c.op not in SHAPE_ONLY_OPS]
        return len(users) >= 2

    def trace(tensor: str, limit: int = 16) -> tuple[str, list[NetNode]]:
        """Walk a concat input back to the tensor its branch shares with others."""
        path: list[NetNode] = []
        for _ in range(limit):
            node = producer.get(tensor)
            if node is None or node.kind == "concat" or not node.inputs:
                break
            path.append(node)
            tensor = node.inputs[0]
            if branch_point(tensor):
                break
        return tensor, path

    aspp_found = False
    decoder_found = False
    for node in nodes:
        if node.kind != "concat" or len(node.inputs) < 2:
            continue
        out_hw = _hw(shapes.get(node.outputs[0])) if node.outputs else None
        if out_hw is None or _batch(shapes.get(node.outputs[0])) != 1:
            continue
        traced = [trace(t) for t in node.inputs]
        groups: dict[str, list[list[NetNode]]] = {}
        for origin, path in traced:
            groups.setdefault(origin, []).append(path)
        for paths in groups.values():
            if len(paths) < 2:
                continue
            branch_rates = [max((n.rate for n in p if n.kind in (*CONV_KINDS, "s2b")), default=1)
                            for p in paths]
            atrous = [r for r in branch_rates if r > 1]
            pooled = any(n.kind == "pool" and _hw(shapes.get(n.outputs[0])) == (1, 1)
                         for p in paths for n in p)
            out.image_pooling = out.image_pooling or pooled
            if atrous and not aspp_found:
                aspp_found = True
                out.aspp_rates = sorted(set(atrous))
                out.aspp_branches = len(paths)
        if out.deepest and out_hw[0] > out.deepest[0] and not decoder_found:
            upsampled = [any(n.kind == "resize" and _is_upsample(n, shapes) for n in p)
                         for _, p in traced]
            if any(upsampled) and not all(upsampled):
                decoder_found = True
                if out.network_input:
                    out.decoder_stride = stride_from_sizes(out.network_input, out_hw[0])
    if out.deepest is not None:
        out.aspp = aspp_found
        out.decoder = decoder_found
    return out


def _is_upsample(node: NetNode, shapes: dict[str, Sequence[int | None] | None]) -> bool:
    src = _hw(shapes.get(node.inputs[0])) if node.inputs else None
    dst = _hw(shapes.get(node.outputs[0])) if node.outputs else None
    return src is not None and dst is not None and dst[0] > src[0] and src != (1, 1)


# --- what a model file holds -----------------------------------------------------------------


@dataclass
class TensorInfo:
    name: str
    dtype: str
    shape: list[int | None] | None

    def __str__(self) -> str:
        dims = "?" if self.shape is None else "[" + ", ".join(
            "?" if d is None else str(d) for d in self.shape) + "]"
        return f"{self.name}  {self.dtype}  {dims}"


@dataclass
class GraphInspection:
    """Everything measured from one model file. Plain data: no TensorFlow objects."""

    format: str
    path: str
    file_bytes: int
    runtime: str
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    op_histogram: dict[str, int] | None
    node_count: int | None = None
    tensor_count: int | None = None
    parameters: int | None = None
    parameter_breakdown: dict[str, int] = field(default_factory=dict)
    crop_size: int | None = None
    crop_source: str = ""
    measured_size: int | None = None  # the input size multiply-adds were measured at
    multiply_adds: float | None = None
    madds_method: str = ""
    num_classes: int | None = None
    structure: Structure = field(default_factory=Structure)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["structure"]["atrous_rates"] = {
            str(k): v for k, v in self.structure.atrous_rates.items()}
        return data


def inspect_model(
    path: Path,
    fmt: str,
    *,
    input_tensor: str = "ImageTensor:0",
    output_tensor: str = "SemanticPredictions:0",
    size: int | None = None,
    default_size: int | None = None,
) -> GraphInspection:
    """Inspect a frozen graph or TF Lite model. `size` forces the input size for multiply-adds."""
    if not path.exists():
        raise ModelLoadError(f"{path}: no such model file")
    if fmt == "frozen_graph":
        return inspect_frozen_graph(path, input_tensor, output_tensor, size=size,
                                    default_size=default_size)
    if fmt == "tflite":
        return inspect_tflite(path)
    raise ModelLoadError(
        f"{path}: model cards are available for frozen graphs and TF Lite models, not {fmt!r}. "
        "Export a frozen graph (DeepLab's export_model.py) to inspect it."
    )


# --- frozen graphs ---------------------------------------------------------------------------

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


# --- TF Lite ---------------------------------------------------------------------------------

_TFLITE_KINDS = {
    "CONV_2D": "conv", "DEPTHWISE_CONV_2D": "dwconv", "FULLY_CONNECTED": "fc",
    "TRANSPOSE_CONV": "resize", "AVERAGE_POOL_2D": "pool", "MAX_POOL_2D": "pool", "MEAN": "pool",
    "RESIZE_BILINEAR": "resize", "RESIZE_NEAREST_NEIGHBOR": "resize",
    "CONCATENATION": "concat", "SPACE_TO_BATCH_ND": "s2b", "BATCH_TO_SPACE_ND": "b2s",
}


def _tflite_dilations(path: Path) -> dict[int, int]:
    """Operator index -> dilation factor, from the flatbuffer (empty if the schema is absent)."""
    try:
        from tensorflow.lite.python import schema_py_generated as schema
    except ImportError:
        return {}
    try:
        model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
        graph = model.Subgraphs(0)
        codes = [max(model.OperatorCodes(i).BuiltinCode(),
                     model.OperatorCodes(i).DeprecatedBuiltinCode())
                 for i in range(model.OperatorCodesLength())]
        rates: dict[int, int] = {}
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = codes[op.OpcodeIndex()]
            table = op.BuiltinOptions()
            if table is None:
                continue
            if code == schema.BuiltinOperator.CONV_2D:
                opts: Any = schema.Conv2DOptions()
            elif code == schema.BuiltinOperator.DEPTHWISE_CONV_2D:
                opts = schema.DepthwiseConv2DOptions()
            else:
                continue
            opts.Init(table.Bytes, table.Pos)
            rates[i] = max(opts.DilationHFactor(), opts.DilationWFactor())
        return rates
    except Exception:  # an unexpected schema version: dilations are a bonus, not a requirement
        return {}


def inspect_tflite(path: Path) -> GraphInspection:
    """Inspect a TF Lite model: tensors, ops (when the interpreter lists them), parameters."""
    import numpy as np

    from pytest_deeplab.runtime.tflite_interpreter import (
        create_interpreter,
        interpreter_package,
        read_model_bytes,
    )

    # Verified before the interpreter sees it: a damaged file must not crash the process.
    package = interpreter_package()
    runtime = package.label
    content = read_model_bytes(path, path.stem)
    interpreter = create_interpreter(package, path, content, threads=None, xnnpack=False)

    def info(d: dict[str, Any]) -> TensorInfo:
        return TensorInfo(d["name"], np.dtype(d["dtype"]).name, [int(v) for v in d["shape"]])

    details = interpreter.get_tensor_details()
    tensors = {int(d["index"]): d for d in details}
    shapes: dict[str, Sequence[int | None] | None] = {
        str(i): [int(v) for v in d["shape"]] for i, d in tensors.items()}
    inputs = [info(d) for d in interpreter.get_input_details()]
    outputs = [info(d) for d in interpreter.get_output_details()]
    notes: list[str] = []
    ops: list[dict[str, Any]] | None
    try:
        ops = [o for o in interpreter._get_ops_details() if o["op_name"] != "DELEGATE"]
    except Exception as exc:  # a private API: absent or changed in some runtimes
        ops = None
        notes.append(f"the interpreter does not list its ops ({type(exc).__name__}): no op "
                     "histogram, structure or multiply-adds")
    inspection = GraphInspection(
        format="tflite", path=str(path), file_bytes=path.stat().st_size, runtime=runtime,
        inputs=inputs, outputs=outputs, op_histogram=None, tensor_count=len(details),
        notes=notes,
    )
    size = inputs[0].shape[1] if inputs and inputs[0].shape and len(inputs[0].shape) == 4 else None
    inspection.crop_size = size
    inspection.crop_source = "the input tensor's shape"
    inspection.measured_size = size
    if ops is None:
        return inspection

    inspection.op_histogram = dict(Counter(o["op_name"] for o in ops).most_common())
    inspection.node_count = len(ops)
    dilations = _tflite_dilations(path)
    graph_inputs = {int(d["index"]) for d in interpreter.get_input_details()}
    produced = {int(i) for o in ops for i in o["outputs"]}
    constants = {int(i) for o in ops for i in o["inputs"]
                 if i >= 0 and int(i) not in produced and int(i) not in graph_inputs}
    breakdown: Counter[str] = Counter()
    for i in constants:
        if np.dtype(tensors[i]["dtype"]).kind != "f":
            continue
        role = "other constants"
        for o in ops:
            ins = [int(v) for v in o["inputs"]]
            if i in ins and _TFLITE_KINDS.get(o["op_name"]) in ("conv", "dwconv", "fc"):
                role = "filters" if ins.index(i) == 1 else "biases"
                break
        breakdown[role] += int(np.prod(tensors[i]["shape"])) if len(tensors[i]["shape"]) else 1
    inspection.parameters = sum(breakdown.values())
    inspection.parameter_breakdown = dict(breakdown)

    nodes: list[NetNode] = []
    madds = 0
    for o in ops:
        name, index = str(o["op_name"]), int(o["index"])
        kind = _TFLITE_KINDS.get(name, "other")
        ins = [int(v) for v in o["inputs"] if v >= 0]
        outs = [int(v) for v in o["outputs"]]
        data = [i for i in ins if i not in constants]
        if kind != "concat":
            data = data[:1]
        rate = dilations.get(index, 1)
        if kind == "s2b" and len(ins) > 1:
            try:
                rate = int(np.max(interpreter.get_tensor(ins[1])))
            except ValueError:
                rate = 1
        nodes.append(NetNode(f"{name}#{index}", name, kind, [str(i) for i in data],
                             [str(i) for i in outs], rate))
        madds += _tflite_madds(name, ins, outs, tensors)
    inspection.multiply_adds = float(madds)
    inspection.madds_method = "conv/fc multiply-adds from tensor shapes"
    inspection.structure = analyse_structure(nodes, shapes)
    last = [n for n in nodes if n.kind in CONV_KINDS]
    if last:
        shape = shapes.get(last[-1].outputs[0])
        inspection.num_classes = int(shape[-1]) if shape and shape[-1] else None
    return inspection


def _tflite_madds(op: str, ins: list[int], outs: list[int], tensors: dict[int, Any]) -> int:
    if len(ins) < 2 or not outs:
        return 0

    def shape(i: int) -> list[int]:
        return [int(v) for v in tensors[i]["shape"]]

    out = shape(outs[0])
    if op == "CONV_2D":  # filter [cout, kh, kw, cin]
        _, kh, kw, cin = shape(ins[1])
        return math.prod(out) * kh * kw * cin
    if op == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, cout]
        _, kh, kw, _ = shape(ins[1])
        return math.prod(out) * kh * kw
    if op == "FULLY_CONNECTED":  # filter [units, inputs]
        units, depth = shape(ins[1])[:2]
        return math.prod(out) // max(units, 1) * units * depth
    if op == "TRANSPOSE_CONV" and len(ins) > 2:  # (output_shape, filter [cout,kh,kw,cin], x)
        cout, kh, kw, _ = shape(ins[1])
        return math.prod(shape(ins[2])) * kh * kw * cout
    return 0


def format_count(value: float | None, unit: str = "") -> str:
    """2831239928 -> '2.83 B', 1.2e6 -> '1.20 M'."""
    if value is None:
        return "-"
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {suffix}{unit}"
    return f"{value:.0f}{unit}"


def describe_rates(rates: dict[int, int]) -> str:
    return ", ".join(f"{r} (x{n})" for r, n in rates.items()) if rates else "none"
