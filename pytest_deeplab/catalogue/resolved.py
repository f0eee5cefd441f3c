"""What a run selects: the catalogue read from the options, `--deeplab-models` resolved, the shard.

Everything here follows from the options and the files they name, and nothing loads a model, so
the plugin, the gate and every CLI command resolve a selection the same way without building a
session (`resolve_selection`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_deeplab.catalogue.config import load_config_file
from pytest_deeplab.catalogue.selection import Catalogue, build_catalogue
from pytest_deeplab.catalogue.specs import CatalogueError, DatasetSpec, ModelSpec
from pytest_deeplab.data.labels import find_pairs
from pytest_deeplab.data.labelsets import LabelSet, get_label_set
from pytest_deeplab.data.listing import ImageRef, list_images
from pytest_deeplab.options import DeepLabOptions

if TYPE_CHECKING:
    from pytest_deeplab.shards.plan import Shard, ShardPlan


class SelectionError(CatalogueError):
    """The selection is empty or cannot be had: a gate must not pass because nothing ran."""


@dataclass(frozen=True)
class Selection:
    """The catalogue and the models chosen from it: this shard's (`selected`) and every
    shard's (`across_shards`, the same in every job; the results file records it)."""

    catalogue: Catalogue
    spec: str  # --deeplab-models as given
    selected: list[ModelSpec]
    across_shards: list[ModelSpec]
    plan: ShardPlan | None = None  # under --deeplab-shard

    @property
    def every_model(self) -> bool:
        """`all` was asked for: goldens of models gone from the catalogue count as unused."""
        return "all" in self.spec.split(",")

    def dataset(self, model: ModelSpec) -> DatasetSpec | None:
        return self.catalogue.datasets.get(model.dataset) if model.dataset else None

    def label_set(self, model: ModelSpec) -> LabelSet:
        return get_label_set(model.label_set)

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

    def image_count(self, model: ModelSpec) -> int:
        """Golden images plus labelled pairs (the shard plan's weight); 1 when unreadable."""
        try:
            return len(self.golden_images(model)) + len(self.labelled_pairs(model))
        except (ValueError, OSError):  # CatalogueError, ImageError: its own items report it
            return 1


def load_catalogue(options: DeepLabOptions) -> Catalogue:
    """The catalogue with the user's tables: --config / deeplab_config, else the rootdir's
    pyproject.toml when it has a [tool.pytest-deeplab] table."""
    path = options.config_file
    if path is None:
        candidate = options.rootdir / "pyproject.toml"
        path = candidate if candidate.is_file() else None
    user = load_config_file(path) if path else None
    if user is not None and path is not None and path.name == "pyproject.toml":
        user = user if len(user) > 1 else None  # a pyproject without our table
    return build_catalogue(user, path.parent if path else options.rootdir)


def resolve_selection(options: DeepLabOptions) -> Selection:
    """Load the catalogue and resolve `options.models` (and `options.shard`) against it.

    Raises SelectionError when nothing is selected, CatalogueError for a bad name or table.
    """
    catalogue = load_catalogue(options)
    spec = options.models or ""
    chosen = catalogue.select(spec)
    if not chosen:
        raise SelectionError(
            f"--deeplab-models={spec!r} selects no model, so nothing would be tested. "
            "Name models, or use all / bundled / official; `pytest-deeplab list` shows them."
        )
    whole = Selection(catalogue, spec, chosen, list(chosen))
    return whole if options.shard is None else _shard_of(whole, options.shard)


def _shard_of(whole: Selection, shard: Shard) -> Selection:
    """This job's models: the suite, fetching, goldens and `deeplab_model` all use them."""
    from pytest_deeplab.shards.costs import expected_costs
    from pytest_deeplab.shards.plan import plan_shards

    plan = plan_shards(expected_costs(whole.across_shards, whole.image_count), shard.count)
    keep = set(plan.models_of(shard.index))
    mine = [m for m in whole.across_shards if m.name in keep]
    return Selection(whole.catalogue, whole.spec, mine, whole.across_shards, plan)
