"""Small real TF Lite files, made by TensorFlow's own converter, for the runtime tests.

One tiny segmentation network (a colour classifier: each pixel goes to the class whose colour
is nearest, plus a faint learned-looking texture term so that quantization has something to
round) converted every way the runtime must handle: float in / logits out, uint8 in / ArgMax
int64 out (Coral's shape), int32 ArgMax, int8 logits, fp16 weights, dynamic-range weights, two
plausible outputs, and an Edge TPU build (the float model with one op turned into the Edge TPU
custom op, as Coral's compiler leaves it). Inputs are [1, SIZE, SIZE, 3] in [-1, 1] (DeepLab's
RGB / 127.5 - 1) before quantization.

`reference_mask` is the plain pipeline a user would write against tf.lite, used as the
expected value: it shares no code with pytest_deeplab.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

SIZE = 65
CLASSES = 6
# Class colours in RGB: background, red, green, blue, yellow, grey.
COLOURS = np.array([[0, 0, 0], [220, 30, 30], [30, 200, 40], [40, 60, 220], [230, 220, 40],
                    [128, 128, 128]], dtype=np.float64)


def _weights() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20261202)
    hidden = 48  # 3x3x3x48 = 1296 weights: enough for dynamic-range quantization to take them
    conv = rng.normal(0.0, 0.02, (3, 3, 3, hidden))
    conv[1, 1, :, :3] = np.eye(3)  # the centre tap passes the pixel through to channels 0-2
    bias = np.zeros(hidden)
    centres = COLOURS / 127.5 - 1.0
    head = rng.normal(0.0, 0.02, (1, 1, hidden, CLASSES))
    head[0, 0, :3, :] = 2.0 * centres.T  # -|x - c|^2 = 2 c.x - |c|^2 + (the same |x|^2 for all)
    head_bias = -(centres**2).sum(axis=1)
    return conv, bias, head, head_bias


def _network(tf: Any, outputs: str) -> Any:
    conv, bias, head, head_bias = (tf.constant(w, tf.float32) for w in _weights())

    @tf.function(input_signature=[tf.TensorSpec([1, SIZE, SIZE, 3], tf.float32, name="image")])
    def network(image: Any) -> Any:
        hidden = tf.nn.conv2d(image, conv, 1, "SAME") + bias
        logits = tf.nn.conv2d(hidden, head, 1, "SAME") + head_bias
        if outputs == "logits":
            return {"logits": logits}
        if outputs == "argmax64":
            return {"class_ids": tf.argmax(logits, axis=-1, output_type=tf.int64)}
        if outputs == "argmax32":
            return {"class_ids": tf.argmax(logits, axis=-1, output_type=tf.int32)}
        if outputs == "argmax_hw1":  # [1, H, W, 1] class ids, as some exporters leave them
            return {"class_ids": tf.expand_dims(
                tf.argmax(logits, axis=-1, output_type=tf.int32), -1)}
        return {"logits": logits, "class_ids": tf.argmax(logits, axis=-1, output_type=tf.int64)}

    return network


def calibration_images() -> Iterator[list[np.ndarray]]:
    rng = np.random.default_rng(7)
    for _ in range(16):
        rgb = COLOURS[rng.integers(0, CLASSES, (SIZE, SIZE))] + rng.normal(0, 20, (SIZE, SIZE, 3))
        yield [(np.clip(rgb, 0, 255) / 127.5 - 1.0)[np.newaxis].astype(np.float32)]


KINDS = ("float", "uint8_argmax64", "float_argmax32", "int8_logits", "fp16", "dynamic_range",
         "two_outputs", "edgetpu", "int8_float_input", "float_argmax_hw1")


def convert(tf: Any, kind: str) -> bytes:
    """One conversion of the network (see the module docstring for the kinds)."""
    outputs = {"uint8_argmax64": "argmax64", "float_argmax32": "argmax32",
               "float_argmax_hw1": "argmax_hw1",
               "two_outputs": "both", "int8_float_input": "argmax64"}.get(kind, "logits")
    network = _network(tf, outputs)
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [network.get_concrete_function()], network)
    if kind in ("uint8_argmax64", "int8_logits", "int8_float_input"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = calibration_images
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if kind != "int8_float_input":  # that one quantizes its float input in the graph
            converter.inference_input_type = tf.uint8 if kind == "uint8_argmax64" else tf.int8
        if kind == "int8_logits":
            converter.inference_output_type = tf.int8
    elif kind == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif kind == "dynamic_range":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data: bytes = converter.convert()
    return as_edgetpu_build(data) if kind == "edgetpu" else data


def as_edgetpu_build(data: bytes) -> bytes:
    """The model with its first op replaced by Coral's Edge TPU custom op."""
    import flatbuffers
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
    code.customCode = "edgetpu-custom-op"
    code.version = 1
    model.operatorCodes.append(code)
    model.subgraphs[0].operators[0].opcodeIndex = len(model.operatorCodes) - 1
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def build_all(tf: Any, folder: Path) -> dict[str, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for kind in KINDS:
        path = folder / f"tiny_{kind}.tflite"
        path.write_bytes(convert(tf, kind))
        paths[kind] = path
    return paths


def plain_interpreter(tf: Any, path: Path, xnnpack: bool = True) -> Any:
    resolver = tf.lite.experimental.OpResolverType
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(
            model_path=str(path),
            experimental_op_resolver_type=resolver.AUTO if xnnpack
            else resolver.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    return interpreter


def reference_mask(tf: Any, path: Path, image: np.ndarray, output: str | None = None,
                   xnnpack: bool = True) -> np.ndarray:
    """What a user's script does: pad the (already fitted) image bottom/right to the input
    size with the mean, scale to [-1, 1], quantize by the input's scale and zero point if it
    has them, invoke, take class ids (arg-max of logits), crop to the image."""
    interpreter = plain_interpreter(tf, path, xnnpack)
    (inp,) = interpreter.get_input_details()
    outs = interpreter.get_output_details()
    out = next(o for o in outs if output is None or o["name"] == output)
    h, w = image.shape[:2]
    _, height, width, _ = inp["shape"]
    normalized = np.zeros((1, height, width, 3), dtype=np.float32)
    normalized[0, :h, :w] = image.astype(np.float32) / np.float32(127.5) - np.float32(1)
    scale, zero_point = inp["quantization"]
    if scale:  # as TF Lite's QUANTIZE op: times the float32 reciprocal, half to even
        info = np.iinfo(inp["dtype"])
        quantized = np.rint(normalized * (np.float32(1) / np.float32(scale))) + zero_point
        interpreter.set_tensor(inp["index"], np.clip(quantized, info.min, info.max)
                               .astype(inp["dtype"]))
    else:
        interpreter.set_tensor(inp["index"], normalized.astype(inp["dtype"]))
    interpreter.invoke()
    result = interpreter.get_tensor(out["index"])[0]
    if result.ndim == 3 and len(out["shape"]) == 4:
        result = result.argmax(axis=-1)
    return result[:h, :w].astype(np.uint8)


def scene(height: int, width: int, seed: int = 0) -> np.ndarray:
    """An RGB image of coloured blocks with noise: every class appears, edges everywhere."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, CLASSES, (max(1, height // 9) + 1, max(1, width // 9) + 1))
    labels = np.kron(blocks, np.ones((9, 9), dtype=int))[:height, :width]
    rgb = COLOURS[labels] + rng.normal(0, 18, (height, width, 3))
    return np.clip(rgb, 0, 255).astype(np.uint8)
