"""Label sets: class names, the ignore label and the colour map of each dataset family.

DeepLab's datasets disagree on the ignore label (255 for PASCAL and Cityscapes, 0 for ADE20K),
so every mask comparison and mIOU computation takes it from here rather than assuming one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache, cached_property
from typing import Protocol

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

# Cityscapes' void classes (trainId 255) as its *_color.png files paint them (cityscapesScripts
# labels.py): black (unlabeled, ego vehicle, rectification border, out of roi, static), dynamic,
# ground, parking, rail track, guard rail, bridge, tunnel, caravan, trailer. Two void classes
# share a class's colour (polegroup = pole, license plate = car), so _color.png files decode them
# as that class; *_labelTrainIds.png files are exact.
CITYSCAPES_VOID_COLOURS = (
    (0, 0, 0), (111, 74, 0), (81, 0, 81), (250, 170, 160), (230, 150, 140), (180, 165, 180),
    (150, 100, 100), (150, 120, 90), (0, 0, 90), (0, 0, 110),
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
    ignore_colours: tuple[tuple[int, int, int], ...] = field(default=(), repr=False,
                                                             compare=False, hash=False)

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

    @cached_property
    def colour_classes(self) -> dict[int, tuple[int, ...]]:
        """Packed colour (0xRRGGBB) -> the indices painted in it: the classes, the ignore label,
        and the dataset's void colours (ignored). A colour with two indices is ambiguous."""
        indices = [*range(self.num_classes)]
        if 0 <= self.ignore_label <= 255 and self.ignore_label not in indices:
            indices.append(self.ignore_label)
        table: dict[int, tuple[int, ...]] = {}
        for index in indices:
            key = pack_colour(*(int(v) for v in self.colormap[index]))
            table[key] = (*table.get(key, ()), index)
        for colour in self.ignore_colours:
            table.setdefault(pack_colour(*colour), (self.ignore_label,))
        return table


def pack_colour(red: int, green: int, blue: int) -> int:
    """One integer per RGB colour, so a label map's colours can be looked up at once."""
    return (red << 16) | (green << 8) | blue


def unpack_colour(key: int) -> tuple[int, int, int]:
    return (key >> 16) & 255, (key >> 8) & 255, key & 255


Colour = tuple[int, int, int]


def colour_indices(
    rgb: np.ndarray, label_set: LabelSet
) -> tuple[np.ndarray | None, list[tuple[Colour, int]], list[tuple[Colour, tuple[int, ...]]]]:
    """Decode an HxWx3 colour label map through the label set's colours, exact matches only.

    Returns the indices (None if any colour failed), the colours no index is painted in (with
    their pixel counts) and the colours painted for several indices (with those indices).
    """
    wide = rgb.astype(np.uint32)
    packed = (wide[..., 0] << 16) | (wide[..., 1] << 8) | wide[..., 2]  # as pack_colour
    table = label_set.colour_classes
    keys = np.array(sorted(table), dtype=np.uint32)
    # Each pixel's place among the label set's colours (a binary search: ~10x faster than
    # np.unique on a 2048x1024 map), then whether the colour there really is the pixel's.
    position = np.minimum(np.searchsorted(keys, packed), len(keys) - 1)
    known = keys[position] == packed
    unknown: list[tuple[Colour, int]] = []
    if not known.all():
        colours, counts = np.unique(packed[~known], return_counts=True)
        unknown = [(unpack_colour(int(c)), int(n)) for c, n in zip(colours, counts)]
    used = np.bincount(position[known], minlength=len(keys))
    shared = [(unpack_colour(int(k)), table[int(k)]) for k, n in zip(keys, used)
              if n and len(table[int(k)]) > 1]
    if unknown or shared:
        return None, unknown, shared
    lookup = np.array([table[int(k)][0] for k in keys], dtype=np.uint8)
    return lookup[position], [], []


def _ade20k_colormap() -> np.ndarray:
    from pytest_deeplab.data.ade20k_colours import ADE20K_COLOURS

    colormap = np.zeros((256, 3), dtype=np.uint8)
    colormap[: len(ADE20K_COLOURS)] = np.asarray(ADE20K_COLOURS, dtype=np.uint8)
    return colormap


def get_label_set(spec: str | int) -> LabelSet:
    """Return a label set by name (`pascal`, `cityscapes`, `ade20k`, `minizoo`) or class count."""
    key = str(spec).strip().lower()
    if key == "pascal":
        return LabelSet("pascal", PASCAL_CLASSES, 255, pascal_colormap())
    if key == "cityscapes":
        return LabelSet("cityscapes", CITYSCAPES_CLASSES, 255, _padded(CITYSCAPES_COLOURS),
                        CITYSCAPES_VOID_COLOURS)
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




class Labelled(Protocol):
    """A catalogue ModelSpec or DatasetSpec, as far as label sets go."""

    @property
    def name(self) -> str: ...

    @property
    def label_set(self) -> str: ...


def label_set_mismatch(model: Labelled, dataset: Labelled) -> str:
    """Why a model cannot be scored on its dataset: their label sets differ. '' when both name
    one label set (`PASCAL` and `pascal` are one)."""
    if get_label_set(model.label_set).name == get_label_set(dataset.label_set).name:
        return ""
    return (
        f"model {model.name!r} has label_set {model.label_set!r} but its dataset "
        f"{dataset.name!r} has label_set {dataset.label_set!r}, so its masks would be scored "
        "against another label set's classes. Make them agree: set the model's label_set to "
        f"{dataset.label_set!r} (or leave it out to take the dataset's), or point its `dataset` "
        f"at a {model.label_set!r} dataset."
    )
