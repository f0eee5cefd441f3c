"""Label maps and labelled datasets: reading class indices (palette, grey or RGB PNGs) and
pairing each image with its label map, refusing anything ambiguous."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from pytest_deeplab.data.formats import is_image_file
from pytest_deeplab.data.images import ImageError, open_image
from pytest_deeplab.data.labelsets import LabelSet, colour_indices
from pytest_deeplab.files import PathLike

_MODES = {"RGBA": "colour image with alpha", "LA": "grey with alpha", "PA": "palette with alpha",
          "1": "1-bit black and white", "CMYK": "CMYK colour"}


_LABEL_FIX = (
    "Save label maps as palette ('P') PNGs, as PASCAL VOC's SegmentationClass does, as "
    "single-channel grey ('L') PNGs whose pixel values are the class indices, or as RGB PNGs "
    "in the label set's colours."
)


def load_label(
    path: PathLike, label_set: LabelSet, expected_shape: tuple[int, int] | None = None
) -> np.ndarray:
    """Read a ground-truth label map as uint8 HxW class indices, checked against the label set.

    Palette PNGs give their indices (never their colours); grey PNGs give their values. RGB
    label maps (Cityscapes *_color.png, VOC masks re-saved as RGB) are read through the label
    set's colour map, exact colours only: a colour the label set does not paint (a JPEG
    artefact, an anti-aliased edge, another dataset's colours) is an error naming it, never a
    nearest-colour guess. No EXIF rotation is applied: label maps match the stored pixels.
    """
    image = open_image(path, "label map")
    indices = _label_indices(image, path, label_set)
    if expected_shape is not None and indices.shape != tuple(expected_shape):
        raise ImageError(
            path,
            f"label map is {_hw(indices.shape)} (height x width) but its image is "
            f"{_hw(expected_shape)}",
            "Label maps must have exactly the size of their image; re-export the label at the "
            "image's size (do not resize it with interpolation).",
        )
    _check_label_values(indices, label_set, path)
    return indices


def _label_indices(image: Image.Image, path: PathLike, label_set: LabelSet) -> np.ndarray:
    """The class indices stored in a palette or grey image, or painted in an RGB one."""
    if image.mode in ("P", "L"):
        return np.asarray(image, dtype=np.uint8).copy()
    opaque = image.mode == "RGBA" and image.getchannel("A").getextrema() == (255, 255)
    if image.mode == "RGB" or opaque:
        return _colour_indices(np.asarray(image.convert("RGB"), dtype=np.uint8), label_set, path)
    raise ImageError(
        path,
        f"label map has mode {image.mode!r} ({_describe_mode(image.mode)}); class indices "
        "cannot be read from it reliably",
        _LABEL_FIX,
    )


def _colour_indices(rgb: np.ndarray, label_set: LabelSet, path: PathLike) -> np.ndarray:
    """Each pixel's exact colour as the one index the label set paints in it, or an error."""
    indices, unknown, shared = colour_indices(rgb, label_set)
    if unknown:
        raise ImageError(
            path,
            f"label map colours {_listing(f'{c} in {n} pixel' + 's' * (n > 1) for c, n in unknown)}"
            f" are not colours of label set {label_set.name!r}",
            "An RGB label map is read through the label set's colour map, exact colours only: "
            "check the dataset's label_set, and save label maps losslessly (PNG, no JPEG, no "
            "anti-aliasing) or as palette ('P') / grey ('L') PNGs of class indices.",
        )
    if shared:
        listing = _listing(
            f"{c} ({', '.join(f'{i} {label_set.class_name(i)}' for i in k)})" for c, k in shared
        )
        raise ImageError(
            path,
            f"label map colours {listing} are painted for several classes of label set "
            f"{label_set.name!r}, so the class cannot be told from the colour",
            "Save this label map as a palette ('P') or grey ('L') PNG of class indices.",
        )
    assert indices is not None
    return indices


def _describe_mode(mode: str) -> str:
    return _MODES.get(mode, "not a palette or grey image")


def _check_label_values(indices: np.ndarray, label_set: LabelSet, path: PathLike) -> None:
    """Every value must be a class of the label set or its ignore label."""
    invalid = indices >= label_set.num_classes
    if 0 <= label_set.ignore_label <= 255:
        invalid &= indices != label_set.ignore_label
    if not invalid.any():
        return
    bad = np.unique(indices[invalid]).tolist()
    shown = _listing(str(v) for v in bad)
    raise ImageError(
        path,
        f"label values {shown} are not classes of label set {label_set.name!r} "
        f"({label_set.num_classes} classes 0..{label_set.num_classes - 1}, ignore label "
        f"{label_set.ignore_label})",
        "Check the dataset's label_set (pascal, cityscapes, ade20k or a number of classes); "
        "Cityscapes label maps must hold trainIds (0..18, 255), not the 34 raw label ids.",
    )


def _listing(items: Iterable[str], limit: int = 10) -> str:
    """The first `limit` items, comma-separated, and how many were left out."""
    everything = list(items)
    shown = ", ".join(everything[:limit])
    rest = len(everything) - limit
    return f"{shown} and {rest} more" if rest > 0 else shown


def _hw(shape: Iterable[int]) -> str:
    return " x ".join(str(int(v)) for v in shape)


def find_pairs(
    images_dir: PathLike, labels_dir: PathLike, label_suffix: str = ""
) -> list[tuple[Path, Path]]:
    """Pair every image (any format Pillow reads) with `<labels_dir>/<stem><label_suffix>.png`.

    `images_dir` may end in a glob (`data/voc/2007_*.jpg`) to take part of a folder.

    Sorted by image name. An image without a label is an error that lists them all, not a
    silent skip: a dataset that quietly lost half its labels would still produce an mIOU.
    Labels without an image are ignored (a labels folder may cover a larger set).
    """
    images_dir, labels_dir = Path(images_dir), Path(labels_dir)
    pattern = "*"
    if any(ch in images_dir.name for ch in "*?["):
        images_dir, pattern = images_dir.parent, images_dir.name
    _require_dir(images_dir, "images folder")
    _require_dir(labels_dir, "labels folder")
    images = _images_by_stem(images_dir, pattern)
    if label_suffix:  # label maps kept beside their images are not images themselves
        images = {s: p for s, p in images.items() if not s.endswith(label_suffix)}
    pairs: list[tuple[Path, Path]] = []
    missing: list[str] = []
    for stem in sorted(images):
        label = labels_dir / f"{stem}{label_suffix}.png"
        if label.is_file():
            pairs.append((images[stem], label))
        else:
            missing.append(images[stem].name)
    if missing:
        shown = _listing(missing)
        raise ImageError(
            labels_dir,
            f"{len(missing)} of {len(images)} images have no label "
            f"<stem>{label_suffix}.png here: {shown}",
            "Add the missing label maps, remove those images, or fix `label_suffix`.",
        )
    return pairs


def _require_dir(path: Path, what: str) -> None:
    if not path.is_dir():
        raise ImageError(path, f"{what} does not exist or is not a folder", "Check the path.")


def _images_by_stem(images_dir: Path, pattern: str = "*") -> dict[str, Path]:
    """Map each image stem to its file; two images with one stem are ambiguous."""
    images: dict[str, Path] = {}
    for path in sorted(images_dir.glob(pattern)):
        if not path.is_file() or not is_image_file(path):
            continue
        if path.stem in images:
            raise ImageError(
                path,
                f"two images share the stem {path.stem!r} ({images[path.stem].name} and "
                f"{path.name}), so it is unclear which one its label belongs to",
                "Rename or remove one of them.",
            )
        images[path.stem] = path
    if not images:
        raise ImageError(
            images_dir,
            "images folder holds no image files (*.jpg, *.png, *.bmp, *.webp, *.tif, ... any "
            "format Pillow reads)",
            "Point `images` at the folder with the photographs.",
        )
    return images
