"""Label sets: class names, the ignore label and the colour map of each dataset family.

DeepLab's datasets disagree on the ignore label (255 for PASCAL and Cityscapes, 0 for ADE20K),
so every mask comparison and mIOU computation takes it from here rather than assuming one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import numpy as np

PASCAL_CLASSES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tv",
)

CITYSCAPES_CLASSES = (
    "road", "sidewalk", "building", "wall", "fence", "pole", "traffic light", "traffic sign",
    "vegetation", "terrain", "sky", "person", "rider", "car", "truck", "bus", "train",
    "motorcycle", "bicycle",
)

CITYSCAPES_COLOURS = (
    (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
    (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100),
    (0, 80, 100), (0, 0, 230), (119, 11, 32),
)

# ADE20K's 150 SceneParsing classes; DeepLab adds "other" as class 0 (also its ignore label).
ADE20K_CLASSES = (
    "other", "wall", "building", "sky", "floor", "tree", "ceiling", "road", "bed", "windowpane",
    "grass", "cabinet", "sidewalk", "person", "earth", "door", "table", "mountain", "plant",
    "curtain", "chair", "car", "water", "painting", "sofa", "shelf", "house", "sea", "mirror",
    "rug", "field", "armchair", "seat", "fence", "desk", "rock", "wardrobe", "lamp", "bathtub",
    "railing", "cushion", "base", "box", "column", "signboard", "chest of drawers", "counter",
    "sand", "sink", "skyscraper", "fireplace", "refrigerator", "grandstand", "path", "stairs",
    "runway", "case", "pool table", "pillow", "screen door", "stairway", "river", "bridge",
    "bookcase", "blind", "coffee table", "toilet", "flower", "book", "hill", "bench",
    "countertop", "stove", "palm", "kitchen island", "computer", "swivel chair", "boat", "bar",
    "arcade machine", "hovel", "bus", "towel", "light", "truck", "tower", "chandelier",
    "awning", "streetlight", "booth", "television receiver", "airplane", "dirt track",
    "apparel", "pole", "land", "bannister", "escalator", "ottoman", "bottle", "buffet",
    "poster", "stage", "van", "ship", "fountain", "conveyer belt", "canopy", "washer",
    "plaything", "swimming pool", "stool", "barrel", "basket", "waterfall", "tent", "bag",
    "minibike", "cradle", "oven", "ball", "food", "step", "tank", "trade name", "microwave",
    "pot", "animal", "bicycle", "lake", "dishwasher", "screen", "blanket", "sculpture", "hood",
    "sconce", "vase", "traffic light", "tray", "ashcan", "fan", "pier", "crt screen", "plate",
    "monitor", "bulletin board", "shower", "radiator", "glass", "clock", "flag",
)

# The bundled mini-zoo's synthetic street scenes (fixtures/): six classes, PASCAL-style ignore band.
MINIZOO_CLASSES = ("background", "sky", "road", "building", "vehicle", "person")


@cache
def pascal_colormap() -> np.ndarray:
    """DeepLab's 256-entry PASCAL colour map: the bits of the index spread over R, G and B."""
    colormap = np.zeros((256, 3), dtype=np.uint8)
    index = np.arange(256, dtype=np.int64)
    for shift in range(7, -1, -1):
        for channel in range(3):
            colormap[:, channel] |= (((index >> channel) & 1) << shift).astype(np.uint8)
        index >>= 3
    return colormap


def _padded(colours: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """Pad a short colour list to 256 entries (index 255, the ignore label, is white)."""
    colormap = np.zeros((256, 3), dtype=np.uint8)
    colormap[: len(colours)] = np.asarray(colours, dtype=np.uint8)
    colormap[255] = (255, 255, 255)
    return colormap


@dataclass(frozen=True)
class LabelSet:
    """The classes a model predicts and how its ground truth marks pixels to ignore."""

    name: str
    class_names: tuple[str, ...]
    ignore_label: int
    colormap: np.ndarray = field(repr=False, compare=False, hash=False)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def class_name(self, index: int) -> str:
        if index == self.ignore_label:
            return "ignore"
        if 0 <= index < self.num_classes:
            return self.class_names[index]
        return f"class {index}"

    def palette(self) -> list[int]:
        """The colour map flattened for `PIL.Image.putpalette`."""
        return [int(v) for v in self.colormap.reshape(-1)]


def _ade20k_colormap() -> np.ndarray:
    from pytest_deeplab._ade20k_colours import ADE20K_COLOURS

    colormap = np.zeros((256, 3), dtype=np.uint8)
    colormap[: len(ADE20K_COLOURS)] = np.asarray(ADE20K_COLOURS, dtype=np.uint8)
    return colormap


def get_label_set(spec: str | int) -> LabelSet:
    """Return a label set by name (`pascal`, `cityscapes`, `ade20k`, `minizoo`) or class count."""
    key = str(spec).strip().lower()
    if key == "pascal":
        return LabelSet("pascal", PASCAL_CLASSES, 255, pascal_colormap())
    if key == "cityscapes":
        return LabelSet("cityscapes", CITYSCAPES_CLASSES, 255, _padded(CITYSCAPES_COLOURS))
    if key == "ade20k":
        return LabelSet("ade20k", ADE20K_CLASSES, 0, _ade20k_colormap())
    if key == "minizoo":
        return LabelSet("minizoo", MINIZOO_CLASSES, 255, pascal_colormap())
    if key.isdigit() and 1 <= int(key) <= 255:
        count = int(key)
        names = tuple(f"class {i}" for i in range(count))
        return LabelSet(f"{count}-class", names, 255, pascal_colormap())
    raise ValueError(
        f"unknown label set {spec!r}: use pascal, cityscapes, ade20k, minizoo, "
        "or a number of classes from 1 to 255"
    )


LABEL_SET_NAMES = ("pascal", "cityscapes", "ade20k", "minizoo")
