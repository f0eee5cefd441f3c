"""What every model format offers the suite: `predict(image) -> mask`, and who ran it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

import numpy as np

from pytest_deeplab.errors import DeepLabError


class ModelLoadError(DeepLabError, RuntimeError):
    """A model file could not be loaded; the message names the file and what to do."""


class Predictor(Protocol):
    """One loaded model. `predict` takes an RGB uint8 image already demo-resized."""

    name: str
    path: str
    input_size: int | None
    """The fixed input size the file declares (TF Lite), None when the model takes any size."""

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Return the class-id mask (uint8, H x W) for one RGB uint8 image (H x W x 3)."""
        ...

    def describe(self) -> dict[str, Any]:
        """Tensors and format details for reports and error messages."""
        ...

    def close(self) -> None:
        """Release the session or interpreter (the model's memory goes with it)."""
        ...


@dataclass(frozen=True)
class RuntimeIdentity:
    """What makes two runs comparable: TF build, oneDNN and threads belong to every result."""

    tensorflow: str
    tensorflow_git: str
    onednn: bool | None
    onednn_source: str
    intra_op_threads: int
    inter_op_threads: int
    tflite_runtime: str  # "ai_edge_litert 2.3.0" or "tf.lite (TensorFlow 2.21.0)"
    tflite_xnnpack: bool = True  # False under --deeplab-no-xnnpack
    keras: str = ""  # the installed Keras ("3.15.1"; "" when none): runs .keras models

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def to_mask(values: np.ndarray) -> np.ndarray:
    """Class ids as uint8 (every DeepLab label set has at most 256 ids)."""
    if values.dtype == np.uint8:
        return values
    low, high = (int(values.min()), int(values.max())) if values.size else (0, 0)
    if low < 0 or high > 255:
        raise ModelLoadError(
            f"the model produced class ids outside 0..255 ({low}..{high}): "
            "is output_tensor really the class-id mask?"
        )
    return values.astype(np.uint8)
