"""Unused goldens: report them always, delete them only after a complete run.

syrupy's lesson: pruning after a partial run (-k, -m, a subset of models) deletes goldens that
are merely unselected, so deletion needs the whole suite of the selected models to have run.
"""

from __future__ import annotations

from pathlib import Path

from pytest_deeplab.session import DeepLabSession


def selected_goldens(deeplab: DeepLabSession) -> set[tuple[str, str]]:
    """Every (model, image_id) the selection would check."""
    return {
        (model.name, ref.image_id)
        for model in deeplab.selected
        for ref in deeplab.golden_images(model)
    }


def unused_goldens(deeplab: DeepLabSession) -> list[Path]:
    """Golden files in the user's golden dir that no selected item uses.

    Folders of models no longer in the catalogue count as unused only when every model was
    selected (`all`); otherwise they may belong to a model this run did not select.
    """
    store = deeplab.golden_store_root()
    selected = selected_goldens(deeplab)
    scope = {m.name for m in deeplab.selected}
    if deeplab.every_model:
        scope |= store.models() - set(deeplab.catalogue.models)
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


def expected_items(deeplab: DeepLabSession) -> int:
    """How many items the complete suite of the selected models has (masks + mIOU + latency)."""
    return sum(len(deeplab.golden_images(model)) + 2 for model in deeplab.selected)


def settle_unused_goldens(deeplab: DeepLabSession, items_run: int) -> None:
    """List unused goldens; with --deeplab-prune-golden, delete them if the whole suite ran."""
    unused = unused_goldens(deeplab)
    deeplab.unused_goldens = unused
    if not unused or not deeplab.options.prune_golden:
        return
    if items_run < expected_items(deeplab):
        deeplab.prune_refused = (
            f"only {items_run} of {expected_items(deeplab)} items ran (-k, -m or skips): "
            "unused goldens are pruned only after a complete run"
        )
        return
    deeplab.pruned = prune(unused)
