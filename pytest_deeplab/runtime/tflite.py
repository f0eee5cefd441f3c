"""TF Lite DeepLab models (e.g. the official deeplabv3_257_mv_gpu.tflite).

These take a fixed-size float input scaled to [-1, 1] and return per-class logits; the argmax is
the mask. The interpreter comes from `ai_edge_litert` when installed (tf.lite.Interpreter is
deprecated in recent TensorFlow), else from `tf.lite`.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from pytest_deeplab.runtime.base import ModelLoadError, to_mask
from pytest_deeplab.runtime.tf import import_tensorflow


def _interpreter_class() -> tuple[Any, str]:
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        tf = import_tensorflow()
        return tf.lite.Interpreter, f"tf.lite (TensorFlow {tf.__version__})"
    return Interpreter, "ai_edge_litert"


class TFLitePredictor:
    """A TF Lite interpreter behind `predict`: resize to the model's input, argmax, resize back."""

    def __init__(self, name: str, path: Path, threads: int | None) -> None:
        self.name = name
        self.path = str(path)
        interpreter_class, self.runtime = _interpreter_class()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # tf.lite's deprecation notice
            try:
                self.interpreter = interpreter_class(model_path=str(path), num_threads=threads)
                self.interpreter.allocate_tensors()
            except (ValueError, RuntimeError) as exc:
                raise ModelLoadError(
                    f"{path}: not a loadable TF Lite model ({exc}). Is it truncated or corrupt?"
                ) from None
        (self._input,) = self.interpreter.get_input_details()
        self._output = self.interpreter.get_output_details()[0]
        _, self.height, self.width, _ = (int(v) for v in self._input["shape"])

    def predict(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        resized = Image.fromarray(image).resize(
            (self.width, self.height), Image.Resampling.BILINEAR
        )
        x = np.asarray(resized, dtype=np.float32)[np.newaxis] / 127.5 - 1.0
        self.interpreter.set_tensor(self._input["index"], x.astype(self._input["dtype"]))
        self.interpreter.invoke()
        out = self.interpreter.get_tensor(self._output["index"])[0]
        mask = out.argmax(axis=-1).astype(np.uint8) if out.ndim == 3 else to_mask(out)
        if mask.shape != (h, w):
            mask = np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.NEAREST))
        return mask

    def describe(self) -> dict[str, Any]:
        return {
            "format": "tflite",
            "runtime": self.runtime,
            "input": f"{self._input['name']} {[int(v) for v in self._input['shape']]} "
            f"{np.dtype(self._input['dtype']).name}",
            "output": f"{self._output['name']} {[int(v) for v in self._output['shape']]} "
            f"{np.dtype(self._output['dtype']).name}",
        }

    def close(self) -> None:
        del self.interpreter
