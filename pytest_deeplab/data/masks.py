"""Class masks: resizing without inventing classes, colouring, and the palette PNGs goldens
are stored as."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pytest_deeplab.data.images import NEAREST, ImageError, open_image
from pytest_deeplab.data.labelsets import LabelSet
from pytest_deeplab.files import PathLike, write_atomically


def _as_mask(mask: np.ndarray) -> np.ndarray:
    """A 2-D uint8 view of an integer mask, refusing values a PNG palette cannot index."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D (height x width), got shape {mask.shape}")
    if mask.dtype == np.uint8:
        return mask
    if not np.issubdtype(mask.dtype, np.integer):
        raise ValueError(f"a mask must hold integer class indices, got dtype {mask.dtype}")
    if mask.size and (int(mask.min()) < 0 or int(mask.max()) > 255):
        raise ValueError(
            f"mask values must lie in 0..255, got {int(mask.min())}..{int(mask.max())}"
        )
    return mask.astype(np.uint8)


def resize_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a class mask to (height, width) with nearest neighbour: never invent classes."""
    height, width = size
    image = Image.fromarray(np.ascontiguousarray(_as_mask(mask)))
    return np.asarray(image.resize((int(width), int(height)), NEAREST), dtype=np.uint8).copy()


def colorize(mask: np.ndarray, label_set: LabelSet) -> np.ndarray:
    """The mask in the label set's colours (HxWx3 uint8), as DeepLab's visualisation shows it."""
    return np.asarray(label_set.colormap[_as_mask(mask)], dtype=np.uint8)


def save_mask_png(mask: np.ndarray, path: PathLike, label_set: LabelSet) -> Path:
    """Write a mask as an indexed PNG with the label set's palette, atomically.

    Indexed PNGs keep the class index in each pixel (what we compare) and show the DeepLab
    colours in any image viewer (what reviewers look at).
    """
    image = Image.fromarray(np.ascontiguousarray(_as_mask(mask)))
    image.putpalette(label_set.palette())  # turns the 'L' image into a 'P' one
    return write_atomically(path, lambda handle: image.save(handle, format="PNG"))


def read_mask_png(path: PathLike) -> np.ndarray:
    """Decode a mask PNG to its class indices; palette and grey PNGs only."""
    image = open_image(path, "mask")
    if image.mode not in ("P", "L"):
        raise ImageError(
            path,
            f"mask has mode {image.mode!r}, not a palette or grey PNG, so it holds colours "
            "rather than class indices",
            "Re-create it with `pytest --deeplab-update-golden` (masks are written as palette "
            "PNGs).",
        )
    return np.asarray(image, dtype=np.uint8).copy()
