"""The mIOU item's bounded prefetch: order kept, never more than `depth` items loaded ahead,
a loading error raised at the item that failed, and no thread left behind when the consumer
stops, early or on an error."""

from __future__ import annotations

import random
import threading
import time
from contextlib import closing

import pytest

from pytest_deeplab.data.prefetch import THREAD_NAME, prefetched

WAIT_S = 10.0  # generous: the machine running the tests may be busy


def loader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME)]


class Recorder:
    """A loader that notes which items it started, and on which thread."""

    def __init__(self, fail_at: int | None = None, delay_s: float = 0.0) -> None:
        self.started: list[int] = []
        self.threads: set[str] = set()
        self.fail_at = fail_at
        self.delay_s = delay_s
        self.error: ValueError | None = None
        self.changed = threading.Condition()

    def __call__(self, item: int) -> str:
        with self.changed:
            self.started.append(item)
            self.threads.add(threading.current_thread().name)
            self.changed.notify_all()
        time.sleep(self.delay_s * random.random())
        if item == self.fail_at:
            self.error = ValueError(f"scene_{item:03d}.jpg: image is corrupt or truncated")
            raise self.error
        return f"loaded {item}"

    def wait_until_started(self, item: int) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: item in self.started, timeout=WAIT_S)


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_items_come_back_in_order(depth: int) -> None:
    random.seed(depth)
    loader = Recorder(delay_s=0.004)  # uneven load times must not reorder anything
    assert list(prefetched(range(40), loader, depth)) == [f"loaded {i}" for i in range(40)]
    assert loader.started == list(range(40))
    assert not loader_threads()


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_loads_run_ahead_on_a_thread_but_never_more_than_depth_items(depth: int) -> None:
    loader = Recorder()
    count = 12
    with closing(prefetched(range(count), loader, depth)) as loaded:
        for index, value in enumerate(loaded):
            assert value == f"loaded {index}"
            # While the consumer holds item `index`, the thread loads up to `depth` ahead ...
            ahead = min(index + depth, count - 1)
            assert loader.wait_until_started(ahead), (index, loader.started)
            # ... and no further, however long the consumer takes.
            time.sleep(0.02)
            assert max(loader.started) == ahead, (index, loader.started)
    assert loader.threads == {f"{THREAD_NAME}_0"}


def test_depth_zero_loads_in_the_consumers_thread() -> None:
    loader = Recorder()
    for index, _ in enumerate(prefetched(range(5), loader, depth=0)):
        assert loader.started == list(range(index + 1))
    assert loader.threads == {threading.current_thread().name}


def test_a_negative_depth_is_refused_when_called() -> None:
    with pytest.raises(ValueError, match="prefetch depth must be 0 or more, got -1"):
        prefetched([1], str, depth=-1)


@pytest.mark.parametrize("depth", [0, 2])
def test_a_loading_error_is_raised_at_its_own_item_after_the_ones_before(depth: int) -> None:
    loader = Recorder(fail_at=3)
    received: list[str] = []
    with pytest.raises(ValueError, match=r"scene_003\.jpg: image is corrupt") as info:
        for value in prefetched(range(8), loader, depth):
            received.append(value)
    assert received == ["loaded 0", "loaded 1", "loaded 2"]
    assert info.value is loader.error  # the loader's own exception, not a wrapper
    assert max(loader.started) <= 3 + depth
    assert not loader_threads()


def test_closing_early_stops_the_thread_at_once() -> None:
    loader = Recorder(delay_s=0.01)
    loaded = prefetched(range(100), loader, depth=3)
    assert [next(loaded), next(loaded)] == ["loaded 0", "loaded 1"]
    assert loader_threads()  # running while the consumer iterates
    loaded.close()
    assert not loader_threads()
    started = len(loader.started)
    assert started <= 2 + 3
    time.sleep(0.05)
    assert len(loader.started) == started  # nothing is loaded after close


def test_an_error_in_the_consumer_stops_the_thread() -> None:
    loader = Recorder()

    def consume() -> None:
        with closing(prefetched(range(100), loader, depth=2)) as loaded:
            for value in loaded:
                if value == "loaded 5":
                    raise RuntimeError("the model failed on image 5")

    with pytest.raises(RuntimeError, match="the model failed on image 5"):
        consume()
    assert not loader_threads()
    assert max(loader.started) <= 5 + 2


def test_an_unfinished_prefetch_that_never_started_has_no_thread() -> None:
    loaded = prefetched(range(3), Recorder(), depth=2)
    assert not loader_threads()
    loaded.close()
    assert not loader_threads()
