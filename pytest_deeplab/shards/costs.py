"""Each selected model's expected cost for the shard plan: multiply-adds x images.

Only figures that every CI job sees alike are used (the catalogue's published figures, the
bundled manifest's measured ones, a `multiply_adds` number in a user's model table), never
anything measured or cached on the machine: each job plans alone and must get the same split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pytest_deeplab.shards.plan import expected_cost

MULTI_SCALE = "MS"
"""The note of a published figure taken over several scales (and flips): not one run's cost."""


def single_run_madds(madds: float | None, note: str = "") -> float | None:
    """Multiply-adds of one inference, or None when the figure is not one.

    A multi-scale evaluation's figure (note "MS", e.g. 3055 B for Xception-65 PASCAL trainval)
    counts every scale of the evaluation while the frozen graph runs one, so it is treated as
    no figure (the plan gives the model the median cost). A figure quoted for one of two
    output strides ("OS 32; 7.1B at OS 16") is one run's cost and is used as given.
    """
    if madds is None or MULTI_SCALE in note.split():
        return None
    return float(madds)


def expected_costs(models: Iterable[Any], image_count: Callable[[Any], int]
                   ) -> dict[str, float | None]:
    """name -> multiply-adds x images (None when no single-run figure is known), in order."""
    return {
        model.name: expected_cost(image_count(model), published_madds=single_run_madds(
            model.facts.multiply_adds, model.facts.multiply_adds_note))
        for model in models
    }
