"""The report's pictures, as inline PNG data URIs: photos, masks in label-set colours, and a
diff overlay on which even a single changed pixel is easy to find.

numpy + Pillow only. Masks are encoded as palette PNGs (the class index per pixel, the label
set's colours in the palette), which keeps a 513x513 mask to a few kilobytes.
"""

from __future__ import annotations

import base64
import io
from typing import Optional

import numpy as np
from PIL import Image

from pytest_deeplab.data.labelsets import LabelSet
from pytest_deeplab.data.masks import resize_mask
from pytest_deeplab.verdicts.diff_image import CHANGED_COLOUR

HALO_COLOUR = (255, 214, 0)
"""Amber ring around changed pixels: a one-pixel change at a class boundary stays visible when
the browser scales the panel down."""
MAX_PHOTO_SIDE = 640


def data_uri(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def photo_uri(rgb: np.ndarray, shape: Optional[tuple[int, int]] = None) -> str:
    """The input photo, at the mask's (height, width) when given, else at most 640 px a side."""
    return data_uri(Image.fromarray(fit_photo(rgb, shape)))


def fit_photo(rgb: np.ndarray, shape: Optional[tuple[int, int]] = None) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).convert("RGB")
    if shape is not None:
        size = (int(shape[1]), int(shape[0]))
    else:
        scale = min(1.0, MAX_PHOTO_SIDE / max(image.size))
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def mask_uri(mask: np.ndarray, label_set: LabelSet) -> str:
    """A class mask in the label set's colours (a palette PNG)."""
    image = Image.fromarray(np.ascontiguousarray(mask, dtype=np.uint8), mode="L")
    image.putpalette(label_set.palette())
    return data_uri(image)


def dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    """Grow a boolean mask by `radius` pixels (4-neighbourhood steps)."""
    out = mask.copy()
    for _ in range(radius):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def diff_overlay(
    golden: np.ndarray, current: np.ndarray, photo: Optional[np.ndarray] = None
) -> np.ndarray:
    """Changed pixels in magenta, ringed in amber, on a dimmed grey copy of the input.

    The same colours as the diff image the failing check writes (`checks.write_diff_image`);
    the ring is what makes sparse boundary changes visible at a glance.
    """
    if current.shape != golden.shape:
        current = resize_mask(current, golden.shape[:2])
    changed = golden != current
    if photo is None:
        base = np.full((*golden.shape, 1), 96.0)
    else:
        base = fit_photo(photo, golden.shape[:2]).astype(np.float64).mean(axis=2, keepdims=True)
    out = np.repeat(base * 0.35, 3, axis=2).astype(np.uint8)
    if changed.any():
        radius = max(3, round(max(golden.shape) / 100))
        ring = dilate(changed, radius) & ~changed
        out[ring] = HALO_COLOUR
        out[changed] = CHANGED_COLOUR
    return out


def diff_uri(golden: np.ndarray, current: np.ndarray, photo: Optional[np.ndarray] = None) -> str:
    return data_uri(Image.fromarray(diff_overlay(golden, current, photo)))


def classes_in(*masks: Optional[np.ndarray]) -> list[int]:
    """Class indices present in any of the masks, sorted (for the legend)."""
    present: set[int] = set()
    for mask in masks:
        if mask is not None:
            present.update(int(v) for v in np.unique(mask))
    return sorted(present)


def hex_colour(label_set: LabelSet, index: int) -> str:
    r, g, b = (int(v) for v in label_set.colormap[index])
    return f"#{r:02x}{g:02x}{b:02x}"
