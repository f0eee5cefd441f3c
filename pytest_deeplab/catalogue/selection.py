"""The run's catalogue: bundled, official and user models merged; `--deeplab-models` resolved."""

from __future__ import annotations

import difflib
import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pytest_deeplab.catalogue.bundled import bundled_catalogue
from pytest_deeplab.catalogue.config import apply_user_config
from pytest_deeplab.catalogue.official import OFFICIAL_MODELS
from pytest_deeplab.catalogue.specs import CatalogueError, DatasetSpec, ModelSpec
from pytest_deeplab.data.labelsets import label_set_mismatch


@dataclass
class Catalogue:
    """Every model and dataset known to this run, by name."""

    models: dict[str, ModelSpec]
    datasets: dict[str, DatasetSpec]

    def by_source(self, source: str) -> list[ModelSpec]:
        return [m for m in self.models.values() if m.source == source]

    def select(self, spec: str) -> list[ModelSpec]:
        """Resolve `all`, `bundled`, `official`, `user`, or comma-separated names and globs.

        An unknown name is an error that suggests close names: a typo must never shrink the
        suite silently.
        """
        chosen: dict[str, ModelSpec] = {}
        for token in (t.strip() for t in spec.split(",")):
            if not token:
                continue
            for model in self._resolve(token):
                chosen.setdefault(model.name, model)
        return list(chosen.values())

    def _resolve(self, token: str) -> list[ModelSpec]:
        if token == "all":
            return list(self.models.values())
        if token in ("bundled", "official", "user"):
            return self.by_source(token)
        if token in self.models:
            return [self.models[token]]
        if any(ch in token for ch in "*?["):
            matched = [m for n, m in self.models.items() if fnmatch.fnmatchcase(n, token)]
            if matched:
                return matched
            raise CatalogueError(f"--deeplab-models: the pattern {token!r} matches no model. "
                                 "Run `pytest-deeplab list` to see the catalogue.")
        close = difflib.get_close_matches(token, list(self.models), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise CatalogueError(
            f"--deeplab-models: unknown model {token!r}.{hint} "
            "Use all, bundled, official, user, names or globs; `pytest-deeplab list` shows them."
        )


def build_catalogue(user_config: Mapping[str, Any] | None, config_dir: Path) -> Catalogue:
    """Merge bundled, official and user entries; user entries may override official settings."""
    bundled_models, bundled_datasets = bundled_catalogue()
    # Official models are pinned on the bundled golden scenes until a user names photos of
    # their own: any fixed input shows whether a model's masks moved between TF versions.
    scenes = bundled_models[0].golden_images if bundled_models else None
    official = [replace(m, golden_images=m.golden_images or scenes) for m in OFFICIAL_MODELS]
    models = {m.name: m for m in (*bundled_models, *official)}
    datasets = {d.name: d for d in bundled_datasets}
    if user_config:
        apply_user_config(user_config, config_dir, models, datasets)
    for model in models.values():
        if model.dataset and model.dataset not in datasets:
            raise CatalogueError(
                f"model {model.name!r} names dataset {model.dataset!r}, which is not defined. "
                f"Known datasets: {', '.join(sorted(datasets)) or 'none'}."
            )
        dataset = datasets.get(model.dataset or "")
        problem = label_set_mismatch(model, dataset) if dataset else ""
        if problem:  # a bundled model, or one the user's configuration did not touch
            raise CatalogueError(f"{model.source} model: {problem}")
    return Catalogue(models, datasets)
