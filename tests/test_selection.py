"""`resolve_selection`: what a run selects, resolved from the options alone (no session, no model
loaded), as the plugin, the gate and the CLI commands all resolve it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import SmallModel, deeplab_toml

from pytest_deeplab.catalogue.resolved import SelectionError, resolve_selection
from pytest_deeplab.options import build_options
from pytest_deeplab.shards.plan import Shard


def test_a_selection_of_nothing_is_an_error_never_an_empty_run(tmp_path: Path) -> None:
    with pytest.raises(SelectionError, match=r"--deeplab-models='user' selects no model"):
        resolve_selection(build_options(tmp_path, "user"))


def test_the_shards_split_the_whole_selection_between_them(
        tmp_path: Path, small_model: SmallModel) -> None:
    config = tmp_path / "deeplab.toml"
    config.write_text(deeplab_toml(models={f"m{i}": small_model.model() for i in range(5)}))
    mine: list[str] = []
    for index in (1, 2, 3):
        options = build_options(tmp_path, "user,bundled", config_file=config)
        options.shard = Shard(index, 3)
        selection = resolve_selection(options)
        assert selection.plan is not None
        assert [m.name for m in selection.selected] == list(selection.plan.models_of(index))
        mine += [m.name for m in selection.selected]
        whole = [m.name for m in selection.across_shards]
    assert sorted(mine) == sorted(whole) and len(whole) == 5 + len(
        resolve_selection(build_options(tmp_path, "bundled")).selected)


def test_every_model_only_when_all_is_asked(tmp_path: Path) -> None:
    assert resolve_selection(build_options(tmp_path, "all")).every_model
    assert not resolve_selection(build_options(tmp_path, "bundled")).every_model
