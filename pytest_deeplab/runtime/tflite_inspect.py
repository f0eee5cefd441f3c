"""Inspect a TF Lite model: tensors, op histogram, multiply-adds summed from tensor shapes, and
dilations read from the flatbuffer. Imports TensorFlow (or LiteRT)."""

from __future__ import annotations

import math
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
