"""The results file a pytest run leaves in `--deeplab-results-dir` (`deeplab-run-K-of-N.json`).

Written at the end of every run that selected models, sharded or not (an unsharded run is shard
1 of 1), by the process that prints the summary: the xdist controller, once every worker's
results are merged, never a worker. A failure to write is reported, never raised: the merge
refuses a run whose shard file is missing, so it cannot pass silently.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_deeplab.shards.plan import Shard
from pytest_deeplab.shards.results import ItemResult, RunResults, write_results


def write_run_results(deeplab: Any, *, items: list[ItemResult], exitstatus: int,
                      command: str, cards: Any = None) -> str:
    """Write this run's results file; returns the summary's line about it."""
    from pytest_deeplab.report.merged import model_entry, report_payload

    options = deeplab.options
    shard = options.shard or Shard(1, 1)
    run = RunResults(
        identity=deeplab.run_identity() if deeplab.any_model_loaded else None,
        selection_spec=options.models or "",
        selected=[m.name for m in deeplab.selection],
        shard_index=shard.index,
        shard_count=shard.count,
        shard_models=[m.name for m in deeplab.selected],
        costs=dict(deeplab.plan.costs) if deeplab.plan is not None else {},
        exitstatus=exitstatus,
        items=items,
        models={m.name: model_entry(m, deeplab.results[m.name]) for m in deeplab.selected},
        report=report_payload(deeplab, cards=cards),
        command=command,
    )
    directory = Path(options.results_dir)
    try:
        path = write_results(run, directory)
    except OSError as exc:
        return f"deeplab results NOT written ({directory}): {exc}"
    return f"deeplab results: {path}"
