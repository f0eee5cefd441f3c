"""The results file a pytest run leaves in `--deeplab-results-dir` (`deeplab-run-K-of-N.json`).

Written at the end of every run that selected models, sharded or not (an unsharded run is shard
1 of 1), by the process that prints the summary: the xdist controller, once every worker's
results are merged, never a worker. A failure to write is reported, never raised: the merge
refuses a run whose shard file is missing, so it cannot pass silently.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from pytest_deeplab.shards.plan import Shard
from pytest_deeplab.shards.results import ItemResult, RunResults, write_results

if TYPE_CHECKING:
    from pytest_deeplab.report.cards import CardView
    from pytest_deeplab.session import DeepLabSession


def write_run_results(deeplab: DeepLabSession, *, items: list[ItemResult], exitstatus: int,
                      command: str, cards: list[CardView] | None = None) -> str:
    """Write this run's results file; returns the summary's line about it. `cards`: the ones
    the HTML report built (measured ones are not measured twice), else the published facts."""
    from pytest_deeplab.report.cards import build_cards
    from pytest_deeplab.report.merged import report_payload

    options = deeplab.options
    shard = options.shard or Shard(1, 1)
    if cards is None:
        cards = build_cards(deeplab.selected, deeplab.results)
    record = deeplab.run_record(cards)
    selection = deeplab.selection
    run = RunResults(
        identity=record.identity,
        selection_spec=options.models or "",
        selected=[m.name for m in selection.across_shards],
        shard_index=shard.index,
        shard_count=shard.count,
        shard_models=[m.name for m in selection.selected],
        costs=dict(selection.plan.costs) if selection.plan is not None else {},
        exitstatus=exitstatus,
        items=items,
        models={m.name: {"spec": m.as_spec(), "results": asdict(record.results[m.name])}
                for m in record.models},
        report=report_payload(deeplab.report, record.cards),
        command=command,
    )
    directory = Path(options.results_dir)
    try:
        path = write_results(run, directory)
    except OSError as exc:
        return f"deeplab results NOT written ({directory}): {exc}"
    return f"deeplab results: {path}"
