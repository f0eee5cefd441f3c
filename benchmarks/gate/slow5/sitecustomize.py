"""A candidate made slower on purpose, to prove the gate sees it (benchmarks/gate/prove.sh).

Put this folder on the candidate's PYTHONPATH only (`--env-b PYTHONPATH=benchmarks/gate/slow5`):
Python imports `sitecustomize` at startup, and this one wraps every model the gate worker
loads so that each `predict` busy-waits until it has taken DEEPLAB_SLOWDOWN (default 1.05)
times its own duration. Busy, not sleeping: the CPU time grows by the same factor.
"""

from __future__ import annotations

import os
import time
from typing import Any

FACTOR = float(os.environ.get("DEEPLAB_SLOWDOWN", "1.05"))


class _Slower:
    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def predict(self, image: Any) -> Any:
        start = time.perf_counter()
        mask = self.inner.predict(image)
        until = start + (time.perf_counter() - start) * FACTOR
        while time.perf_counter() < until:
            pass
        return mask

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _install() -> None:
    try:
        import pytest_deeplab.runtime as runtime
    except ImportError:  # not a gate worker's environment: do nothing
        return
    original = runtime.load_predictor

    def load_predictor(*args: Any, **kwargs: Any) -> Any:
        return _Slower(original(*args, **kwargs))

    runtime.load_predictor = load_predictor


_install()
