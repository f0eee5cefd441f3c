"""Reading images and label maps, DeepLab-demo preprocessing, indexed-PNG masks and colours.

Everything here is numpy + Pillow: it runs (and is tested) without TensorFlow. Errors are
`ImageError`s that name the file, say what is wrong with it and how to fix it, because the
person reading them is looking at a CI log, not at this code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from pytest_deeplab.errors import DeepLabError
from pytest_deeplab.files import PathLike

# Pillow 10 removed `Image.ANTIALIAS` (the demo's name) and moved filters to `Image.Resampling`
# (9.1+); LANCZOS is the same filter under every name.
try:
    LANCZOS: Any = Image.Resampling.LANCZOS
    NEAREST: Any = Image.Resampling.NEAREST
except AttributeError:  # pragma: no cover - Pillow < 9.1
    LANCZOS = Image.LANCZOS  # type: ignore[attr-defined]
    NEAREST = Image.NEAREST  # type: ignore[attr-defined]

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


class ImageError(DeepLabError, ValueError):
    """A bad image, label map or mask file: the message names it, the problem and the fix."""

    def __init__(self, path: PathLike, problem: str, fix: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        self.fix = fix
        message = f"{self.path}: {problem}"
        super().__init__(f"{message}. {fix}" if fix else message)


# --------------------------------------------------------------------------- opening files


def open_image(path: PathLike, what: str) -> Image.Image:
    """Open and fully decode an image so that truncation shows up here, not later."""
    path = Path(path)
    if not path.is_file():
        raise ImageError(path, f"{what} does not exist or is not a file", "Check the path.")
    try:
        image = Image.open(path)
        image.load()
    except UnidentifiedImageError as exc:
        raise ImageError(
            path,
            f"{what} is not an image Pillow can read ({exc})",
            "Replace it with a PNG or JPEG.",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageError(
            path, f"{what} is implausibly large ({exc})", "Downscale it before using it."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(
            path,
            f"{what} is corrupt or truncated ({exc})",
            "Re-export or re-download the file.",
        ) from exc
    return image


# --------------------------------------------------------------------------- photographs


def load_rgb(path: PathLike) -> np.ndarray:
    """Read an image as uint8 HxWx3 RGB, its stored pixels exactly as DeepLab sees them.

    EXIF orientation is ignored, for every item alike: the DeepLab demo (`Image.open` then
    `convert('RGB')`) and eval.py decode the stored pixels, and label maps are drawn on them, so
    a phone photo stored sideways is fed sideways (golden metadata records `"exif": "ignored"`).
    Alpha (RGBA, LA, PA) is dropped rather than composited: the demo's `convert('RGB')`
    discards it. 16-bit grey is scaled to 8 bits (65535 -> 255); CMYK, palette and 1-bit
    images are converted by Pillow.
    """
    return _to_rgb(open_image(path, "image"), path)


def _to_rgb(image: Image.Image, path: PathLike) -> np.ndarray:
    """Convert any Pillow mode we can interpret to uint8 RGB."""
    if image.mode in _SIXTEEN_BIT_MODES:
        grey = _sixteen_to_eight_bits(np.asarray(image))
        return np.repeat(grey[:, :, None], 3, axis=2)
    if image.mode == "F":
        raise ImageError(
            path,
            "it holds floating-point pixels (mode 'F'), which have no agreed mapping to RGB",
            "Convert it to an 8-bit RGB PNG or JPEG.",
        )
    try:
        rgb = image if image.mode == "RGB" else image.convert("RGB")  # no needless copy
    except (ValueError, OSError) as exc:
        raise ImageError(
            path, f"Pillow cannot convert mode {image.mode!r} to RGB ({exc})", "Save it as RGB."
        ) from exc
    return np.asarray(rgb, dtype=np.uint8).copy()


def _sixteen_to_eight_bits(values: np.ndarray) -> np.ndarray:
    """Map 0..65535 to 0..255 with rounding (65535 / 257 == 255 exactly)."""
    wide = np.clip(values.astype(np.int64), 0, 65535)
    return ((wide + 128) // 257).astype(np.uint8)


def demo_resize(rgb: np.ndarray, input_size: int) -> np.ndarray:
    """Resize like DeepLab's demo: the long side to `input_size`, LANCZOS, aspect kept.

    The demo computes `ratio = input_size / max(w, h)` and resizes to
    `(int(ratio * w), int(ratio * h))` even when that upsamples; we do exactly that so masks
    match the ones people get from the zoo notebook. (A side that would round to 0 pixels,
    where the demo would crash, is kept at 1.) An image whose long side already is `input_size`
    is returned unchanged, bit for bit, rather than run through the filter.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"demo_resize expects an HxWx3 RGB array, got shape {rgb.shape}")
    if input_size <= 0:
        raise ValueError(f"input_size must be positive, got {input_size}")
    height, width = rgb.shape[:2]
    ratio = 1.0 * input_size / max(width, height)
    target = (max(1, int(ratio * width)), max(1, int(ratio * height)))
    if target == (width, height):  # e.g. a 2048x1024 Cityscapes frame at input_size 2048
        return np.array(rgb, dtype=np.uint8)
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
    return np.asarray(image.resize(target, LANCZOS), dtype=np.uint8).copy()


# --------------------------------------------------------------------------- label maps


# --------------------------------------------------------------------------- masks


# --------------------------------------------------------------------------- datasets


