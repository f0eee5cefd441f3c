"""TF Lite intermediates: every float (or dequantized) tensor of one invocation on one image.

The interpreter is built with `experimental_preserve_all_tensors=True`, so after one `invoke`
every intermediate tensor still holds its value (TF Lite otherwise reuses their memory). That
interpreter holds all activations by design; `dump` still writes them a chunk at a time so the
comparing side never holds more than one pair. Quantized tensors are dequantized with their own
scale and zero point (per channel where the file says so).

Input and output are the suite's own (runtime.tflite.TFLitePredictor runs the invocation): the
same quantization of the input, the same padding or stretching, logits or class ids of any
shape read the same way, so explain's mask is the suite's. XNNPACK (TF Lite's default CPU
delegate) can be switched off, since it changes numerics.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.data.images import demo_resize
from pytest_deeplab.runtime.intermediate_records import TensorRecord, save_array


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
    """One TF Lite model invoked once on one image by the suite's own predictor, all tensors
    preserved: its input and output handling (quantization, padding, class ids or logits) is the
    suite's, so explain's mask is the mask the suite checks."""

    def __init__(
        self, path: Path, threads: int | None, image: np.ndarray, xnnpack: bool,
        allow_ops: tuple[str, ...] = (), *, input_tensor: str | None = None,
        output_tensor: str | None = None, resize: str = "pad",
    ) -> None:
        from pytest_deeplab.runtime.tflite import TFLitePredictor

        self.predictor = TFLitePredictor(
            path.stem, path, input_tensor=input_tensor, output_tensor=output_tensor,
            threads=threads, xnnpack=xnnpack, resize=resize, allow_ops=allow_ops,
            preserve_all_tensors=True)
        self.interpreter, self.runtime = self.predictor.interpreter, self.predictor.runtime
        self.xnnpack = xnnpack
        self.input_name = self.predictor.input.name
        size = self.predictor.input_size
        if size and max(image.shape[:2]) > size:  # as the suite resizes to the file's size
            image = demo_resize(image, size)
        self._mask = self.predictor.predict(image)
        self.details = {int(d["index"]): d for d in self.interpreter.get_tensor_details()}
        self.records, self._index = self._computed_tensors(self.predictor.input.index)

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
        return self._mask

    def describe(self) -> dict[str, Any]:
        return {"format": "tflite", "runtime": self.runtime, "xnnpack": self.xnnpack,
                "input": self.input_name, "output": self.predictor.output.name,
                "logits": self._logits()}

    def _logits(self) -> str | None:
        """The output when it holds logits, else the input of the ARG_MAX that makes it."""
        output = self.predictor.output
        if output.kind == "logits":
            return output.name
        for op in self.interpreter._get_ops_details():
            if op["op_name"] == "ARG_MAX" and output.index in op["outputs"]:
                return str(self.details[int(op["inputs"][0])]["name"])
        return None

    def close(self) -> None:
        del self.interpreter
