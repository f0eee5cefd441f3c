"""Errors whose message is already the whole story for a user (no traceback needed)."""

from __future__ import annotations

from pytest_deeplab.catalogue import CatalogueError
from pytest_deeplab.fetch import FetchError
from pytest_deeplab.golden import GoldenError
from pytest_deeplab.images import ImageError
from pytest_deeplab.runtime.base import ModelLoadError

FRIENDLY_ERRORS: tuple[type[BaseException], ...] = (
    CatalogueError, FetchError, GoldenError, ImageError, ModelLoadError,
)
