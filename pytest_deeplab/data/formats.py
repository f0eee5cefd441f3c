"""Which files are images: every format the installed Pillow can decode into pixels.

Kept apart from `images` so that listing a folder (collection time) does not import Pillow's
plugins until a folder is actually listed, and the plugin's import stays cheap.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

# Formats Pillow lists but cannot turn into pixels by itself: vector PostScript (needs
# Ghostscript), MPEG (header only) and the stub formats (BUFR, GRIB, HDF5, WMF) that need a
# handler installed by the application.
_NOT_PHOTOS = frozenset({"EPS", "MPEG"})


@cache
def image_suffixes() -> frozenset[str]:
    """Suffixes (lower case, with the dot) of every format this Pillow can read into pixels.

    `find_pairs` and the suite's golden-image listing take these files as images: BMP, WebP,
    TIFF, GIF, ... as well as JPEG and PNG. Asked on first use: registering every Pillow plugin
    costs a few tenths of a second, which `pytest --help` must not pay.
    """
    from PIL import Image, ImageFile

    Image.init()
    readable = set()
    for suffix, fmt in Image.registered_extensions().items():
        factory = Image.OPEN.get(fmt, (None,))[0]
        if factory is None or fmt in _NOT_PHOTOS:
            continue
        if isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile):
            continue
        readable.add(suffix.lower())
    return frozenset(readable)


def is_image_file(path: Path) -> bool:
    """Whether the suite takes this file as an image (by suffix, case-insensitive)."""
    return path.suffix.lower() in image_suffixes()
