"""The models one process has loaded: each loaded once whatever the number of items that use it,
its very first call timed apart, a failed load refused once, released after its last item.

Kept apart from the session (which holds the selection, files and images) so the one place
that holds loaded models, and so TensorFlow's memory, is small enough to read whole.
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.suite.release import return_freed_memory
from pytest_deeplab.verdicts.results import ModelResults


class FirstCallTimed:
    """Times a loaded model's very first `predict`, whichever item makes it.

    The first `session.run` builds kernels and is several times slower than the rest (the seed
    question's %%time puzzle); it is reported apart, never mixed into latency statistics.
    """

    def __init__(self, inner: Any, results: ModelResults | None) -> None:
        self.inner = inner
        self._results = results  # None: not timed (a reload after release)

    def predict(self, image: np.ndarray) -> np.ndarray:
        if self._results is None:
            mask: np.ndarray = self.inner.predict(image)
            return mask
        start = time.perf_counter()
        mask = self.inner.predict(image)
        self._results.first_call_s = time.perf_counter() - start
        self._results = None
        return mask

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class ModelPool:
    """Loaded predictors by model name; `load` builds one (the session's: format, settings)."""

    def __init__(self, load: Callable[[ModelSpec], Any], results: dict[str, ModelResults]) -> None:
        self._load = load
        self._results = results
        self._predictors: dict[str, Any] = {}
        self._load_errors: dict[str, str] = {}
        self._released_records: dict[str, dict[str, Any]] = {}
        self.loads: Counter[str] = Counter()  # loads per model here; > 1 is a reload
        self.worker_loads: Counter[str] = Counter()  # what xdist workers reported

    def get(self, model: ModelSpec) -> Any:
        """The loaded model. A model that fails to load is tried once: its later items fail
        with the same message, without reloading (a damaged file is refused once, not per item)."""
        from pytest_deeplab.runtime import ModelLoadError

        if model.name in self._load_errors:
            raise ModelLoadError(self._load_errors[model.name])
        if model.name not in self._predictors:
            try:
                loaded = self._load(model)
            except Exception as exc:
                self._load_errors[model.name] = (
                    str(exc) if isinstance(exc, ModelLoadError)
                    else f"model {model.name} failed to load: {type(exc).__name__}: {exc}"
                )
                raise
            first = model.name not in self.loads
            self.loads[model.name] += 1
            self._predictors[model.name] = FirstCallTimed(
                loaded, self._results[model.name] if first else None
            )
        return self._predictors[model.name]

    def runtime_record(self, name: str) -> dict[str, Any] | None:
        """How a loaded (or since released) model runs; None for formats without a record."""
        loaded = self._predictors.get(name)
        record = getattr(loaded, "runtime_record", None) if loaded is not None else None
        if record is None:
            kept = self._released_records.get(name)
            return dict(kept) if kept is not None else None
        return dict(record())

    def loaded(self) -> list[str]:
        return sorted(self.loads)

    def release(self, name: str) -> None:
        """Close and drop a loaded model; a later use reloads it."""
        predictor = self._predictors.pop(name, None)
        if predictor is None:
            return
        record = getattr(predictor, "runtime_record", None)
        if record is not None:  # golden metadata and machine_info still describe how it ran
            self._released_records[name] = dict(record())
        predictor.close()
        del predictor, record
        gc.collect()  # TF graphs and sessions sit in reference cycles
        return_freed_memory()

    @property
    def reloads(self) -> int:
        """Loads beyond the first per model, here and on xdist workers."""
        return sum(n - 1 for n in (self.loads + self.worker_loads).values() if n > 1)

    def close(self) -> None:
        for predictor in self._predictors.values():
            predictor.close()
