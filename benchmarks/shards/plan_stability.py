"""How well `--deeplab-shard` balances, and how many models move when one is added.

    python benchmarks/shards/plan_stability.py            # about 20 s on 2 shared cores

Deterministic (fixed seeds; no timing involved), so its figures reproduce exactly. Three splits
side by side on the same inputs:

- ours: pytest_deeplab.shards.plan.plan_shards (light models by rendezvous hashing, heavy ones
  by bounded-load rendezvous);
- greedy: largest first to the least-loaded job (the textbook balanced split);
- rendezvous: each model to the job with the highest hash of (name, job), ignoring cost.

Inputs: (1) the official zoo catalogue (21 models) with the multiply-adds the zoo publishes
(the catalogue's figures; a multi-scale figure counts as none, and a model without a figure
gets the median, as the plan does); balance is
max job cost / mean job cost, next to the best any split can do (the largest model's cost /
mean, or 1). (2) "Add one model to a 20-model catalogue": every zoo model in turn is the newcomer
to the other 20; and 1000 random 20-model catalogues (log-uniform costs over 1-500) each given
one random newcomer. A move is a model of the 20 whose job changed.
"""

from __future__ import annotations

import hashlib
import math
import random
import statistics
from collections.abc import Callable, Mapping

from pytest_deeplab.catalogue.official import OFFICIAL_MODELS
from pytest_deeplab.shards.costs import single_run_madds
from pytest_deeplab.shards.plan import plan_shards

Split = Callable[[Mapping[str, float], int], dict[str, int]]

def _zoo_costs() -> dict[str, float | None]:
    """Published multiply-adds (billions) of the official catalogue's models, as a sharded run
    costs them per image: a multi-scale figure counts as none (shards/costs.py)."""
    costs: dict[str, float | None] = {}
    for model in OFFICIAL_MODELS:
        madds = single_run_madds(model.facts.multiply_adds, model.facts.multiply_adds_note)
        costs[model.name] = None if madds is None else round(madds / 1e9, 2)
    return costs


ZOO = _zoo_costs()


def ours(costs: Mapping[str, float], count: int) -> dict[str, int]:
    plan = plan_shards(costs, count)
    return {name: k for k in range(1, count + 1) for name in plan.models_of(k)}


def greedy(costs: Mapping[str, float], count: int) -> dict[str, int]:
    loads = dict.fromkeys(range(1, count + 1), 0.0)
    placed: dict[str, int] = {}
    for name in sorted(costs, key=lambda n: (-costs[n], n)):
        placed[name] = min(loads, key=lambda k: (loads[k], k))
        loads[placed[name]] += costs[name]
    return placed


def rendezvous(costs: Mapping[str, float], count: int) -> dict[str, int]:
    def weight(name: str, k: int) -> bytes:
        return hashlib.sha256(f"{name}\x00{k}".encode()).digest()

    placed = {}
    for name in costs:
        placed[name] = max(range(1, count + 1), key=lambda k: weight(name, k))
    return placed


SPLITS: dict[str, Split] = {"ours": ours, "greedy": greedy, "rendezvous": rendezvous}


def balance(costs: Mapping[str, float], placed: Mapping[str, int], count: int) -> float:
    loads = [math.fsum(c for n, c in costs.items() if placed[n] == k)
             for k in range(1, count + 1)]
    return max(loads) / (math.fsum(loads) / count)


def best_possible(costs: Mapping[str, float], count: int) -> float:
    return max(max(costs.values()) / (math.fsum(costs.values()) / count), 1.0)


def moves(split: Split, base: Mapping[str, float], newcomer: tuple[str, float],
          count: int) -> int:
    before = split(base, count)
    after = split({**base, newcomer[0]: newcomer[1]}, count)
    return sum(before[n] != after[n] for n in base)


def main() -> None:
    median = statistics.median(c for c in ZOO.values() if c is not None)
    zoo = {n: (c if c is not None else median) for n, c in ZOO.items()}
    print(f"official zoo, {len(zoo)} models, published multiply-adds "
          f"(median {median} B for the {sum(c is None for c in ZOO.values())} without one)\n")
    print("| N | best possible | ours | greedy | rendezvous |")
    print("|---|---|---|---|---|")
    for count in (2, 3, 4):
        cells = [f"{balance(zoo, split(zoo, count), count):.3f}" for split in SPLITS.values()]
        print(f"| {count} | {best_possible(zoo, count):.3f} | {' | '.join(cells)} |")

    print("\nmodels of 20 that move when a 21st is added: mean (share of additions moving "
          "none), max\n")
    print("| catalogue | N | ours | greedy | rendezvous |")
    print("|---|---|---|---|---|")
    rng = random.Random(20261205)
    catalogues = []
    for _ in range(1000):
        names = [f"model-{rng.getrandbits(40):010x}" for _ in range(21)]
        costs = [math.exp(rng.uniform(0, math.log(500))) for _ in range(21)]
        catalogues.append((dict(zip(names[:20], costs[:20])), (names[20], costs[20])))
    zoo_cases = [({n: c for n, c in zoo.items() if n != new}, (new, zoo[new])) for new in zoo]
    for label, cases in (("zoo (21 leave-one-out)", zoo_cases),
                         ("random (1000)", catalogues)):
        for count in (2, 3, 4):
            cells = []
            for split in SPLITS.values():
                counted = []
                for base, newcomer in cases:
                    counted.append(moves(split, base, newcomer, count))
                none = sum(m == 0 for m in counted) / len(counted)
                cells.append(f"{statistics.mean(counted):.2f} ({none:.0%}), {max(counted)}")
            print(f"| {label} | {count} | {' | '.join(cells)} |")
    print("\nbalance (max job / mean job) over the random catalogues, median [90th percentile], "
          "as a ratio to the best possible\n")
    print("| N | ours | greedy | rendezvous |")
    print("|---|---|---|---|")
    for count in (2, 3, 4):
        cells = []
        for split in SPLITS.values():
            ratios = sorted(balance(base, split(base, count), count) / best_possible(base, count)
                            for base, _ in catalogues)
            cells.append(f"{statistics.median(ratios):.3f} [{ratios[899]:.3f}]")
        print(f"| {count} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
