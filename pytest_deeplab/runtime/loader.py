"""Pick the loader for a model format and describe the TensorFlow build that runs it."""

from __future__ import annotations

import os
import platform
from pathlib import Path

from pytest_deeplab.runtime.base import ModelLoadError, Predictor, RuntimeIdentity
from pytest_deeplab.runtime.tf import import_tensorflow
from pytest_deeplab.runtime.tflite_interpreter import interpreter_label


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
    label_set: str | None = None,
    num_classes: int | None = None,
) -> Predictor:
    """Load one model file; TensorFlow (or LiteRT) is imported here, on first use.

    `num_classes` (the label set's) is checked against a logits output's channel count;
    `xnnpack` and `resize` concern TF Lite models only.
    """
    if not path.exists():
        raise ModelLoadError(f"{name}: model file {path} does not exist")
    if fmt == "frozen_graph":
        from pytest_deeplab.runtime.frozen_graph import FrozenGraphPredictor

        return FrozenGraphPredictor(name, path, input_tensor, output_tensor, threads,
                                    label_set=label_set, num_classes=num_classes)
    if fmt == "tflite":
        from pytest_deeplab.runtime.tflite import TFLitePredictor

        return TFLitePredictor(name, path, input_tensor=input_tensor,
                               output_tensor=output_tensor, threads=threads, xnnpack=xnnpack,
                               resize=resize, label_set=label_set, num_classes=num_classes)
    if fmt == "saved_model":
        from pytest_deeplab.runtime.saved_model import SavedModelPredictor

        return SavedModelPredictor(name, path, threads)
    raise ModelLoadError(
        f"{name}: unknown model format {fmt!r} (frozen_graph, tflite, saved_model)"
    )


def onednn_setting() -> tuple[bool | None, str]:
    """Whether oneDNN optimisations are on, and whether that is TF's default or the user's choice.

    TF enables oneDNN by default on x86 Linux since 2.9; it changes float results slightly, so it
    belongs to a run's identity.
    """
    value = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if value is not None:
        return value.strip().lower() in ("1", "true", "yes", "on"), "TF_ENABLE_ONEDNN_OPTS"
    if platform.machine().lower() in ("x86_64", "amd64"):
        return True, "default"
    return None, "default"


def runtime_identity(threads: int | None = None, xnnpack: bool = True) -> RuntimeIdentity:
    """TF version, git build, oneDNN flag, thread settings and the TF Lite interpreter (imports
    TensorFlow). `xnnpack` is the run's setting (--deeplab-no-xnnpack turns it off); a model
    may turn it off for itself, which its own runtime record says."""
    tf = import_tensorflow()
    onednn, source = onednn_setting()
    return RuntimeIdentity(
        tensorflow=str(tf.__version__),
        tensorflow_git=str(getattr(tf.version, "GIT_VERSION", "")),
        onednn=onednn,
        onednn_source=source,
        intra_op_threads=threads or 0,
        inter_op_threads=1 if threads else 0,
        tflite_runtime=interpreter_label(),
        tflite_xnnpack=xnnpack,
    )
