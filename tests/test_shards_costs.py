"""Where a sharded run's expected costs come from: figures every CI job sees alike.

A user model's `multiply_adds` (as `pytest-deeplab inspect` prints it) times its images; the
zoo's published single-run figures; a multi-scale figure counts as no figure (the model gets
the median); and the merge compares the identity keys of the one runtime schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SmallModel, deeplab_toml

from pytest_deeplab.catalogue.resolved import Selection, resolve_selection
from pytest_deeplab.catalogue.specs import CatalogueError, ZooFacts
from pytest_deeplab.options import build_options
from pytest_deeplab.runtime.identity import IDENTITY_KEYS as RUNTIME_IDENTITY_KEYS
from pytest_deeplab.shards.merge import IDENTITY_KEYS
from pytest_deeplab.shards.plan import Shard


def sharded_selection(tmp_path: Path, models: dict[str, dict[str, object]], spec: str,
                      shard: str = "1/2") -> Selection:
    config = tmp_path / "deeplab.toml"
    config.write_text(deeplab_toml(models=models))
    options = build_options(tmp_path, spec, config_file=config)
    index, count = map(int, shard.split("/"))
    options.shard = Shard(index, count)
    return resolve_selection(options)


def test_a_user_multiply_adds_times_its_images_is_its_cost(
        tmp_path: Path, small_model: SmallModel) -> None:
    images = len(list(small_model.golden_images.glob("*.png")))
    assert images == 6
    selection = sharded_selection(tmp_path, {
        "measured": small_model.model(multiply_adds=2.5e9),
        "unmeasured": small_model.model(),
    }, "measured,unmeasured,xception65_coco_voc_trainval,xception65_coco_voc_trainaug")
    plan = selection.plan
    assert plan is not None
    assert plan.costs["measured"] == 2.5e9 * 6
    # no figure: the user model, and the zoo's multi-scale 3055 B figure
    assert plan.estimated == ("unmeasured", "xception65_coco_voc_trainval")
    assert "xception65_coco_voc_trainaug" not in plan.estimated
    # every model is in exactly one shard, and this session runs shard 1's
    assert [m.name for m in selection.selected] == list(plan.models_of(1))
    assert len(selection.across_shards) == 4


@pytest.mark.parametrize("value", ['"lots"', "0", "-3", "true"])
def test_a_bad_multiply_adds_names_the_key(tmp_path: Path, small_model: SmallModel,
                                           value: str) -> None:
    config = tmp_path / "deeplab.toml"
    config.write_text(deeplab_toml(models={"mine": small_model.model()})
                      + f"multiply_adds = {value}\n")
    with pytest.raises(CatalogueError, match=r"\[models.mine\]: multiply_adds must be a number"):
        resolve_selection(build_options(tmp_path, "mine", config_file=config))


def test_published_figures_count_only_when_they_are_one_run() -> None:
    assert ZooFacts(multiply_adds=54.17e9).single_run_madds == 54.17e9
    two_strides = ZooFacts(multiply_adds=5.6e9, multiply_adds_note="OS 32; 7.1B at OS 16")
    assert two_strides.single_run_madds == 5.6e9
    assert two_strides.comparable_madds is None  # a card cannot hold one graph run against it
    assert ZooFacts(multiply_adds=3055.35e9, multiply_adds_note="MS").single_run_madds is None
    assert ZooFacts().single_run_madds is None


def test_the_merge_compares_the_runtime_identity_schema() -> None:
    """A key added to RuntimeIdentity must be compared by the merge, or listed here as one
    that does not change results."""
    not_compared = {"onednn_source"}  # env or default: how oneDNN was decided, not whether
    assert set(IDENTITY_KEYS) | not_compared == set(RUNTIME_IDENTITY_KEYS)
    assert not set(IDENTITY_KEYS) & not_compared
