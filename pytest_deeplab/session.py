"""One pytest session's DeepLab state: the selection, model files, loaded models and results.

Models are loaded once per session whatever the number of items that use them, and released
after the last item that needs them (suite/release.py), so peak memory follows the largest
model; images are read and demo-resized once per (image, input size), in a cache bounded in bytes.
"""

from __future__ import annotations

from dataclasses import asdict
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab import __version__
from pytest_deeplab.catalogue.bundled import fixtures_dir
from pytest_deeplab.catalogue.config import load_config_file
from pytest_deeplab.catalogue.selection import Catalogue, build_catalogue
from pytest_deeplab.catalogue.specs import CatalogueError, DatasetSpec, ModelSpec
from pytest_deeplab.data.image_cache import ImageCache
from pytest_deeplab.data.images import demo_resize, load_rgb
from pytest_deeplab.data.labels import find_pairs
from pytest_deeplab.data.labelsets import LabelSet, get_label_set
from pytest_deeplab.data.listing import ImageRef, list_images
from pytest_deeplab.fetching.model_files import ModelFiles
from pytest_deeplab.golden.store import GoldenStore
from pytest_deeplab.options import DeepLabOptions
from pytest_deeplab.suite.model_pool import ModelPool
from pytest_deeplab.verdicts.results import ModelResults


class SelectionError(CatalogueError):
    """The selection is empty or cannot be had: a gate must not pass because nothing ran."""


class DeepLabSession:
    """Resolves the selection at collection time and serves models and images to the items."""

    def __init__(self, options: DeepLabOptions) -> None:
        self.options = options
        self.catalogue = self._load_catalogue()
        self.selected: list[ModelSpec] = self._select()
        self.selection = list(self.selected)  # every shard agrees on it (the results file)
        self.plan: Any = None  # shards.plan.ShardPlan under --deeplab-shard
        if options.shard is not None:
            self.selected = self._shard_of(options.shard)
        self.unavailable: dict[str, str] = {}
        self.collected = False  # set once the suite's items exist (the summary needs them)
        self.worker_identity: dict[str, Any] | None = None
        self.unused_goldens: list[Path] = []
        self.pruned: list[Path] = []
        self.prune_refused = ""
        self.results: dict[str, ModelResults] = {m.name: ModelResults() for m in self.selected}
        self.files = ModelFiles(options)
        self.pool = ModelPool(self._load, self.results)  # the models loaded in this process
        self._images = ImageCache()
        self.report: Any = None  # the plugin sets a ReportRecorder under --deeplab-report

    # -- selection ---------------------------------------------------------------------------

    def _load_catalogue(self) -> Catalogue:
        path = self.options.config_file
        if path is None:
            candidate = self.options.rootdir / "pyproject.toml"
            path = candidate if candidate.is_file() else None
        user = load_config_file(path) if path else None
        if user is not None and path is not None and path.name == "pyproject.toml":
            user = user if len(user) > 1 else None  # a pyproject without our table
        return build_catalogue(user, path.parent if path else self.options.rootdir)

    def _select(self) -> list[ModelSpec]:
        spec = self.options.models or ""
        selected = self.catalogue.select(spec)
        if not selected:
            raise SelectionError(
                f"--deeplab-models={spec!r} selects no model, so nothing would be tested. "
                "Name models, or use all / bundled / official; `pytest-deeplab list` shows them."
            )
        return selected

    def _shard_of(self, shard: Any) -> list[ModelSpec]:
        """This job's models: the suite, fetching, goldens and `deeplab_model` all use them."""
        from pytest_deeplab.shards.costs import expected_costs
        from pytest_deeplab.shards.plan import plan_shards

        self.plan = plan_shards(expected_costs(self.selection, self._image_count), shard.count)
        keep = set(self.plan.models_of(shard.index))
        return [m for m in self.selection if m.name in keep]

    def _image_count(self, model: ModelSpec) -> int:
        try:
            return len(self.golden_images(model)) + len(self.labelled_pairs(model))
        except (ValueError, OSError):  # CatalogueError, ImageError: its own items report it
            return 1

    @property
    def every_model(self) -> bool:
        return self.options.models is not None and "all" in self.options.models.split(",")

    # -- model files -------------------------------------------------------------------------

    def ensure_available(self) -> None:
        """Fetch (or find in the cache) every selected model before any item runs.

        Missing models are gathered into one error listing all of them, unless
        --deeplab-allow-missing turns each into a skip with its reason.
        """
        from pytest_deeplab.fetching.fetch import FetchError

        self.check_golden_images()
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

    def check_golden_images(self) -> None:
        """Every selected model's golden images must be listable before anything runs: a missing
        folder, two images with one stem or a name that cannot name a golden is a usage error
        naming the model, not a crash at the end of the run."""
        for model in self.selected:
            try:
                self.golden_images(model)
            except CatalogueError as exc:
                raise SelectionError(
                    f"model {model.name} (its golden_images, or its dataset's images): {exc}"
                ) from None

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
            num_classes=self.label_set(model).num_classes,
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
        self.collected = True

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

    def golden_store_root(self) -> GoldenStore:
        """The user's golden dir alone (where updates and pruning happen)."""
        return GoldenStore(self.options.golden_dir)

    def label_set(self, model: ModelSpec) -> LabelSet:
        return get_label_set(model.label_set)

    def dataset(self, model: ModelSpec) -> DatasetSpec | None:
        return self.catalogue.datasets.get(model.dataset) if model.dataset else None

    def golden_images(self, model: ModelSpec) -> list[ImageRef]:
        """Images whose masks are pinned: the model's golden_images, else its dataset's images."""
        dataset = self.dataset(model)
        suffix = dataset.label_suffix if dataset else ""
        directory = model.golden_images or (dataset.images if dataset else None)
        return list_images(directory, exclude_suffix=suffix) if directory else []

    def labelled_pairs(self, model: ModelSpec) -> list[tuple[Path, Path]]:
        dataset = self.dataset(model)
        if dataset is None or dataset.labels is None:
            return []
        return find_pairs(dataset.images, dataset.labels, dataset.label_suffix)

    def prepared_image(self, path: Path, input_size: int) -> np.ndarray:
        """RGB uint8, demo-resized to the model's input size (cached, bounded in bytes)."""
        image: np.ndarray = self._images.get(
            (path, input_size), lambda: demo_resize(load_rgb(path), input_size)
        )
        return image
