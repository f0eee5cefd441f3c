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

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

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


# --- frozen graphs ---------------------------------------------------------------------------


# --- TF Lite ---------------------------------------------------------------------------------


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
