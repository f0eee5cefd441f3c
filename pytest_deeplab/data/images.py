"""Reading images and label maps, DeepLab-demo preprocessing, indexed-PNG masks and colours.

Everything here is numpy + Pillow: it runs (and is tested) without TensorFlow. Errors are
`ImageError`s that name the file, say what is wrong with it and how to fix it, because the
person reading them is looking at a CI log, not at this code.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from pytest_deeplab.data.formats import is_image_file
from pytest_deeplab.data.labelsets import LabelSet, colour_indices

PathLike = Union[str, "os.PathLike[str]"]

# Pillow 10 removed `Image.ANTIALIAS` (the demo's name) and moved filters to `Image.Resampling`
# (9.1+); LANCZOS is the same filter under every name.
try:
    LANCZOS: Any = Image.Resampling.LANCZOS
    NEAREST: Any = Image.Resampling.NEAREST
except AttributeError:  # pragma: no cover - Pillow < 9.1
    LANCZOS = Image.LANCZOS  # type: ignore[attr-defined]
    NEAREST = Image.NEAREST  # type: ignore[attr-defined]

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_MODES = {"RGBA": "colour image with alpha", "LA": "grey with alpha", "PA": "palette with alpha",
          "1": "1-bit black and white", "CMYK": "CMYK colour"}
_LABEL_FIX = (
    "Save label maps as palette ('P') PNGs, as PASCAL VOC's SegmentationClass does, as "
    "single-channel grey ('L') PNGs whose pixel values are the class indices, or as RGB PNGs "
    "in the label set's colours."
)


class ImageError(ValueError):
    """A bad image, label map or mask file: the message names it, the problem and the fix."""

    def __init__(self, path: PathLike, problem: str, fix: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        self.fix = fix
        message = f"{self.path}: {problem}"
        super().__init__(f"{message}. {fix}" if fix else message)


# --------------------------------------------------------------------------- opening files


def _open(path: PathLike, what: str) -> Image.Image:
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
    return _to_rgb(_open(path, "image"), path)


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
        rgb = image.convert("RGB")
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
    image = _open(path, "label map")
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


# --------------------------------------------------------------------------- masks


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


def write_atomically(path: PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Write through a temporary file in the same directory, then `os.replace` it into place.

    A crash or an exception part-way leaves the previous file (e.g. a golden mask) intact and
    no half-written file under the real name; the rename is atomic on POSIX and Windows.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed before the rename
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    temporary = Path(handle.name)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


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
    image = _open(path, "mask")
    if image.mode not in ("P", "L"):
        raise ImageError(
            path,
            f"mask has mode {image.mode!r}, not a palette or grey PNG, so it holds colours "
            "rather than class indices",
            "Re-create it with `pytest --deeplab-update-golden` (masks are written as palette "
            "PNGs).",
        )
    return np.asarray(image, dtype=np.uint8).copy()


# --------------------------------------------------------------------------- datasets


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
