"""Which tensors of a TF Lite model take the image and give the mask, and how to feed them.

Everything here is decided from the model file (the interpreter's tensor details), never from
the model's name: the input's dtype, shape and quantization say how to scale RGB, the output's
rank and dtype say whether it holds logits (arg-maxed) or class ids (used as they are).

Pure Python and numpy: the rules are tested without TensorFlow on plain detail dictionaries
shaped like `Interpreter.get_input_details()` entries.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pytest_deeplab.runtime.base import ModelLoadError


@dataclass(frozen=True)
class TensorSpec:
    """One input or output as the model file declares it."""

    name: str
    index: int
    shape: tuple[int, ...]
    signature: tuple[int, ...]  # -1 where the size is dynamic
    dtype: np.dtype[Any]
    scale: float
    zero_point: int

    @classmethod
    def from_details(cls, details: Mapping[str, Any]) -> TensorSpec:
        scale, zero_point = details.get("quantization", (0.0, 0))
        shape = tuple(int(v) for v in details["shape"])
        signature = details.get("shape_signature")
        return cls(
            name=str(details["name"]),
            index=int(details["index"]),
            shape=shape,
            signature=tuple(int(v) for v in signature) if signature is not None else shape,
            dtype=np.dtype(details["dtype"]),
            scale=float(scale),
            zero_point=int(zero_point),
        )

    @property
    def quantized(self) -> bool:
        return self.dtype.kind in "iu" and self.scale > 0

    @property
    def kind(self) -> str | None:
        """`logits` ([1, H, W, C], C > 1), `class_ids` ([1, H, W] or [1, H, W, 1] integers),
        or None when the tensor cannot be a segmentation output."""
        shape = self.shape
        spatial = len(shape) in (3, 4) and shape[0] == 1 and min(shape[1:3]) > 1
        if not spatial:
            return None
        integer = self.dtype.kind in "iu"
        if len(shape) == 4 and shape[3] > 1 and (self.dtype.kind == "f" or self.quantized):
            return "logits"
        if integer and not self.quantized and (len(shape) == 3 or shape[3] == 1):
            return "class_ids"
        return None

    @property
    def classes(self) -> int | None:
        """The number of classes a logits output scores (its channel count)."""
        return self.shape[3] if self.kind == "logits" else None

    def describe(self) -> str:
        quant = f" (scale {self.scale:.6g}, zero point {self.zero_point})" if self.quantized else ""
        return f"{self.name} {list(self.shape)} {self.dtype.name}{quant}"


def _names_match(wanted: str, name: str) -> bool:
    """TF Lite names sometimes carry ':0' (TF 2 conversions) and sometimes not (TF 1 ones)."""
    return wanted == name or wanted.removesuffix(":0") == name.removesuffix(":0")


def _unset(wanted: str | None, tensors: Sequence[TensorSpec]) -> bool:
    return not wanted


def _listing(tensors: Sequence[TensorSpec]) -> str:
    return "; ".join(t.describe() for t in tensors) or "none"


def choose_input(
    path: str, model: str, inputs: Sequence[TensorSpec], wanted: str | None
) -> TensorSpec:
    """The image input: `input_tensor` when set, else the model's only input."""
    if not _unset(wanted, inputs):
        found = [t for t in inputs if _names_match(str(wanted), t.name)]
        if not found:
            raise ModelLoadError(
                f"{path}: input_tensor {wanted!r} is not an input of this TF Lite model; its "
                f"inputs: {_listing(inputs)}. Set input_tensor in "
                f"[tool.pytest-deeplab.models.{model}] to one of them."
            )
        chosen = found[0]
    elif len(inputs) != 1:
        raise ModelLoadError(
            f"{path}: the TF Lite model has {len(inputs)} inputs ({_listing(inputs)}); say which "
            f"takes the image with input_tensor in [tool.pytest-deeplab.models.{model}]."
        )
    else:
        chosen = inputs[0]
    shape = chosen.signature
    if len(shape) != 4 or shape[0] not in (1, -1) or shape[3] != 3:
        raise ModelLoadError(
            f"{path}: input {chosen.describe()} is not an image batch [1, height, width, 3]; "
            "DeepLab models take one RGB image."
        )
    if chosen.dtype.kind not in "fiu":
        raise ModelLoadError(f"{path}: input {chosen.describe()} has an unsupported dtype")
    return chosen


def choose_output(
    path: str, model: str, outputs: Sequence[TensorSpec], wanted: str | None
) -> TensorSpec:
    """The mask source: `output_tensor` when set, else the only plausible output.

    Plausible: logits [1, H, W, C] (float or quantized) or class ids [1, H, W] (an ArgMax,
    int32 or int64). Several plausible outputs without a choice are an error listing them:
    guessing would test the wrong tensor silently.
    """
    if not _unset(wanted, outputs):
        found = [t for t in outputs if _names_match(str(wanted), t.name)]
        if not found:
            raise ModelLoadError(
                f"{path}: output_tensor {wanted!r} is not an output of this TF Lite model; its "
                f"outputs: {_listing(outputs)}. Set output_tensor in "
                f"[tool.pytest-deeplab.models.{model}] to one of them."
            )
        chosen = found[0]
        if chosen.kind is None:
            raise ModelLoadError(
                f"{path}: output {chosen.describe()} holds neither logits [1, H, W, classes] nor "
                "class ids [1, H, W]; choose another output_tensor."
            )
        return chosen
    plausible = [t for t in outputs if t.kind is not None]
    if len(plausible) == 1:
        return plausible[0]
    if not plausible:
        raise ModelLoadError(
            f"{path}: no output of this TF Lite model looks like a segmentation (logits "
            f"[1, H, W, classes] or class ids [1, H, W]); its outputs: {_listing(outputs)}."
        )
    raise ModelLoadError(
        f"{path}: the TF Lite model has {len(plausible)} outputs that could be the mask: "
        f"{_listing(plausible)}. Say which one with output_tensor in "
        f"[tool.pytest-deeplab.models.{model}]."
    )


def check_classes(
    path: str, model: str, output: TensorSpec, label_set: str | None, num_classes: int | None
) -> None:
    """A logits output must score exactly the label set's classes (class ids cannot be checked)."""
    classes = output.classes
    if classes is None or num_classes is None or classes == num_classes:
        return
    raise ModelLoadError(
        f"{path}: the model scores {classes} classes (output {output.name} has {classes} "
        f"logits channels) but its label set {label_set!r} has {num_classes}. Set label_set "
        f"in [tool.pytest-deeplab.models.{model}] to the set the model was trained on (a number "
        f"of classes such as {classes} works too), or choose the right output_tensor."
    )


def input_table(spec: TensorSpec) -> tuple[np.ndarray, int | float]:
    """What each RGB byte becomes in the input tensor, and the padding value (the mean).

    Float inputs take RGB / 127.5 - 1 (DeepLab's normalization) computed in float32 as the
    frozen graphs compute it. Quantized inputs
    take that same float32 value quantized exactly as TF Lite's own QUANTIZE op does it:
    multiplied by the float32 reciprocal of the input's scale, rounded half to even, plus the
    zero point (measured: the same network converted with a float input, which quantizes in the
    graph, gets identical codes; tests/test_tflite_runtime.py). For Coral's uint8 builds, scale
    1/128 and zero point 128, that is within one step of the raw bytes. Integer inputs without
    quantization take the raw bytes (the model normalizes inside, like a frozen graph's
    ImageTensor). Padding is the mean pixel: 0 after normalization, the zero point when
    quantized, 128 for raw bytes.
    """
    # In float32, as DeepLab's graphs compute it (RealDiv by 127.5, then Sub 1).
    normalized = np.arange(256, dtype=np.float32) / np.float32(127.5) - np.float32(1.0)
    if spec.dtype.kind == "f":
        return normalized.astype(spec.dtype), 0.0
    info = np.iinfo(spec.dtype)
    if spec.quantized:
        inverse = np.float32(1.0) / np.float32(spec.scale)
        codes = np.rint(normalized * inverse).astype(np.float64) + spec.zero_point
        table = np.clip(codes, info.min, info.max)
        return table.astype(spec.dtype), int(np.clip(spec.zero_point, info.min, info.max))
    raw = np.clip(np.arange(256), info.min, info.max)
    return raw.astype(spec.dtype), int(np.clip(128, info.min, info.max))
