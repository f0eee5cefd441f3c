"""Pick the loader for a model format and describe the TensorFlow build that runs it."""

from __future__ import annotations

from pathlib import Path

from pytest_deeplab.runtime.base import ModelLoadError, Predictor


def load_predictor(
    name: str,
    path: Path,
    fmt: str,
    *,
    input_tensor: str,
    output_tensor: str,
    threads: int | None = None,
    xnnpack: bool = True,
    resize: str = "pad",
    normalize: str = "deeplab",
    label_set: str | None = None,
    num_classes: int | None = None,
    allow_ops: tuple[str, ...] = (),
) -> Predictor:
    """Load one model file; TensorFlow (or LiteRT) is imported here, on first use.

    `num_classes` (the label set's) is checked against a logits output's channel count;
    `xnnpack` concerns TF Lite models only, `resize` TF Lite and Keras models, `normalize`
    Keras models. Every loader holds the file against the op allowlist (runtime.safety; for
    Keras, runtime/formats/keras.py) before any of it reaches TensorFlow; `allow_ops` are the
    model's own named exceptions.
    """
    if not path.exists():
        raise ModelLoadError(f"{name}: model file {path} does not exist")
    if fmt == "frozen_graph":
        from pytest_deeplab.runtime.frozen_graph import FrozenGraphPredictor

        return FrozenGraphPredictor(name, path, input_tensor, output_tensor, threads,
                                    label_set=label_set, num_classes=num_classes,
                                    allow_ops=allow_ops)
    if fmt == "tflite":
        from pytest_deeplab.runtime.tflite import TFLitePredictor

        return TFLitePredictor(name, path, input_tensor=input_tensor,
                               output_tensor=output_tensor, threads=threads, xnnpack=xnnpack,
                               resize=resize, label_set=label_set, num_classes=num_classes,
                               allow_ops=allow_ops)
    if fmt == "saved_model":
        from pytest_deeplab.runtime.saved_model import SavedModelPredictor

        return SavedModelPredictor(name, path, threads, allow_ops=allow_ops)
    if fmt == "keras":  # Keras 3 .keras files (runtime/formats/keras.py); moves to the registry
        from pytest_deeplab.runtime.formats.keras import KerasPredictor

        return KerasPredictor(name, path, threads=threads, normalize=normalize, resize=resize,
                              label_set=label_set, num_classes=num_classes,
                              allow_ops=allow_ops)
    raise ModelLoadError(
        f"{name}: unknown model format {fmt!r} (frozen_graph, tflite, saved_model, keras)"
    )


