"""`--deeplab-shard=K/N`: which of the selected models CI job K of N runs.

Every job computes the same plan on its own (no coordinator), so the plan depends only on the
model names, their expected costs and N: never on the order of the selection, the machine or
the time. A model's items always stay together (it is loaded once, in one job).

How models are placed, and why. Cost is multiply-adds x images. Sorting by cost and giving each
model to the least-loaded job balances best, but one added model reshuffles most of the others
(each job's model cache then goes cold). Rendezvous hashing (each model goes to the job whose
hash of (name, job) is highest) never moves a model when another is added, but ignores cost. The
plan combines them:

- light models (cost at most LIGHT_SHARE of a job's mean load) go where rendezvous hashing puts
  them, so they never move when a model is added;
- heavy models, largest first, go to their most preferred job (same hash order) that stays under
  (1 + SLACK) x the mean load, else to the least-loaded job.

Measured (`python benchmarks/shards/plan_stability.py`, 1000 random 20-model catalogues):
adding a 21st model moves on average 0.58 / 1.25 / 1.70 of the 20 at N = 2 / 3 / 4 (greedy
least-loaded: 5.29 / 6.92 / 7.21), and the largest job is within 3-4 % (median; 8 % at the 90th
percentile) of the best any split could do.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

from pytest_deeplab.errors import DeepLabError

OPTION = "--deeplab-shard"
LIGHT_SHARE = 0.10
"""A model costing at most this share of a job's mean load is placed by hashing alone."""
SLACK = 0.05
"""A heavy model goes to its preferred job while that job stays under (1 + SLACK) x the mean."""
DEFAULT_COST = 1.0
"""The cost of every model when no model's multiply-adds are known (the split is then by count)."""

_FORM = re.compile(r"\s*([+-]?[0-9]+)\s*/\s*([+-]?[0-9]+)\s*")


class ShardSpecError(DeepLabError, ValueError):
    """`--deeplab-shard` was given something other than K/N with 1 <= K <= N."""


@dataclass(frozen=True)
class Shard:
    """Job `index` of `count` (1-based)."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def parse_shard(text: str, option: str = OPTION) -> Shard:
    """Read K/N; every mistake names the value given and the form expected."""
    given = f"{option}={text!r}"
    match = _FORM.fullmatch(text)
    if match is None:
        raise ShardSpecError(
            f"{given} is not of the form K/N: expected two whole numbers, this job's number K "
            f"and the number of jobs N, with 1 <= K <= N (e.g. {option}=2/3 runs the second "
            "of three shards)"
        )
    index, count = int(match[1]), int(match[2])
    expected = "expected K/N with 1 <= K <= N"
    if count < 1:
        raise ShardSpecError(
            f"{given}: N (the number of shards) is {count}, but it must be at least 1; "
            f"{expected} (e.g. {option}=1/2 and {option}=2/2 split the run over two jobs)"
        )
    jobs = f"the jobs of a {count}-way split are {option}=1/{count} ... {option}={count}/{count}"
    if index < 1:
        raise ShardSpecError(
            f"{given}: K is {index}, but shards are numbered from 1; {expected}: {jobs}")
    if index > count:
        raise ShardSpecError(
            f"{given}: K ({index}) is larger than N ({count}); {expected}: {jobs}")
    return Shard(index, count)


def expected_cost(images: int, measured_madds: float | None = None,
                  published_madds: float | None = None) -> float | None:
    """Multiply-adds x images: measured multiply-adds when there are any, else the published
    figure, else None (the plan then estimates it). A model with no image still runs once."""
    madds = measured_madds if measured_madds is not None else published_madds
    return None if madds is None else float(madds) * max(int(images), 1)


@dataclass(frozen=True)
class ShardPlan:
    """Which job runs each model, with the costs it was planned from."""

    count: int
    order: tuple[str, ...]
    """The models in the caller's order (each shard lists its models in this order)."""
    assignment: Mapping[str, int]
    costs: Mapping[str, float]
    estimated: tuple[str, ...]
    """Models without a known cost: they were given the median of the known costs."""

    def models_of(self, index: int) -> tuple[str, ...]:
        self._check(index)
        return tuple(name for name in self.order if self.assignment[name] == index)

    def load(self, index: int) -> float:
        self._check(index)
        return math.fsum(self.costs[name] for name in self.models_of(index))

    def balance(self) -> float:
        """Largest job's cost / mean job cost: 1.0 is a perfect split."""
        total = math.fsum(self.costs.values())
        if total <= 0:
            return 1.0
        return max(self.load(k) for k in range(1, self.count + 1)) / (total / self.count)

    def _check(self, index: int) -> None:
        if not 1 <= index <= self.count:
            raise ValueError(f"shard {index} does not exist in a {self.count}-way split")


def _score(name: str, index: int) -> int:
    """Rendezvous weight of (model, job): the same on every machine and Python version."""
    digest = hashlib.sha256(f"{name}\x00{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def _preference(name: str, count: int) -> list[int]:
    """Jobs in the order this model prefers them (highest rendezvous weight first)."""
    return sorted(range(1, count + 1), key=lambda index: -_score(name, index))


def _checked_costs(costs: Mapping[str, float | None]) -> tuple[dict[str, float], tuple[str, ...]]:
    known: dict[str, float] = {}
    for name, cost in costs.items():
        if cost is None:
            continue
        value = float(cost)
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"model {name!r}: expected cost {cost!r} is not a number >= 0")
        known[name] = value
    missing = tuple(sorted(name for name in costs if name not in known))
    import statistics  # kept out of the plugin's import (it pulls in fractions, random...)

    fill = statistics.median(known.values()) if known else DEFAULT_COST
    return {**known, **dict.fromkeys(missing, fill)}, missing


def plan_shards(costs: Mapping[str, float | None], count: int) -> ShardPlan:
    """Split the models (name -> expected cost, None when unknown) over `count` jobs."""
    if count < 1:
        raise ValueError(f"the number of shards must be at least 1, not {count}")
    filled, estimated = _checked_costs(costs)
    shards = range(1, count + 1)
    mean = math.fsum(filled.values()) / count
    cap = (1 + SLACK) * mean
    loads = dict.fromkeys(shards, 0.0)
    assignment: dict[str, int] = {}
    light = sorted(name for name, cost in filled.items() if cost <= LIGHT_SHARE * mean)
    for name in light:
        assignment[name] = _preference(name, count)[0]
        loads[assignment[name]] += filled[name]
    heavy = sorted((n for n in filled if n not in assignment), key=lambda n: (-filled[n], n))
    for name in heavy:
        preference = _preference(name, count)
        fitting = [k for k in preference if loads[k] + filled[name] <= cap]
        chosen = fitting[0] if fitting else min(preference, key=lambda k: loads[k])
        assignment[name] = chosen
        loads[chosen] += filled[name]
    return ShardPlan(count, tuple(costs), assignment, filled, estimated)


def describe_shard(plan: ShardPlan, shard: Shard) -> list[str]:
    """Lines printed at the top of a sharded run: what this job runs, or why nothing."""
    models = plan.models_of(shard.index)
    total = len(plan.order)
    if not models:
        return [
            f"deeplab shard {shard}: no models ({total} selected models over {shard.count} "
            "shards leave this one empty). Nothing runs here and this shard passes; "
            "`pytest-deeplab merge` still needs its results file.",
        ]
    everything = math.fsum(plan.costs.values())
    share = 100 * plan.load(shard.index) / everything if everything > 0 else 0.0
    lines = [
        f"deeplab shard {shard}: {len(models)} of {total} selected models "
        f"({share:.1f} % of the expected cost): {', '.join(models)}",
    ]
    guessed = [name for name in plan.estimated if name in models]
    if guessed:
        lines.append(
            "  cost estimated (no multiply-adds known, so the median of the others): "
            + ", ".join(guessed)
        )
    return lines
