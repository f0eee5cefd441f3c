"""Unused goldens: report them always, delete them only after a complete run.

syrupy's lesson: pruning after a partial run (-k, -m, a subset of models) deletes goldens that
are merely unselected, so deletion needs the whole suite of the selected models to have run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pytest_deeplab.catalogue.resolved import Selection
from pytest_deeplab.golden.store import GoldenStore


@dataclass(frozen=True)
class GoldenSweep:
    """What the end of a run found in the golden dir: the summary lists or counts it."""

    golden_dir: Path
    unused: list[Path] = field(default_factory=list)
    pruned: list[Path] = field(default_factory=list)
    refused: str = ""  # why unused goldens were not pruned although asked


def selected_goldens(selection: Selection) -> set[tuple[str, str]]:
    """Every (model, image_id) the selection would check."""
    return {
        (model.name, ref.image_id)
        for model in selection.selected
        for ref in selection.golden_images(model)
    }


def unused_goldens(selection: Selection, golden_dir: Path) -> list[Path]:
    """Golden files in the user's golden dir that no selected item uses.

    Folders of models no longer in the catalogue count as unused only when every model was
    selected (`all`); otherwise they may belong to a model this run did not select.
    """
    store = GoldenStore(golden_dir)  # the user's dir alone: bundled fallbacks are never pruned
    selected = selected_goldens(selection)
    scope = {m.name for m in selection.selected}
    if selection.every_model:
        scope |= store.models() - set(selection.catalogue.models)
    return store.unused(selected, models=scope)


def prune(paths: list[Path]) -> list[Path]:
    """Delete the files, then any model folder left empty."""
    removed = []
    for path in paths:
        if path.exists():
            path.unlink()
            removed.append(path)
    for folder in {p.parent for p in removed}:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return removed


def expected_items(selection: Selection) -> int:
    """How many items the complete suite of the selected models has (masks + mIOU + latency)."""
    return sum(len(selection.golden_images(model)) + 2 for model in selection.selected)


def settle_unused_goldens(selection: Selection, golden_dir: Path, items_run: int, *,
                          prune_asked: bool) -> GoldenSweep:
    """List unused goldens; with --deeplab-prune-golden, delete them if the whole suite ran."""
    unused = unused_goldens(selection, golden_dir)
    if not unused or not prune_asked:
        return GoldenSweep(golden_dir, unused)
    if items_run < expected_items(selection):
        return GoldenSweep(golden_dir, unused, refused=(
            f"only {items_run} of {expected_items(selection)} items ran (-k, -m or skips): "
            "unused goldens are pruned only after a complete run"))
    return GoldenSweep(golden_dir, unused, pruned=prune(unused))
