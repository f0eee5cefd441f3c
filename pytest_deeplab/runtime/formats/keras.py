"""Keras 3 `.keras` models: checked as data first (keras_safety.py), then loaded with safe_mode
(keras_predictor.py); this module imports neither of them, nor numpy, until a model is used.

Loading is `keras.saving.load_model(path, safe_mode=True, compile=False)`, never with safe_mode
off, and only after the file's config.json passed its allowlist. The input is normalised per
model (`normalize`): "deeplab" x/127.5-1 (DeepLab's, the default), "unit" x/255, "none" the raw
values as float32. A fixed input size is met as TF Lite's is (runtime.fitting: the image padded
with the mean, the mask cropped back); a model whose height and width are None takes the image
as it is. The output is logits [1, H, W, C] (arg-max) or class ids [1, H, W] / [1, H, W, 1].
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.formats.base import LoadRequest, ModelFormat


class KerasFormat(ModelFormat):
    """Keras 3 `.keras` files (a zip: config.json, metadata.json, model.weights.h5)."""

    name = "keras"
    label = "Keras 3"
    suffixes = (".keras",)
    size_from_file = True  # a fixed input shape in the model, else input_size must be set
    own_keys = ("normalize",)
    explainable = True

    def read_settings(self, table: Mapping[str, Any]) -> dict[str, Any]:
        """`normalize = "deeplab" | "unit" | "none"`: how 0..255 RGB becomes the model's input."""
        if "normalize" not in table:
            return {}
        from pytest_deeplab.runtime.formats.keras_predictor import NORMALIZE_HELP, NORMALIZE_MODES

        if table["normalize"] not in NORMALIZE_MODES:
            raise ValueError(f"normalize must be {NORMALIZE_HELP}, got {table['normalize']!r}")
        return {"normalize": table["normalize"]}

    def safety_report(self, path: Path, allow_ops: Sequence[str] = ()) -> Any:
        from pytest_deeplab.runtime.formats.keras_safety import keras_report

        return keras_report(path, allow_ops)

    def load(self, request: LoadRequest) -> Any:
        from pytest_deeplab.runtime.formats.keras_predictor import KerasPredictor

        return KerasPredictor(
            request.name, request.path, threads=request.threads,
            normalize=str(request.settings.get("normalize", "deeplab")), resize=request.resize,
            label_set=request.label_set, num_classes=request.num_classes,
            allow_ops=request.allow_ops)

    def inspect(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                size: int | None, default_size: int | None) -> Any:
        from pytest_deeplab.runtime.formats.keras_inspect import inspect_keras

        return inspect_keras(path, size=size, default_size=default_size)

    def intermediates(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                      threads: int | None, image: Any, xnnpack: bool, unfused: bool,
                      allow_ops: tuple[str, ...], settings: Mapping[str, Any] | None = None
                      ) -> Any:
        from pytest_deeplab.runtime.formats.keras_intermediates import KerasIntermediates

        normalize = str((settings or {}).get("normalize", "deeplab"))
        return KerasIntermediates(path, threads, image, allow_ops, normalize=normalize)

    def latency_probe(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                      threads: int | None, image: Any, xnnpack: bool,
                      allow_ops: tuple[str, ...], settings: Mapping[str, Any] | None = None
                      ) -> Any:
        from pytest_deeplab.runtime.formats.keras_latency import KerasLatencyProbe

        return KerasLatencyProbe(path, threads=threads, image=image, allow_ops=allow_ops,
                                 settings=settings)

    def identity(self) -> dict[str, Any]:
        return keras_identity()


# -- identity and settings ---------------------------------------------------------------------

def keras_identity() -> dict[str, Any]:
    """Keras' version and backend, for the run identity (imports nothing that is not loaded)."""
    if "keras" in sys.modules:
        keras = sys.modules["keras"]
        return {"keras": str(keras.__version__), "keras_backend": str(keras.backend.backend())}
    try:
        version: str | None = metadata.version("keras")
    except metadata.PackageNotFoundError:
        version = None
    return {"keras": version, "keras_backend": os.environ.get("KERAS_BACKEND") or "tensorflow"}
