"""How an image of any size meets a model of fixed input size, and how the mask comes back.

Two conventions, chosen per model (`resize = "pad" | "stretch"`), recorded with every golden:

- `pad` (the default): DeepLab's own export. The long side goes to the input size (aspect
  kept), the bottom and right are padded with the mean pixel, the model runs, and the mask is
  cropped back to the resized region. An image the session already demo-resized to the model's
  input size is not resized again, so the mask equals the frozen graph's pixel for pixel when
  the network is the same (the frozen graph pads inside itself, in the same way).
- `stretch`: the TF Lite Task Library's way. The image is resized to the input's height and
  width (aspect not kept) and the mask resized back.

Either way `predict` returns the mask at the size of the image it was given, as a frozen
graph does. Resizing uses Pillow's bilinear filter for images and nearest neighbour for masks
(never inventing classes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

RESIZE_MODES = ("pad", "stretch")


@dataclass(frozen=True)
class Placement:
    """Where an image of size (h, w) lands in the model's input: its resized region."""

    image_hw: tuple[int, int]
    region_hw: tuple[int, int]


def placement(image_hw: tuple[int, int], input_hw: tuple[int, int], mode: str) -> Placement:
    """The region of the input the image occupies under `mode`."""
    h, w = image_hw
    height, width = input_hw
    if mode == "stretch":
        return Placement(image_hw, (height, width))
    if h <= height and w <= width and (h == height or w == width):
        return Placement(image_hw, (h, w))  # already fitted (the demo resize): no resampling
    ratio = min(height / h, width / w)
    return Placement(image_hw, (min(height, max(1, int(ratio * h))),
                                min(width, max(1, int(ratio * w)))))


def resized_image(image: np.ndarray, region_hw: tuple[int, int]) -> np.ndarray:
    """The image at the region's size (bilinear), or the image itself when it already fits."""
    if image.shape[:2] == region_hw:
        return image
    resized = Image.fromarray(image).resize((region_hw[1], region_hw[0]), Image.Resampling.BILINEAR)
    return np.asarray(resized)


def mask_back(mask: np.ndarray, place: Placement) -> np.ndarray:
    """A mask of the region (or of the full input) at the image's own size (nearest)."""
    if mask.shape == place.image_hw:
        return mask
    h, w = place.image_hw
    return np.asarray(Image.fromarray(mask).resize((w, h), Image.Resampling.NEAREST))
