"""When a loaded model may be let go: right after the last item of the run that needs it.

Keeping every model until the session ends makes peak memory the sum of the selected models
(six Xception graphs do not fit a 7 GB CI runner); releasing each after its last item makes it
follow the largest one. Standard library only: the plugin builds the plan at collection time.

The plan is made over the items in the order this process collected them (after -k/-m
deselection and any reordering plugin). Serially that is the run order, so each model is
released exactly once, after its last item. Under pytest-xdist a worker collects every item but
runs the subset it is sent: with `--dist loadgroup` all of a model's suite items are one work
unit on one worker, run in collection order, so the rule is still exact for them. An item that
runs after its model was released (user tests spread over workers, a reordering that happens
after collection) simply loads the model again; the session counts such reloads.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from typing import Any

from pytest_deeplab.constants import SUITE_PREFIX


def models_used(item: Any) -> set[str]:
    """The models an item needs: a suite item's model, or a user test's `deeplab_model`.

    Tests using `deeplab_session` directly may ask for any model; they are not tracked, and a
    model they ask for after its release is loaded again.
    """
    names: set[str] = set()
    nodeid = str(getattr(item, "nodeid", ""))
    if nodeid.startswith(SUITE_PREFIX):
        # xdist <= 3.8 appends `@<group>` to the ids of grouped items
        names.add(nodeid[len(SUITE_PREFIX):].split("::", 1)[0].split("@", 1)[0])
    params = getattr(getattr(item, "callspec", None), "params", None) or {}
    param = params.get("deeplab_model")
    if isinstance(param, str):
        names.add(param)
    return names


class ReleasePlan:
    """For each item, the models whose last use (in collection order) it is."""

    def __init__(self, items: Sequence[Any], known: Iterable[str]) -> None:
        wanted = set(known)
        last: dict[str, int] = {}
        for index, item in enumerate(items):
            for name in models_used(item) & wanted:
                last[name] = index
        self._items = list(items)  # keeps the ids below valid for the whole run
        self._after: dict[int, list[str]] = {}
        for name, index in last.items():
            self._after.setdefault(id(self._items[index]), []).append(name)

    def after(self, item: Any) -> list[str]:
        """Models to release once `item` has run (each named once per run)."""
        return self._after.pop(id(item), [])


def return_freed_memory() -> None:
    """Give the heap pages freed with a released model back to the system (glibc only).

    TensorFlow allocates from many threads, and glibc keeps what they free in per-thread
    arenas: without a trim, each released model leaves tens of MB resident and the residue
    grows with the number of models run (measured: 120 MiB over the bundled + real-zoo suite).
    `malloc_trim(0)` returns free pages of every arena; elsewhere this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # a C library without malloc_trim
        return
    trim(0)
