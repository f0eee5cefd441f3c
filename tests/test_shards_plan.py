"""`--deeplab-shard=K/N`: reading the option and splitting the selected models over N jobs."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys

import pytest

from pytest_deeplab.shards.plan import (
    LIGHT_SHARE,
    Shard,
    ShardPlan,
    ShardSpecError,
    describe_shard,
    expected_cost,
    parse_shard,
    plan_shards,
)

# The official zoo's published multiply-adds in billions (design notes' table; the first figure
# where two output strides are quoted). None: the zoo publishes none.
ZOO_MADDS: dict[str, float | None] = {
    "mobilenetv2_dm05_coco_voc_trainaug": 0.88,
    "mobilenetv2_dm05_coco_voc_trainval": 2.84,
    "mobilenetv2_coco_voc_trainaug": 2.75,
    "mobilenetv2_coco_voc_trainval": 152.59,
    "xception65_coco_voc_trainaug": 54.17,
    "xception65_coco_voc_trainval": 3055.35,
    "mobilenetv2_coco_cityscapes_trainfine": 21.27,
    "mobilenetv3_large_cityscapes_trainfine": 15.95,
    "mobilenetv3_small_cityscapes_trainfine": 4.63,
    "xception65_cityscapes_trainfine": 418.64,
    "xception71_dpc_cityscapes_trainfine": 502.07,
    "xception71_dpc_cityscapes_trainval": None,
    "mobilenetv2_ade20k_train": None,
    "xception65_ade20k_train": None,
    "mobilenetv2_coco_voc_trainaug_8bit": 2.75,
    "mobilenetv2_dm05_coco_voc_trainaug_8bit": 0.88,
    "edgetpu_deeplab_cityscapes": 5.6,
    "edgetpu_deeplab_slim_cityscapes": 3.5,
    "deeplabv3_257_mv_gpu": None,
}


# -- the option ---------------------------------------------------------------------------------


@pytest.mark.parametrize("text, expected", [
    ("1/2", Shard(1, 2)),
    ("2/2", Shard(2, 2)),
    ("1/1", Shard(1, 1)),
    (" 3/4 ", Shard(3, 4)),  # from a CI matrix variable with stray spaces
    ("07/10", Shard(7, 10)),
])
def test_k_of_n_is_read_as_job_k_of_n_counting_from_one(text: str, expected: Shard) -> None:
    assert parse_shard(text) == expected
    assert str(expected) == f"{expected.index}/{expected.count}"


@pytest.mark.parametrize("text, why", [
    ("3/2", "K (3) is larger than N (2)"),
    ("0/2", "K is 0, but shards are numbered from 1"),
    ("-1/2", "K is -1, but shards are numbered from 1"),
    ("1/0", "N (the number of shards) is 0, but it must be at least 1"),
    ("1/-3", "N (the number of shards) is -3"),
    ("a/b", "is not of the form K/N"),
    ("1.5/2", "is not of the form K/N"),
    ("1/2x", "is not of the form K/N"),
    ("1/2/3", "is not of the form K/N"),
    ("shard1/2", "is not of the form K/N"),
    ("2", "is not of the form K/N"),
    ("", "is not of the form K/N"),
    ("\u0663/\u0664", "is not of the form K/N"),  # Arabic-Indic digits are not K/N
])
def test_a_bad_shard_names_the_value_and_the_form_expected(text: str, why: str) -> None:
    with pytest.raises(ShardSpecError) as caught:
        parse_shard(text)
    message = str(caught.value)
    assert f"--deeplab-shard={text!r}" in message
    assert why in message
    assert "K/N" in message and "1 <= K <= N" in message


# -- costs --------------------------------------------------------------------------------------


def test_the_cost_is_multiply_adds_times_images_preferring_measured_figures() -> None:
    assert expected_cost(10, measured_madds=2.83e9, published_madds=2.84e9) == 2.83e9 * 10
    assert expected_cost(10, published_madds=2.84e9) == 2.84e9 * 10
    assert expected_cost(0, published_madds=5.0) == 5.0  # a model with no image still runs
    assert expected_cost(3) is None


# -- the split ----------------------------------------------------------------------------------


def owners(plan: ShardPlan, count: int) -> dict[str, int]:
    return {name: k for k in range(1, count + 1) for name in plan.models_of(k)}


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7])
def test_every_selected_model_runs_in_exactly_one_shard_in_selection_order(count: int) -> None:
    costs = {name: c * 1e9 if c else None for name, c in ZOO_MADDS.items()}
    plan = plan_shards(costs, count)
    listed = [name for k in range(1, count + 1) for name in plan.models_of(k)]
    assert sorted(listed) == sorted(ZOO_MADDS)
    assert len(listed) == len(set(listed))
    order = list(ZOO_MADDS)
    for k in range(1, count + 1):
        models = list(plan.models_of(k))
        assert models == sorted(models, key=order.index)


def test_the_split_does_not_depend_on_the_selection_order() -> None:
    costs = {name: c or None for name, c in ZOO_MADDS.items()}
    shuffled = list(costs.items())
    random.Random(3).shuffle(shuffled)
    assert owners(plan_shards(costs, 3), 3) == owners(plan_shards(dict(shuffled), 3), 3)


def test_every_job_computes_the_same_split_whatever_its_hash_seed() -> None:
    """Jobs plan alone: the split must not depend on Python's per-process string hashing."""
    code = ("import json, sys; from pytest_deeplab.shards.plan import plan_shards; "
            "costs = json.loads(sys.argv[1]); p = plan_shards(costs, 3); "
            "print(json.dumps([list(p.models_of(k)) for k in (1, 2, 3)]))")
    costs = json.dumps(ZOO_MADDS)
    splits = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", code, costs], env=env, check=True,
                              capture_output=True, text=True)
        splits.add(done.stdout)
    assert len(splits) == 1
    assert json.loads(splits.pop()) == [list(plan_shards(ZOO_MADDS, 3).models_of(k))
                                        for k in (1, 2, 3)]


def test_equal_models_are_split_evenly() -> None:
    plan = plan_shards({f"m{i}": 10.0 for i in range(6)}, 3)
    assert [len(plan.models_of(k)) for k in (1, 2, 3)] == [2, 2, 2]
    assert plan.balance() == 1.0


def test_a_model_heavier_than_a_fair_share_gets_a_job_to_itself() -> None:
    plan = plan_shards({"huge": 100.0, "a": 30.0, "b": 30.0, "c": 30.0, "d": 30.0}, 2)
    shard_of_huge = next(k for k in (1, 2) if "huge" in plan.models_of(k))
    assert plan.models_of(shard_of_huge) == ("huge",)
    assert plan.load(3 - shard_of_huge) == 120.0


@pytest.mark.parametrize("count", [2, 3, 4])
def test_the_zoo_is_split_close_to_the_best_possible_balance(count: int) -> None:
    """No split can beat the largest model's share; ours stays within 10 % of that bound."""
    known = sorted(c for c in ZOO_MADDS.values() if c is not None)
    middle = len(known) // 2
    median = known[middle] if len(known) % 2 else (known[middle - 1] + known[middle]) / 2
    filled = [c if c is not None else median for c in ZOO_MADDS.values()]
    lower_bound = max(max(filled) / (sum(filled) / count), 1.0)
    plan = plan_shards(ZOO_MADDS, count)
    assert plan.balance() <= 1.10 * lower_bound
    assert sorted(plan.estimated) == sorted(n for n, c in ZOO_MADDS.items() if c is None)


def test_adding_a_model_never_moves_the_light_ones() -> None:
    """Light models are placed by rendezvous hashing alone: an addition cannot move them."""
    rng = random.Random(11)
    for _ in range(200):
        costs = {f"model-{rng.getrandbits(32):08x}": rng.uniform(1, 500) for _ in range(20)}
        count = rng.choice([2, 3, 4])
        before = owners(plan_shards(costs, count), count)
        light = {n for n, c in costs.items() if c <= LIGHT_SHARE * sum(costs.values()) / count}
        grown = {**costs, "newcomer": rng.uniform(1, 2000)}
        after = owners(plan_shards(grown, count), count)
        assert {n: after[n] for n in light} == {n: before[n] for n in light}


def greedy_least_loaded(costs: dict[str, float], count: int) -> dict[str, int]:
    """The textbook split (largest first, to the least-loaded job): balanced but unstable."""
    loads = dict.fromkeys(range(1, count + 1), 0.0)
    placed = {}
    for name in sorted(costs, key=lambda n: (-costs[n], n)):
        placed[name] = min(loads, key=lambda k: (loads[k], k))
        loads[placed[name]] += costs[name]
    return placed


def test_adding_a_model_moves_far_fewer_models_than_a_greedy_split() -> None:
    rng = random.Random(5)
    ours, greedy = [], []
    for _ in range(300):
        costs = {f"model-{rng.getrandbits(32):08x}": rng.uniform(1, 500) for _ in range(20)}
        grown = {**costs, "newcomer": rng.uniform(1, 500)}
        before, after = owners(plan_shards(costs, 3), 3), owners(plan_shards(grown, 3), 3)
        ours.append(sum(before[n] != after[n] for n in costs))
        before, after = greedy_least_loaded(costs, 3), greedy_least_loaded(grown, 3)
        greedy.append(sum(before[n] != after[n] for n in costs))
    assert sum(ours) / len(ours) < 2.0
    assert sum(ours) < 0.4 * sum(greedy)


def test_more_shards_than_models_leaves_empty_shards_that_say_so() -> None:
    plan = plan_shards({"mini_a": 1.0, "mini_b": 2.0}, 4)
    empty = [k for k in range(1, 5) if not plan.models_of(k)]
    assert len(empty) == 2
    lines = describe_shard(plan, Shard(empty[0], 4))
    assert lines[0].startswith(f"deeplab shard {empty[0]}/4: no models")
    assert "2 selected models over 4 shards" in lines[0]
    assert "this shard passes" in lines[0]
    assert "`pytest-deeplab merge` still needs its results file" in lines[0]


def test_the_header_names_the_shards_models_and_estimated_costs() -> None:
    plan = plan_shards({"a": 10.0, "b": None, "c": 10.0}, 1)
    lines = describe_shard(plan, Shard(1, 1))
    assert lines[0] == ("deeplab shard 1/1: 3 of 3 selected models (100.0 % of the expected "
                        "cost): a, b, c")
    assert lines[1].endswith("the median of the others): b")


@pytest.mark.parametrize(("models", "shards", "sizes"), [
    (8, 2, [4, 4]), (7, 3, [2, 2, 3]), (9, 4, [2, 2, 2, 3]), (3, 3, [1, 1, 1]),
])
def test_without_any_known_cost_models_are_split_by_count(
    models: int, shards: int, sizes: list[int]
) -> None:
    """Every model counts the same (DEFAULT_COST): the shards' sizes differ by at most one, and
    each model is in exactly one shard."""
    names = [f"model-{i}" for i in range(models)]
    plan = plan_shards(dict.fromkeys(names), shards)
    assert plan.estimated == tuple(sorted(names))
    assert set(plan.costs.values()) == {1.0}
    placed = [plan.models_of(k) for k in range(1, shards + 1)]
    assert sorted(len(p) for p in placed) == sizes
    assert sorted(n for p in placed for n in p) == sorted(names)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_a_cost_that_is_not_a_number_at_least_zero_names_the_model(bad: float) -> None:
    with pytest.raises(ValueError, match="model 'broken': expected cost"):
        plan_shards({"fine": 1.0, "broken": bad}, 2)


def test_a_shard_outside_the_split_is_refused() -> None:
    plan = plan_shards({"a": 1.0}, 2)
    with pytest.raises(ValueError, match="shard 3 does not exist in a 2-way split"):
        plan.models_of(3)
