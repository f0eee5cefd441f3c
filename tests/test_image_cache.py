"""The prepared-image cache: least recently used first out, bounded in bytes (issue 14)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from pytest_deeplab.data.image_cache import ImageCache

MB = 1024 * 1024


def image(megabytes: int, fill: int = 0) -> np.ndarray:
    return np.full((megabytes, 1024, 1024), fill, dtype=np.uint8)


def make(value: np.ndarray, calls: list[str], key: str) -> Callable[[], np.ndarray]:
    """A maker that logs each call, so a test sees when the cache had to make an image."""
    def build() -> np.ndarray:
        calls.append(key)
        return value

    return build


def test_a_hit_returns_the_cached_image_without_making_it_again() -> None:
    cache = ImageCache(max_bytes=4 * MB)
    calls: list[str] = []
    first = cache.get("a", make(image(1, 7), calls, "a"))
    again = cache.get("a", make(image(1, 9), calls, "a"))
    assert again is first and calls == ["a"]
    assert int(again[0, 0, 0]) == 7


def test_the_least_recently_used_images_go_first_once_over_the_bound() -> None:
    cache = ImageCache(max_bytes=3 * MB)
    calls: list[str] = []
    for key in "abc":
        cache.get(key, make(image(1), calls, key))
    cache.get("a", make(image(1), calls, "a"))  # a is now the most recently used
    cache.get("d", make(image(2), calls, "d"))  # 2 MB more: b and c must go, a stays
    assert "a" in cache and "d" in cache
    assert "b" not in cache and "c" not in cache
    assert cache.nbytes == 3 * MB and len(cache) == 2
    cache.get("b", make(image(1), calls, "b"))  # made again, and a (now oldest) goes
    assert calls == ["a", "b", "c", "d", "b"]
    assert "a" not in cache and cache.nbytes == 3 * MB


def test_an_image_larger_than_the_bound_is_returned_but_not_kept() -> None:
    cache = ImageCache(max_bytes=2 * MB)
    calls: list[str] = []
    cache.get("small", make(image(1), calls, "small"))
    big = cache.get("big", make(image(3), calls, "big"))
    assert big.nbytes == 3 * MB
    assert "big" not in cache and "small" in cache and cache.nbytes == MB


def test_a_negative_bound_is_refused() -> None:
    with pytest.raises(ValueError, match="max_bytes must be >= 0"):
        ImageCache(max_bytes=-1)
