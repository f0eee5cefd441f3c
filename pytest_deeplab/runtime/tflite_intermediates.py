"""TF Lite intermediates: every float (or dequantized) tensor of one invocation on one image.

The interpreter is built with `experimental_preserve_all_tensors=True`, so after one `invoke`
every intermediate tensor still holds its value (TF Lite otherwise reuses their memory). That
interpreter holds all activations by design; `dump` still writes them a chunk at a time so the
comparing side never holds more than one pair. Quantized tensors are dequantized with their own
scale and zero point (per channel where the file says so).

Input: DeepLab's export convention, as the frozen graph does inside itself: the image (already
demo-resized, larger sides shrunk to fit) is scaled to [-1, 1] and padded bottom/right with 0 (the
mean) to the model's input size; quantized inputs get that value quantized. The mask is the arg-max
of the output over the image region, resized back to the image (nearest), so it can be compared
pixel for pixel with a frozen graph's mask. XNNPACK (TF Lite's default CPU delegate) can be
switched off, since it changes numerics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pytest_deeplab.data.images import demo_resize
from pytest_deeplab.runtime.base import ModelLoadError, to_mask
from pytest_deeplab.runtime.intermediate_records import TensorRecord, save_array
from pytest_deeplab.runtime.tflite_interpreter import (
    create_interpreter,
    interpreter_package,
)


def _interpreter(
    path: Path, threads: int | None, xnnpack: bool, allow_ops: tuple[str, ...]
) -> tuple[Any, str]:
    """Loaded as the suite loads it (from bytes, verified, a damaged file refused, the op
    allowlist checked first), with every intermediate tensor kept readable."""
    from pytest_deeplab.runtime.safety.check import checked_tflite_bytes

    package = interpreter_package()
    data = checked_tflite_bytes(path, None, allow_ops)
    interpreter = create_interpreter(package, path, data, threads, xnnpack,
                                     preserve_all_tensors=True)
    return interpreter, package.label


def dequantize(value: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
    """Real values of a quantized tensor; float tensors are returned as they are."""
    params = detail.get("quantization_parameters") or {}
    scales = np.asarray(params.get("scales", []), dtype=np.float32)
    if value.dtype.kind == "f" or scales.size == 0:
        return value
    zero_points = np.asarray(params.get("zero_points", [0]), dtype=np.float32)
    if scales.size > 1:  # per channel
        shape = [1] * value.ndim
        shape[int(params.get("quantized_dimension", 0))] = scales.size
        scales, zero_points = scales.reshape(shape), zero_points.reshape(shape)
    return ((value.astype(np.float32) - zero_points) * scales).astype(np.float32)


def _is_real(detail: dict[str, Any]) -> bool:
    """Float tensors, and integer tensors that carry a quantization scale."""
    if np.dtype(detail["dtype"]).kind == "f":
        return True
    params = detail.get("quantization_parameters") or {}
    return len(params.get("scales", [])) > 0


class TFLiteIntermediates:
    """One TF Lite model invoked once on one image, all tensors preserved."""

    def __init__(
        self, path: Path, threads: int | None, image: np.ndarray, xnnpack: bool,
        allow_ops: tuple[str, ...] = (),
    ) -> None:
        self.interpreter, self.runtime = _interpreter(path, threads, xnnpack, allow_ops)
        self.xnnpack = xnnpack
        (inp,) = self.interpreter.get_input_details()
        self._output = self.interpreter.get_output_details()[0]
        self.input_name = str(inp["name"])
        x, self._region = self._input(image, inp)
        self._image_hw = image.shape[:2]
        self.interpreter.set_tensor(inp["index"], x)
        self.interpreter.invoke()
        self.details = {int(d["index"]): d for d in self.interpreter.get_tensor_details()}
        self.records, self._index = self._computed_tensors(int(inp["index"]))

    def _input(self, image: np.ndarray, detail: dict[str, Any]) -> tuple[np.ndarray, Any]:
        _, height, width, _ = (int(v) for v in detail["shape"])
        if image.shape[0] > height or image.shape[1] > width:
            image = demo_resize(image, min(height, width))
        h, w = image.shape[:2]
        x = np.zeros((1, height, width, 3), np.float32)
        x[0, :h, :w] = image.astype(np.float32) / 127.5 - 1.0
        dtype = np.dtype(detail["dtype"])
        if dtype.kind in "iu":
            scale, zero_point = detail["quantization"]
            if not scale:
                raise ModelLoadError(f"input {detail['name']} is {dtype.name} without a scale")
            info = np.iinfo(dtype)
            x = np.clip(np.round(x / scale + zero_point), info.min, info.max)
        return x.astype(dtype), (h, w)

    def _computed_tensors(self, input_index: int) -> tuple[list[TensorRecord], dict[str, int]]:
        """The input and every op output that depends on it, in execution order."""
        dependent = {input_index}
        order = [(input_index, self.input_name, "INPUT")]
        for op in self.interpreter._get_ops_details():  # the model's ops, in execution order
            if op["op_name"] == "DELEGATE":  # delegate nodes stand in for ops listed already
                continue
            if not any(int(i) in dependent for i in op["inputs"] if i >= 0):
                continue
            for out in op["outputs"]:
                dependent.add(int(out))
                order.append((int(out), str(self.details[int(out)]["name"]), op["op_name"]))
        records, index = [], {}
        for tensor_index, name, op_type in order:
            detail = self.details[tensor_index]
            if not _is_real(detail) or name in index:
                continue
            shape = [int(v) for v in detail["shape"]]
            itemsize = np.dtype(detail["dtype"]).itemsize if np.dtype(
                detail["dtype"]).kind == "f" else 4
            records.append(TensorRecord(
                name=name, op=name, type=op_type, dtype=np.dtype(detail["dtype"]).name,
                shape=shape, bytes=int(np.prod(shape, dtype=np.int64)) * itemsize))
            index[name] = tensor_index
        return records, index

    def dump(self, names: list[str], folder: Path) -> list[dict[str, Any]]:
        position = {r.name: i for i, r in enumerate(self.records)}
        written = []
        for name in names:
            detail = self.details[self._index[name]]
            value = dequantize(self.interpreter.get_tensor(self._index[name]), detail)
            written.append({"name": name, "file": save_array(folder, position[name], value),
                            "shape": list(value.shape)})
        return written

    def mask(self) -> np.ndarray:
        out = self.interpreter.get_tensor(self._output["index"])[0]
        h, w = self._region
        mask: np.ndarray
        if out.ndim == 3:  # logits (float or quantized: the arg-max is the same)
            mask = np.asarray(out[:h, :w].argmax(axis=-1), dtype=np.uint8)
        else:
            mask = to_mask(np.asarray(out[:h, :w]))
        ih, iw = self._image_hw
        if mask.shape != (ih, iw):
            mask = np.asarray(Image.fromarray(mask).resize((iw, ih), Image.Resampling.NEAREST))
        return mask

    def describe(self) -> dict[str, Any]:
        return {"format": "tflite", "runtime": self.runtime, "xnnpack": self.xnnpack,
                "input": self.input_name, "output": str(self._output["name"]),
                "logits": self._logits()}

    def _logits(self) -> str | None:
        """The output when it holds logits, else the input of the ARG_MAX that makes it."""
        if len(self._output["shape"]) == 4:
            return str(self._output["name"])
        for op in self.interpreter._get_ops_details():
            if op["op_name"] == "ARG_MAX" and int(self._output["index"]) in op["outputs"]:
                return str(self.details[int(op["inputs"][0])]["name"])
        return None

    def close(self) -> None:
        del self.interpreter
