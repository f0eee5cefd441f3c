"""The merged run's terminal summary, in the plugin's own format.

The table comes from the same code as an unsharded run's `deeplab summary` (summary.py), fed
with the figures the shards wrote instead of a live session, so a merged run reads like one.
Below it: which TensorFlow ran (or how the shards differed, with --allow-mixed), the shards
merged, and pytest's closing line of counts.
"""

from __future__ import annotations

from pytest_deeplab.report.run import ModelEntry, RunRecord
from pytest_deeplab.report.summary import summary_rows, table_lines, wrapped
from pytest_deeplab.shards.merge import MergedRun, describe_identity
from pytest_deeplab.verdicts.results import ModelResults

HEADER = ("model", "mIOU vs threshold", "worst golden", "median latency")
COUNT_ORDER = ("failed", "passed", "skipped", "xfailed", "xpassed", "error")


def merged_record(merged: MergedRun) -> RunRecord:
    """The merged run as the reports read a live one: every shard's models in the selection's
    order, their figures and settings from the shards' files, and the identity of the first
    shard that loaded a model (None when none did; --allow-mixed runs say how they differ)."""
    entries = {name: merged.models.get(name) or {} for name in merged.selected}
    return RunRecord(
        models=[ModelEntry.from_file(name, entry.get("spec")) for name, entry in entries.items()],
        results={name: ModelResults.from_dict(entry.get("results") or {})
                 for name, entry in entries.items()},
        identity=merged.identity,
    )


def separator(char: str, title: str, width: int) -> str:
    """A title centred in a line of `char`, as pytest draws its section lines."""
    fill = char * max((width - len(title) - 2) // 2, 1)
    line = f"{fill} {title} {fill}"
    return line + char if len(line) + 1 <= width else line


def counts_line(merged: MergedRun) -> str:
    counts = merged.counts()
    parts = [f"{counts[k]} {'errors' if k == 'error' and counts[k] > 1 else k}"
             for k in COUNT_ORDER if counts[k]]
    seconds = sum(item.duration for item in merged.items)
    shards = f"{merged.count} shard{'s' if merged.count > 1 else ''}"
    return f"{', '.join(parts) or 'no tests ran'} in {seconds:.2f}s of test time ({shards})"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def summary_lines(merged: MergedRun, width: int = 80) -> list[str]:
    record = merged_record(merged)
    figures = record.results
    lines = [separator("=", f"deeplab summary (merged from {merged.count} shards)"
                       if merged.count > 1 else "deeplab summary (merged)", width)]
    if merged.selected:
        lines += table_lines(HEADER, [row[:4] for row in summary_rows(record)], width)
    notes: list[str] = []
    if merged.mixed:
        notes.append("MIXED RUN (--allow-mixed): the shards ran under different identities, "
                     "so figures of different shards are not comparable:")
        notes += [f"  {line}" for line in merged.mixed]
    else:
        notes.append(describe_identity(merged.identity))
    unmeasured = sorted({f.latency_unmeasured for f in figures.values() if f.latency_unmeasured})
    notes += [f"latency not measured: {reason}" for reason in unmeasured]
    missing = [name for name, f in figures.items() if f.skipped]
    if missing:
        notes.append(f"not available (skipped, --deeplab-allow-missing): {', '.join(missing)}")
    if merged.repeated:
        notes.append(f"{len(merged.repeated)} tests not tied to one model ran in several shards; "
                     "each is counted once, with its worst outcome")
    notes.append(f"merged {len(merged.runs)} results files of --deeplab-models="
                 f"{merged.selection_spec!r} ({len(merged.selected)} models):")
    for run in merged.runs:
        notes.append(f"  shard {run.shard_label}: {_count(len(run.shard_models), 'model')}, "
                     f"{_count(len(run.items), 'test')}, exit {run.exitstatus}  "
                     f"{run.path or ''}".rstrip())
    for note in notes:
        lines += wrapped(note, width)
    for problem in merged.verdict_problems():
        lines += wrapped(f"ERROR: {problem}", width)
    lines.append(separator("=", counts_line(merged), width))
    return lines
