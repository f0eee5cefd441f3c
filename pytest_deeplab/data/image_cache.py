"""A least-recently-used cache of prepared images, bounded in bytes rather than in entries.

Items reuse a demo-resized image (a model's mask items and its latency item; models sharing an
input size), so re-decoding it each time wastes seconds; caching every image of a large dataset
would instead grow memory with the dataset. A bound in bytes keeps the reuse and caps the cost:
a 2049-px Cityscapes frame weighs 6 MB, a 513-px VOC photo 0.5 MB. (functools.lru_cache bounds
the number of entries only.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

DEFAULT_MAX_BYTES = 64 * 1024 * 1024


class ImageCache:
    """Arrays by key; once over `max_bytes`, the least recently used are dropped first.

    An array larger than the whole bound is returned without being kept.
    """

    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, not {max_bytes}")
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], Any]) -> Any:
        """The cached array for `key`, else `make()`'s, kept if it fits."""
        if key in self._entries:
            self._entries.move_to_end(key)
            return self._entries[key]
        value = make()
        size = int(value.nbytes)
        if size > self.max_bytes:
            return value
        while self._entries and self.nbytes + size > self.max_bytes:
            _, dropped = self._entries.popitem(last=False)
            self.nbytes -= int(dropped.nbytes)
        self._entries[key] = value
        self.nbytes += size
        return value

    def __contains__(self, key: Hashable) -> bool:
        return key in self._entries

    def __len__(self) -> int:
        return len(self._entries)
