"""Results files of a sharded run, as the plugin's jobs would leave them, for the merge tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_deeplab.cli import merge as cli_merge
from pytest_deeplab.cli.main import main
from pytest_deeplab.shards.plan import plan_shards
from pytest_deeplab.shards.results import ItemResult, RunResults, write_results

IDENTITY = {"tensorflow": "2.21.0", "tensorflow_git": "v2.21.0-0-g1234abcd", "onednn": True,
            "onednn_source": "default", "intra_op_threads": 2, "inter_op_threads": 1,
            "tflite_runtime": "tf.lite 2.21.0", "tflite_xnnpack": True}
COSTS = {"mini_a": 2.57e8, "mini_b": 9.16e8, "mini_c": 3.99e8, "mini_d": 2.57e8}


def model_items(model: str, failing: str = "") -> list[ItemResult]:
    """A model's built-in items: two golden masks and its mIOU; `failing` names one that fails."""
    items = []
    for label in ("scene1::mask", "scene2::mask", "miou"):
        nodeid = f"deeplab::{model}::{label}"
        if label == failing:
            items.append(ItemResult(nodeid, "failed", 0.5, longrepr=f"{model} {label} changed",
                                    message=f"{model} {label} changed", when="call"))
        else:
            items.append(ItemResult(nodeid, "passed", 0.25,
                                    user_properties=[("deeplab_tensorflow", "2.21.0")]))
    return items


def model_entry(model: str) -> dict[str, Any]:
    return {
        "spec": {"source": "bundled", "format": "frozen_graph", "label_set": "minizoo",
                 "input_size": 129, "min_agreement": 0.995},
        "results": {"miou": 0.8125, "miou_threshold": 0.7, "miou_passed": True,
                    "agreements": {"scene1": 1.0, "scene2": 0.9991},
                    "golden_written": [], "latency_median_s": 0.0123, "cpu_median_s": 0.02,
                    "first_call_s": 0.3, "skipped": None, "latency_unmeasured": None},
    }


def shard_run(index: int, count: int, costs: dict[str, float] | None = None,
              failing: dict[str, str] | None = None, **changes: Any) -> RunResults:
    """Shard `index` of `count` over `costs` (the models, in selection order) as a job writes it."""
    costs = dict(COSTS if costs is None else costs)
    models = list(plan_shards(costs, count).models_of(index))
    items = [item for m in models for item in model_items(m, (failing or {}).get(m, ""))]
    run = RunResults(
        identity=dict(IDENTITY) if models else None,
        selection_spec="bundled",
        selected=list(costs),
        shard_index=index,
        shard_count=count,
        shard_models=models,
        costs=costs,
        exitstatus=1 if any(i.outcome == "failed" for i in items) else 0,
        items=items,
        models={m: model_entry(m) for m in models},
        report={"records": None, "cards": []},
        command=f"pytest --deeplab-models=bundled --deeplab-shard={index}/{count}",
    )
    for key, value in changes.items():
        setattr(run, key, value)
    return run


def write_shards(root: Path, count: int, **kwargs: Any) -> list[Path]:
    """Every shard's file in its own folder, as CI artifacts download them."""
    return [write_results(shard_run(k, count, **kwargs), root / f"shard-{k}")
            for k in range(1, count + 1)]


def merge_command(*argv: str) -> int:
    """`pytest-deeplab merge ...` as the command line runs it."""
    return main([cli_merge.COMMAND, *argv])
