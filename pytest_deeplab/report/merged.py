"""The HTML report of a run merged from shards (`pytest-deeplab merge --html`).

Both ends of the results file's opaque "report" payload live here: a shard packs its report
records (masks and mIOU with their pictures, as xdist workers already export them) and its
model cards with `report_payload`; the merge unpacks every shard's payload into one recorder
and renders the same page as an unsharded `--deeplab-report`, with the shards (and, with
--allow-mixed, how their identities differ) in the header instead of the merging machine's.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from pytest_deeplab.files import write_text_atomically
from pytest_deeplab.report.cards import CardView
from pytest_deeplab.report.collect import OutcomeLog, ReportRecorder
from pytest_deeplab.report.html import build_context, render_report
from pytest_deeplab.report.run import RunRecord
from pytest_deeplab.shards.merge import MergedRun, describe_identity
from pytest_deeplab.shards.render import merged_record


def report_payload(recorder: ReportRecorder | None, cards: list[CardView]) -> dict[str, Any]:
    """A shard's report payload: its records (when it recorded any) and its model cards (the
    ones its own HTML report built, else the catalogue's published facts, which cost nothing)."""
    return {
        "records": recorder.export() if recorder is not None else None,
        "cards": [asdict(card) for card in cards],
    }


def merged_report_record(merged: MergedRun) -> RunRecord:
    """The merged run's record with every shard's report records and model cards unpacked."""
    recorder = ReportRecorder()
    cards: list[CardView] = []
    for run in merged.runs:
        payload = run.report if isinstance(run.report, dict) else {}
        if payload.get("records"):
            recorder.merge(payload["records"])
        for card in payload.get("cards") or []:
            rows = [tuple(row) for row in card.get("rows", [])]
            cards.append(CardView(**{**card, "rows": rows}))
    return replace(merged_record(merged), recorder=recorder, cards=cards)


def _outcome_log(merged: MergedRun) -> OutcomeLog:
    return OutcomeLog.from_items(merged.items, where="the shard's log")


def _identity_rows(merged: MergedRun, rows: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The run's identity rows without the merging machine's, then one row per shard."""
    local = {"CPU", "cores", "SIMD", "machine", "Python"}
    if merged.identity is None:  # the rows would describe this machine's TensorFlow
        local |= {"TensorFlow", "oneDNN", "threads", "TF Lite runtime"}
    kept = [row for row in rows if row[0] not in local]
    if merged.identity is None:
        kept.append(("TensorFlow", "unknown: no shard loaded a model"))
    if merged.mixed:
        kept.insert(0, ("MIXED RUN", "merged with --allow-mixed: the shards ran under different "
                                     "identities, so their figures are not comparable"))
    for run in merged.runs:
        kept.append((f"shard {run.shard_label}",
                     f"{len(run.shard_models)} model{'' if len(run.shard_models) == 1 else 's'}"
                     f" · {describe_identity(run.identity)}"
                     f" · {run.path or ''}"))
    return kept


def write_merged_report(path: Path, merged: MergedRun, *, command: str = "") -> Path:
    """Render the merged run's report and write it atomically to `path`."""
    context = build_context(merged_report_record(merged), _outcome_log(merged),
                            command=command, exitstatus=merged.exit_status)
    context["title"] = f"pytest-deeplab report (merged from {merged.count} shards)"
    context["identity"] = _identity_rows(merged, context["identity"])
    return write_text_atomically(Path(path), render_report(context))
