"""The picture a failed mask comparison leaves behind: photo, golden, current and the changed
pixels, side by side."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from pytest_deeplab.data.labelsets import LabelSet
from pytest_deeplab.data.masks import colorize, resize_mask
from pytest_deeplab.files import write_atomically

CHANGED_COLOUR = (255, 0, 255)
"""Magenta: absent from every DeepLab colour map's common classes, visible on dimmed photos."""


def write_diff_image(
    image_rgb: np.ndarray,
    golden: np.ndarray,
    current: np.ndarray,
    label_set: LabelSet,
    path: Path,
) -> Path:
    """Write [input | golden colours | current colours | changes] side by side, as one PNG.

    Changed pixels are magenta on a dimmed grey copy of the input, so a reviewer sees where
    the model changed its mind and on what. A current mask of another shape is shown
    resized (nearest) to the golden's shape, the input is resized to the golden's shape.
    """
    height, width = golden.shape
    if current.shape != golden.shape:
        current = resize_mask(current, (height, width))
    photo = _fit(image_rgb, (height, width))
    changed = golden != current
    panels = [photo, colorize(golden, label_set), colorize(current, label_set)]
    panels.append(_overlay(photo, changed))
    titles = ["input", "golden", "current", f"changed: {int(changed.sum())} px"]
    canvas = _side_by_side(panels, titles)
    return write_atomically(Path(path), lambda handle: canvas.save(handle, format="PNG"))


def _fit(image_rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The input at the mask's size (the mask is usually of the demo-resized image)."""
    image = Image.fromarray(np.ascontiguousarray(image_rgb, dtype=np.uint8)).convert("RGB")
    if image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _overlay(photo: np.ndarray, changed: np.ndarray) -> np.ndarray:
    grey = photo.mean(axis=2, keepdims=True) * 0.35
    out = np.repeat(grey, 3, axis=2).astype(np.uint8)
    out[changed] = CHANGED_COLOUR
    return out


def _side_by_side(panels: list[np.ndarray], titles: list[str], gap: int = 4) -> Image.Image:
    header = 14
    height, width = panels[0].shape[:2]
    canvas = Image.new("RGB", (len(panels) * (width + gap) - gap, height + header), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (panel, title) in enumerate(zip(panels, titles)):
        x = i * (width + gap)
        canvas.paste(Image.fromarray(panel), (x, header))
        draw.text((x + 2, 1), title, fill=(0, 0, 0))
    return canvas
