"""Errors whose message is already the whole story for a user (no traceback needed)."""

from __future__ import annotations

from pytest_deeplab.catalogue.zoo import CatalogueError
from pytest_deeplab.data.images import ImageError
from pytest_deeplab.fetching.fetch import FetchError
from pytest_deeplab.golden.store import GoldenError
from pytest_deeplab.runtime.base import ModelLoadError

FRIENDLY_ERRORS: tuple[type[BaseException], ...] = (
    CatalogueError, FetchError, GoldenError, ImageError, ModelLoadError,
)


class DeepLabFailure(AssertionError):
    """A check that failed; pytest shows the message alone (a traceback would only add noise)."""
