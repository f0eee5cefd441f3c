"""Model cards of Keras 3 `.keras` models: the same rules as for graphs and TF Lite files.

The model is loaded through `KerasPredictor` (so the config check runs first and safe_mode is
on), its layers are described as `NetNode`s for `analyse_structure` (output stride, atrous rates,
ASPP, decoder), and multiply-adds are counted as for frozen graphs: the model traced at a fixed
[1, N, N, 3], its variables made constants, TensorFlow's profiler's float ops / 2.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from pytest_deeplab.modelcard.structure import (
    GraphInspection,
    NetNode,
    TensorInfo,
    analyse_structure,
)
from pytest_deeplab.runtime.formats.keras_predictor import KerasPredictor

LAYER_KINDS = {
    "Conv2D": "conv", "SeparableConv2D": "conv", "Conv2DTranspose": "conv",
    "DepthwiseConv2D": "dwconv", "Dense": "fc", "GlobalAveragePooling2D": "pool",
    "GlobalMaxPooling2D": "pool", "AveragePooling2D": "pool", "MaxPooling2D": "pool",
    "UpSampling2D": "resize", "Resizing": "resize", "Concatenate": "concat",
}


def inspect_keras(path: Path, *, size: int | None = None, default_size: int | None = None,
                  allow_ops: tuple[str, ...] = ()) -> GraphInspection:
    """Measure a .keras file for its model card; `size` sets an any-size model's probe size."""
    predictor = KerasPredictor(path.stem, path, allow_ops=allow_ops)
    model = predictor.model
    try:
        fixed = predictor.input_size
        probe = fixed or size or default_size or 513
        record = predictor.runtime_record()
        inp, out = model.inputs[0], model.outputs[0]
        inspection = GraphInspection(
            format="keras", path=str(path), file_bytes=path.stat().st_size,
            runtime=f"Keras {record['keras']} ({record['keras_backend']} backend)",
            inputs=[TensorInfo(inp.name, str(inp.dtype), list(inp.shape))],
            outputs=[TensorInfo(model.layers[-1].name, str(out.dtype), list(out.shape))],
            op_histogram=dict(Counter(type(layer).__name__ for layer in model.layers)
                              .most_common()),
            node_count=len(model.layers), parameters=int(model.count_params()),
            crop_size=fixed, crop_source="the model's input shape" if fixed else "",
            measured_size=probe, multiply_adds=_multiply_adds(model, probe),
            madds_method="tf.compat.v1.profiler float ops / 2 (the model traced at a fixed size)",
            num_classes=int(out.shape[-1]) if predictor.output_kind == "logits" else None)
        if fixed:  # layer shapes are static only when the input size is
            inspection.structure = analyse_structure(*_net_nodes(model))
        return inspection
    finally:
        predictor.close()


def _net_nodes(model: Any) -> tuple[list[NetNode], dict[str, Any]]:
    """One node per layer (nested models count as "other"), shapes with the batch set to 1."""
    nodes, shapes = [], {}
    for layer in model.layers:
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        kind = LAYER_KINDS.get(type(layer).__name__, "other")
        rate = max(getattr(layer, "dilation_rate", None) or (1,))
        nodes.append(NetNode(layer.name, type(layer).__name__, kind,
                             [t.name for t in (inputs if kind == "concat" else inputs[:1])],
                             [layer.output.name], int(rate)))
        for tensor in [*inputs, layer.output]:
            shapes[tensor.name] = [1, *list(tensor.shape)[1:]]
    return nodes, shapes


def _multiply_adds(model: Any, size: int) -> float | None:
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    try:
        function = tf.function(lambda x: model(x, training=False))
        frozen = convert_variables_to_constants_v2(function.get_concrete_function(
            tf.TensorSpec([1, size, size, 3], tf.float32)))
        options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
        options["output"] = "none"
        profile = tf.compat.v1.profiler.profile(frozen.graph, options=options)
    except (ValueError, TypeError, tf.errors.OpError):
        return None  # a backend or layer the tracer cannot fix at this size: no figure
    return float(profile.total_float_ops // 2)
