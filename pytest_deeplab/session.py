"""One pytest session's DeepLab state: model files, loaded models, images and results.

Models are loaded once per session whatever the number of items that use them, and released
after the last item that needs them (suite/release.py), so peak memory follows the largest
model; images are read and demo-resized once per (image, input size), in a cache bounded in bytes.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pytest_deeplab import __version__
from pytest_deeplab.catalogue.bundled import fixtures_dir
from pytest_deeplab.catalogue.resolved import Selection, SelectionError, resolve_selection
from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.data.image_cache import ImageCache
from pytest_deeplab.data.images import demo_resize, load_rgb
from pytest_deeplab.fetching.model_files import ModelFiles
from pytest_deeplab.golden.store import GoldenStore
from pytest_deeplab.options import DeepLabOptions
from pytest_deeplab.report.collect import ReportRecorder
from pytest_deeplab.suite.model_pool import ModelPool
from pytest_deeplab.verdicts.results import ModelResults

if TYPE_CHECKING:
    from pytest_deeplab.report.cards import CardView
    from pytest_deeplab.report.run import RunRecord

__all__ = ["DeepLabSession", "SelectionError"]  # SelectionError: where it was first defined


class DeepLabSession:
    """Serves one run's selected models and images to its items, and keeps their figures.

    What is selected is `selection` (catalogue/resolved.py), the loaded models are `pool`
    (suite/model_pool.py); `run_record` is what the reports read at the end.
    """

    def __init__(self, options: DeepLabOptions, selection: Selection | None = None) -> None:
        self.options = options
        self.selection = selection or resolve_selection(options)
        self.catalogue = self.selection.catalogue
        self.selected: list[ModelSpec] = self.selection.selected  # this shard's models
        self.unavailable: dict[str, str] = {}
        self.collected = False  # the suite's items exist, here or on a worker (mark_collected)
        self.worker_identity: dict[str, Any] | None = None
        self.results: dict[str, ModelResults] = {m.name: ModelResults() for m in self.selected}
        self.files = ModelFiles(options)
        self.pool = ModelPool(self._load, self.results)  # the models loaded in this process
        self._images = ImageCache()
        self.report = ReportRecorder() if options.report is not None else None

    # -- model files -------------------------------------------------------------------------

    def ensure_available(self) -> None:
        """Fetch (or find in the cache) every selected model before any item runs.

        Missing models are gathered into one error listing all of them, unless
        --deeplab-allow-missing turns each into a skip with its reason.
        """
        from pytest_deeplab.fetching.fetch import FetchError

        self.selection.check_golden_images()
        self.files.require_pins(self.selected)  # fail closed before any fetch, never a skip
        problems: dict[str, str] = {}
        for model in self.selected:
            try:
                self.model_file(model)
            except FetchError as exc:
                tried = "; ".join(f"{a.source}: {a.reason}" for a in exc.attempts)
                problems[model.name] = tried or str(exc)
            except OSError as exc:
                problems[model.name] = str(exc)
        if problems and not self.options.allow_missing:
            listing = "\n".join(f"  - {name}: {why}" for name, why in problems.items())
            names = " ".join(problems)
            raise SelectionError(
                f"{len(problems)} selected model(s) cannot be had:\n{listing}\n"
                "Ways to provide them: --deeplab-mirror=URL|DIR (a copy laid out like "
                "download.tensorflow.org/models/), a cache that has them (--deeplab-cache-dir or "
                f"PYTEST_DEEPLAB_CACHE; pre-warm it with `pytest-deeplab fetch {names}`), or "
                "turn them into skips with --deeplab-allow-missing."
            )
        self.unavailable = problems
        for name, why in problems.items():
            self.results[name].skipped = why

    def model_file(self, model: ModelSpec) -> Path:
        """The model file on disk: a local path as is, archives and URLs through the cache."""
        path = self.files.path(model)
        pinned = self.files.mirror_pins.get(model.name)
        if pinned is not None and model.name in self.results:  # the summary says so
            self.results[model.name].mirror_pin = pinned.as_dict()
        return path

    def model_sha256(self, model: ModelSpec) -> str:
        """sha256 of the model file itself (golden metadata ties a golden to this exact file)."""
        return self.files.sha256(model)

    def predictor(self, model: ModelSpec) -> Any:
        """The loaded model, once per session (suite.model_pool)."""
        return self.pool.get(model)

    def _load(self, model: ModelSpec) -> Any:
        """Load one model through its format: the op allowlist check first (runtime.formats)."""
        from pytest_deeplab.runtime import load_predictor
        from pytest_deeplab.runtime.formats import own_settings

        return load_predictor(
            model.name,
            self.model_file(model),
            model.format,
            input_tensor=model.input_tensor,
            output_tensor=model.output_tensor,
            threads=self.options.threads,
            xnnpack=model.xnnpack and self.options.xnnpack,
            resize=model.resize,
            settings=own_settings(model),
            label_set=model.label_set,
            num_classes=self.selection.label_set(model).num_classes,
            allow_ops=model.allow_ops,
        )

    def input_size(self, model: ModelSpec) -> int:
        """The long side images are demo-resized to: the configured input_size, else the size
        the model file declares (TF Lite; loads the model, once)."""
        if model.input_size:
            return model.input_size
        size = self.predictor(model).input_size
        if not size:
            from pytest_deeplab.runtime import ModelLoadError

            raise ModelLoadError(
                f"model {model.name}: its file declares no fixed input size; set input_size in "
                f"[tool.pytest-deeplab.models.{model.name}]"
            )
        return int(size)

    def runtime_record(self, model: ModelSpec) -> dict[str, Any] | None:
        """How a loaded model runs (TF Lite: interpreter, XNNPACK, threads, resize; Keras: its
        version); None for formats without such choices or a model not loaded here."""
        return self.pool.runtime_record(model.name)

    @cached_property
    def identity(self) -> dict[str, Any]:
        from pytest_deeplab.runtime.identity import runtime_identity

        ident = runtime_identity(self.options.threads, self.options.xnnpack).as_dict()
        ident["plugin_version"] = __version__
        return ident

    def loaded_models(self) -> list[str]:
        """Names of the models loaded in this process (not counting xdist workers')."""
        return self.pool.loaded()

    @property
    def any_model_loaded(self) -> bool:
        return bool(self.pool.loads) or self.worker_identity is not None

    def export(self) -> dict[str, Any]:
        """What an xdist worker sends to the controller (plain JSON-able data)."""
        return {
            "results": {name: asdict(result) for name, result in self.results.items()},
            "identity": self.identity if self.pool.loads else None,
            "report": self.report.export() if self.report is not None else None,
            "loads": dict(self.pool.loads),
        }

    def merge_worker(self, data: dict[str, Any]) -> None:
        """Merge a worker's export so the controller's summary covers the whole run."""
        for name, result in data.get("results", {}).items():
            if name in self.results:
                self.results[name].merge(result)
        if data.get("identity"):
            self.worker_identity = data["identity"]
        self.pool.worker_loads.update(data.get("loads", {}))
        if data.get("report") and self.report is not None:
            self.report.merge(data["report"])
        self.mark_collected()

    def mark_collected(self) -> None:
        """The suite's items exist (here, or on an xdist worker): the summary has something."""
        self.collected = True

    def run_record(self, cards: list[CardView] | None = None) -> RunRecord:
        """What the reports read of this run once it is over (report/run.py)."""
        from pytest_deeplab.report.run import ModelEntry, RunRecord

        return RunRecord(
            models=[ModelEntry.of(m) for m in self.selected], results=self.results,
            identity=self.run_identity() if self.any_model_loaded else None,
            recorder=self.report or ReportRecorder(), cards=list(cards or []),
            threads=self.options.threads, reloads=self.pool.reloads)

    def run_identity(self) -> dict[str, Any]:
        """TF identity of whoever ran the models: this process, or an xdist worker."""
        return self.worker_identity if self.worker_identity and not self.pool.loads else (
            self.identity
        )

    def release(self, name: str) -> None:
        """Close and drop a loaded model (its last item has run); a later use reloads it."""
        self.pool.release(name)

    @property
    def reloads(self) -> int:
        """Loads beyond the first per model, here and on xdist workers."""
        return self.pool.reloads

    def close(self) -> None:
        """Release sessions and interpreters (kept listed so the summary knows TF was used)."""
        self.pool.close()

    # -- images and datasets -----------------------------------------------------------------

    def golden_store(self, model: ModelSpec) -> GoldenStore:
        """The user's golden dir first; bundled models fall back to the goldens shipped with us."""
        fallbacks = [fixtures_dir() / "golden"] if model.source == "bundled" else []
        return GoldenStore(self.options.golden_dir, fallbacks)

    def prepared_image(self, path: Path, input_size: int) -> np.ndarray:
        """RGB uint8, demo-resized to the model's input size (cached, bounded in bytes)."""
        image: np.ndarray = self._images.get(
            (path, input_size), lambda: demo_resize(load_rgb(path), input_size)
        )
        return image
