"""The images a model is checked on: a folder or glob, sorted, each with the id that names its
golden mask and its test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pytest_deeplab.catalogue.specs import CatalogueError
from pytest_deeplab.data.formats import is_image_file
from pytest_deeplab.golden.store import check_golden_name


@dataclass(frozen=True)
class ImageRef:
    """An image the suite runs a model on; `image_id` names its golden mask and test id."""

    image_id: str
    path: Path


def list_images(directory: Path, exclude_suffix: str = "") -> list[ImageRef]:
    """Images in a directory (or matching a glob such as `photos/demo_*.jpg`), sorted; label
    maps living beside them are left out."""
    pattern = "*"
    if any(ch in directory.name for ch in "*?["):
        directory, pattern = directory.parent, directory.name
    if not directory.is_dir():
        raise CatalogueError(f"image directory {directory} does not exist")
    refs: dict[str, ImageRef] = {}
    for path in sorted(directory.glob(pattern)):
        if not is_image_file(path):
            continue
        if exclude_suffix and path.stem.endswith(exclude_suffix):
            continue
        if path.stem in refs:  # scene.jpg + scene.png: one golden file and one test id for both
            raise CatalogueError(
                f"{path}: two images share the stem {path.stem!r} ({refs[path.stem].path.name} "
                f"and {path.name}), so they would share one golden mask and one test id. "
                "Rename or remove one of them."
            )
        try:
            check_golden_name(path.stem, "image id")
        except ValueError:
            raise CatalogueError(
                f"{path}: the name {path.stem!r} cannot name a golden mask or a test id. Rename "
                "the image using letters, digits, '.', '_', '+', '-' (no spaces)."
            ) from None
        refs[path.stem] = ImageRef(path.stem, path)
    return list(refs.values())
