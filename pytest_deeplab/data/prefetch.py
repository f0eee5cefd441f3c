"""Load the next few items on a background thread while the caller works on the current one.

Why: an mIOU pass decodes and resizes each image (Pillow) and then runs the model (TensorFlow).
Both release the GIL, so loading image i+1 on a thread while image i is being predicted
overlaps the two for real. The look-ahead is bounded, so memory stays flat whatever the
dataset's size; order is kept; a loading error is raised, unchanged, at the item that failed
(after the items before it were handed out); and the thread is stopped and joined as soon as
the consumer stops, early or not. Standard library only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from itertools import islice
from typing import TypeVar

Item = TypeVar("Item")
Loaded = TypeVar("Loaded")

THREAD_NAME = "deeplab-prefetch"
"""Prefix of the loader thread's name (what a test or a debugger looks for)."""


def prefetched(
    items: Iterable[Item], load: Callable[[Item], Loaded], depth: int = 2
) -> Generator[Loaded, None, None]:
    """`load(item)` for each item, in order, loaded up to `depth` items ahead on one thread.

    While the consumer holds item i, at most items i+1 .. i+depth have been (or are being)
    loaded; item i+depth+1 is started only once the consumer asks for item i+1. `depth=0`
    loads in the consumer's thread, one item at a time (no thread at all).

    If `load` raises for an item, that exception is raised when the consumer reaches the item.
    A consumer that may stop early should close the iterator (`contextlib.closing`), so the
    thread is shut down at once rather than when the generator is garbage-collected; closing
    waits for at most the one load in progress and discards what was loaded ahead.
    """
    if depth < 0:
        raise ValueError(f"prefetch depth must be 0 or more, got {depth}")
    if depth == 0:
        return (load(item) for item in items)
    return _ahead(iter(items), load, depth)


def _ahead(
    source: Iterator[Item], load: Callable[[Item], Loaded], depth: int
) -> Generator[Loaded, None, None]:
    """The threaded generator: its `finally` stops the thread however iteration ends."""
    pending: deque[Future[Loaded]] = deque()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_NAME)
    try:
        while True:
            # Keep the item asked for plus `depth` behind it in flight; the consumer has
            # finished with the previous item, so that is `depth` ahead of what it will hold.
            wanted = depth + 1 - len(pending)
            pending.extend(pool.submit(load, item) for item in islice(source, wanted))
            if not pending:
                return
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True)
