"""The Keras predictor: a checked .keras file behind `predict(image) -> mask`."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.base import ModelLoadError, to_mask
from pytest_deeplab.runtime.fitting import (
    RESIZE_MODES,
    Placement,
    mask_back,
    placement,
    resized_image,
)
from pytest_deeplab.runtime.formats.keras_safety import FIX, check_keras_file

SCALING = {"deeplab": (127.5, -1.0), "unit": (255.0, 0.0), "none": (1.0, 0.0)}  # x / a + b
NORMALIZE_MODES = tuple(SCALING)
NORMALIZE_HELP = ('"deeplab" (x / 127.5 - 1, DeepLab\'s [-1, 1]), "unit" (x / 255) or "none" '
                  "(the raw 0..255 values as float32)")

def input_table(normalize: str) -> tuple[np.ndarray, float]:
    """What each RGB byte becomes (float32, divided as DeepLab's graphs divide), and the
    padding: the mean pixel, 127.5, scaled the same way."""
    divisor, offset = SCALING[normalize]
    table = np.arange(256, dtype=np.float32) / np.float32(divisor) + np.float32(offset)
    return table, 127.5 / divisor + offset


# -- the predictor -----------------------------------------------------------------------------

class KerasPredictor:
    """A checked .keras model behind `predict(image) -> mask`, the mask at the image's size."""

    def __init__(self, name: str, path: Path, *, threads: int | None = None,
                 normalize: str = "deeplab", resize: str = "pad", label_set: str | None = None,
                 num_classes: int | None = None, allow_ops: Sequence[str] = ()) -> None:
        self.name = name
        self.path = str(path)
        if normalize not in SCALING or resize not in RESIZE_MODES:
            raise ModelLoadError(f"{name}: normalize must be {NORMALIZE_HELP} (got {normalize!r})"
                                 f" and resize one of {', '.join(RESIZE_MODES)} (got {resize!r})")
        self.normalize, self.resize, self.threads = normalize, resize, threads
        if path.suffix != ".keras":
            raise ModelLoadError(f"{path}: a Keras model file must end in .keras (Keras reads "
                                 "other names as legacy formats); rename it or re-save it")
        self.safety = check_keras_file(path, name, allow_ops)  # before Keras is imported
        self.model, self.threads_applied = _load(path, threads)
        self._keras = sys.modules["keras"]
        self.input_hw, self.output_kind = _signature(self.model, path, name, label_set,
                                                     num_classes)
        self.input_size = max(self.input_hw) if self.input_hw else None
        self._table, self._pad = input_table(self.normalize)

    def predict(self, image: np.ndarray) -> np.ndarray:
        batch, place = self.batch(image)
        return self.mask_of(np.asarray(self.model.predict_on_batch(batch))[0], batch, place)

    def batch(self, image: np.ndarray) -> tuple[np.ndarray, Placement]:
        """The model's input for one image (normalised, padded or stretched), and its place."""
        if self.input_hw is None:  # any size: the image as it is
            return np.take(self._table, image)[np.newaxis], Placement(image.shape[:2],
                                                                        image.shape[:2])
        place = placement(image.shape[:2], self.input_hw, self.resize)
        fitted = resized_image(image, place.region_hw)
        batch = np.full((1, *self.input_hw, 3), self._pad, dtype=np.float32)
        batch[0, :fitted.shape[0], :fitted.shape[1]] = np.take(self._table, fitted)
        return batch, place

    def mask_of(self, out: np.ndarray, batch: np.ndarray, place: Placement) -> np.ndarray:
        """The mask at the image's size from the model's output for `batch`."""
        ids = to_mask(out.argmax(axis=-1)) if self.output_kind == "logits" else _ids(out)
        full_hw = batch.shape[1:3]
        if ids.shape != full_hw:  # e.g. logits at the output stride
            ids = mask_back(ids, Placement(full_hw, ids.shape))
        rh, rw = place.region_hw
        return mask_back(np.ascontiguousarray(ids[:rh, :rw]), place)

    def runtime_record(self) -> dict[str, Any]:
        """What makes this model's masks and timings comparable (goldens, benchmarks)."""
        return {"format": "keras", "keras": str(self._keras.__version__),
                "keras_backend": str(self._keras.backend.backend()), "threads": self.threads,
                "threads_applied": self.threads_applied,
                "normalize": self.normalize, "resize": self.resize,
                "input_size": self.input_size}

    def describe(self) -> dict[str, Any]:
        inp, out = self.model.inputs[0], self.model.outputs[0]
        out_name = self.model.layers[-1].name if self.model.layers else out.name
        return {"input": f"{inp.name} ({inp.dtype}, {list(inp.shape)})",
                "output": f"{out_name} ({out.dtype}, {list(out.shape)}) ({self.output_kind})",
                "layers": len(self.model.layers), **self.runtime_record()}

    def close(self) -> None:
        del self.model


def _load(path: Path, threads: int | None) -> tuple[Any, bool]:
    """The model, and whether `threads` took effect (TensorFlow fixes its pools once)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError as exc:
        raise ModelLoadError(f"{path}: Keras 3 is not importable ({exc}); `pip install keras` "
                             "(TensorFlow 2.16 and later bring it)") from None
    if not str(keras.__version__).startswith(tuple("3456789")):
        raise ModelLoadError(f"{path}: .keras files of Keras 3 need Keras 3; this environment has "
                             f"Keras {keras.__version__} (TensorFlow before 2.16 brings Keras 2). "
                             "`pip install \"keras>=3\"` or a TensorFlow from 2.16 on.")
    applied = False
    if threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised by an earlier model in this process
            pass
        applied = tf.config.threading.get_intra_op_parallelism_threads() == threads
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False), applied
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError, KeyError...
        lambda_hint = f"\n{FIX}" if "lambda" in str(exc).lower() else ""
        raise ModelLoadError(f"{path}: Keras {keras.__version__} cannot load this model "
                             f"({type(exc).__name__}: {exc}){lambda_hint}") from None


def _signature(model: Any, path: Path, name: str, label_set: str | None,
               num_classes: int | None) -> tuple[tuple[int, int] | None, str]:
    """(fixed input height and width or None, "logits" | "ids") from the model's own shapes."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelLoadError(f"{path}: expected one image input and one output, found "
                             f"{len(model.inputs)} input(s) and {len(model.outputs)} output(s)")
    in_shape, out_shape = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(in_shape) != 4 or in_shape[3] != 3:
        raise ModelLoadError(f"{path}: the input must be [batch, height, width, 3] (RGB, "
                             f"channels last), not {list(in_shape)}")
    h, w = in_shape[1], in_shape[2]
    if (h is None) != (w is None):
        raise ModelLoadError(f"{path}: the input fixes one side only ({list(in_shape)}); fix "
                             "both or neither")
    if len(out_shape) == 3 or (len(out_shape) == 4 and out_shape[3] == 1):
        return (None if h is None else (int(h), int(w))), "ids"
    if len(out_shape) != 4:
        raise ModelLoadError(f"{path}: the output must be logits [1, H, W, C] or class ids "
                             f"[1, H, W] / [1, H, W, 1], not {list(out_shape)}")
    classes = out_shape[3]
    if num_classes is not None and classes is not None and classes != num_classes:
        raise ModelLoadError(
            f"{path}: the model scores {classes} classes (its output has {classes} logits "
            f"channels) but its label set {label_set!r} has {num_classes}. Set label_set in "
            f"[tool.pytest-deeplab.models.{name}] to the set the model was trained on.")
    return (None if h is None else (int(h), int(w))), "logits"


def _ids(values: np.ndarray) -> np.ndarray:
    """Class ids of a [H, W] or [H, W, 1] output (floats that hold whole numbers are fine)."""
    if values.ndim == 3:
        values = values[..., 0]
    if values.dtype.kind == "f":
        values = np.rint(values)
    return to_mask(values)
