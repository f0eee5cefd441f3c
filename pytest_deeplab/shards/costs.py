"""Each selected model's expected cost for the shard plan: multiply-adds x images.

Only figures that every CI job sees alike are used (the catalogue's published figures, the
bundled manifest's measured ones, a `multiply_adds` number in a user's model table), never
anything measured or cached on the machine: each job plans alone and must get the same split.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from pytest_deeplab.shards.plan import expected_cost


def expected_costs(models: Iterable[Any], image_count: Callable[[Any], int]
                   ) -> dict[str, float | None]:
    """name -> multiply-adds x images (None when no single-run figure is known), in order."""
    return {
        model.name: expected_cost(image_count(model), published_madds=model.facts.single_run_madds)
        for model in models
    }
