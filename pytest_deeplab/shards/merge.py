"""Shards' results files -> one run with one verdict, or a refusal naming what is wrong.

The merge fails closed: it refuses (and says which files and shards) when a shard is missing or
appears twice, when the files come from different splits or selections, when the split itself
does not add up (a model in two shards or in none: the jobs planned from different costs), when
a shard was interrupted, or when the shards ran under different TensorFlow / oneDNN / thread
identities, unless that is asked for (`allow_mixed`), in which case the merged run says so.
The verdict then follows the unsharded run's rules: any failed or errored item fails, and so
does a run whose every built-in item was skipped or that checked nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deeplab.errors import DeepLabError
from pytest_deeplab.shards.results import (
    FILE_GLOB,
    ItemResult,
    ResultsError,
    RunResults,
    read_results,
)
from pytest_deeplab.verdicts.record import fail_closed

IDENTITY_KEYS = ("tensorflow", "tensorflow_git", "onednn", "intra_op_threads",
                 "inter_op_threads", "tflite_runtime", "tflite_xnnpack", "keras")
"""What makes two runs comparable (the onednn_source, env or default, does not change results)."""
EXIT_NAMES = {0: "ok", 1: "tests failed", 2: "interrupted", 3: "internal error",
              4: "usage error", 5: "no tests collected"}
COMPLETE_EXITS = (0, 1, 5)
"""A shard that ended otherwise did not run all its items."""
WORST_FIRST = ("error", "failed", "xpassed", "passed", "xfailed", "skipped")


class MergeError(DeepLabError):
    """The files cannot be merged into one run; `problems` names each file and shard."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def find_results_files(paths: Iterable[Path]) -> list[Path]:
    """Results files given directly, or found anywhere under the folders given."""
    found: dict[Path, Path] = {}
    problems: list[str] = []
    for path in map(Path, paths):
        if path.is_dir():
            inside = sorted(path.rglob(FILE_GLOB))
            if not inside:
                problems.append(f"{path}: no {FILE_GLOB} file in this folder (did every shard "
                                "job upload its --deeplab-results-dir?)")
            for file in inside:
                found.setdefault(file.resolve(), file)
        elif path.is_file():
            found.setdefault(path.resolve(), path)
        else:
            problems.append(f"{path}: no such file or folder")
    if problems:
        raise MergeError(problems)
    return list(found.values())


def merge_files(paths: Iterable[Path], allow_mixed: bool = False) -> MergedRun:
    """Find, read and merge the results files under `paths`; every problem (unreadable files,
    and what is wrong among the readable ones) is reported at once."""
    runs: list[RunResults] = []
    problems: list[str] = []
    for file in find_results_files(paths):
        try:
            runs.append(read_results(file))
        except ResultsError as exc:
            problems.append(str(exc))
    if not problems:
        return merge_runs(runs, allow_mixed)
    if runs:
        try:
            merge_runs(runs, allow_mixed)
        except MergeError as exc:
            problems += exc.problems
    raise MergeError(problems)


def _name(run: RunResults) -> str:
    return str(run.path) if run.path is not None else "in memory"


def describe_identity(identity: dict[str, Any] | None) -> str:
    if not identity:
        return "no model ran, identity unknown"
    onednn = {True: "on", False: "off", None: "n/a"}.get(identity.get("onednn"), "?")
    threads = (f"intra-op {identity.get('intra_op_threads') or 'default'}, "
               f"inter-op {identity.get('inter_op_threads') or 'default'}")
    text = (f"TensorFlow {identity.get('tensorflow')} ({identity.get('tensorflow_git', '')}), "
            f"oneDNN {onednn}, threads {threads}")
    if identity.get("tflite_runtime"):
        text += f", TF Lite {identity['tflite_runtime']}"
    if identity.get("keras"):
        text += f", Keras {identity['keras']}"
    return text


@dataclass
class MergedRun:
    """Complete, consistent shards of one run, in shard order."""

    runs: list[RunResults]
    items: list[ItemResult]
    mixed: list[str] = field(default_factory=list)
    """With --allow-mixed: how the shards' identities differ (empty when they agree)."""
    repeated: list[str] = field(default_factory=list)
    """Tests (not tied to one model) that ran in several shards: their worst outcome is kept."""

    @property
    def count(self) -> int:
        return self.runs[0].shard_count

    @property
    def selection_spec(self) -> str:
        return self.runs[0].selection_spec

    @property
    def selected(self) -> list[str]:
        return self.runs[0].selected

    @property
    def identity(self) -> dict[str, Any] | None:
        return next((run.identity for run in self.runs if run.identity), None)

    @property
    def models(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for run in self.runs:
            merged.update(run.models)
        return merged

    def counts(self) -> Counter[str]:
        return Counter(item.outcome for item in self.items)

    def verdict_problems(self) -> list[str]:
        """Why the merged run fails although no item failed (empty when it does not)."""
        if not self.items:
            return ["no test ran in any shard; the merged run fails rather than pass vacuously"]
        problems = _vacuity(self.items)
        for run in self.runs:
            if run.exitstatus == 1 and not _failures(run.items) and not _vacuity(run.items):
                problems.append(
                    f"shard {run.shard_label} ({_name(run)}) exited with status 1 although none "
                    "of its items failed; the merged run fails with it (see that job's log)")
        return problems

    @property
    def exit_status(self) -> int:
        """0 when everything passed, 1 when anything failed (pytest's codes)."""
        return 1 if _failures(self.items) or self.verdict_problems() else 0


def _failures(items: Iterable[ItemResult]) -> list[ItemResult]:
    return [item for item in items if item.outcome in ("failed", "error")]


VACUOUS = {
    "all skipped": "every deeplab item was skipped, so nothing was checked; the merged run fails "
                   "rather than pass vacuously (make the models available to the shard jobs)",
    "nothing checked": "no deeplab check was executed (only latency items with benchmarks off "
                       "ran); the merged run fails rather than pass vacuously",
}


def _vacuity(items: Iterable[ItemResult]) -> list[str]:
    """The live run's fail-closed rule (verdicts.record.fail_closed) over the merged items."""
    why = fail_closed(items)
    return [VACUOUS[why]] if why else []


def merge_runs(runs: Sequence[RunResults], allow_mixed: bool = False) -> MergedRun:
    """Check that `runs` are every shard of one run exactly once, then combine them."""
    if not runs:
        raise MergeError(["no results files to merge"])
    problems = _split_problems(runs)
    if not problems:
        problems += _plan_problems(runs)
    problems += _exit_problems(runs)
    mixed = _identity_differences(runs)
    if mixed and not allow_mixed:
        problems.append(
            "the shards ran under different TensorFlow / oneDNN / thread identities, so their "
            "figures do not form one run:\n  " + "\n  ".join(mixed)
            + "\nre-run them alike, or pass --allow-mixed to merge them anyway (the outputs then "
            "say so)")
    if problems:
        raise MergeError(problems)
    ordered = sorted(runs, key=lambda run: run.shard_index)
    items, repeated = _combine_items(ordered)
    return MergedRun(ordered, items, mixed, repeated)


def _split_problems(runs: Sequence[RunResults]) -> list[str]:
    counts = sorted({run.shard_count for run in runs})
    if len(counts) > 1:
        listing = "; ".join(f"{_name(r)} is shard {r.shard_label}" for r in runs)
        return [f"the files come from different splits ({' vs '.join(map(str, counts))} shards):"
                f" {listing}. Merge the files of one run only."]
    problems: list[str] = []
    selections: dict[tuple[str, ...], list[RunResults]] = {}
    for run in runs:  # the models matter, not how they were spelled (all vs official,bundled)
        selections.setdefault(tuple(sorted(run.selected)), []).append(run)
    if len(selections) > 1:
        listing = "; ".join(
            f"{', '.join(_name(r) for r in group)}: --deeplab-models={group[0].selection_spec!r}"
            f" ({len(models)} models: {', '.join(models)})"
            for models, group in selections.items())
        problems.append(f"the shards ran different selections: {listing}. Every shard of one "
                        "run must select the same models.")
    count = counts[0]
    by_index: dict[int, list[RunResults]] = {}
    for run in runs:
        by_index.setdefault(run.shard_index, []).append(run)
    for index, group in sorted(by_index.items()):
        if len(group) > 1:
            problems.append(f"shard {index}/{count} appears {len(group)} times: "
                            f"{', '.join(_name(r) for r in group)}. Keep one file per shard.")
    missing = [f"{i}/{count}" for i in range(1, count + 1) if i not in by_index]
    if missing:
        present = ", ".join(f"{r.shard_label} ({_name(r)})"
                            for r in sorted(runs, key=lambda r: r.shard_index))
        problems.append(
            f"shard{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing (found "
            f"{present}); every shard's results file is needed, an empty shard's too")
    return problems


def _plan_problems(runs: Sequence[RunResults]) -> list[str]:
    """The shards' own lists must partition the selection (same costs -> same plan)."""
    problems: list[str] = []
    reference = runs[0]
    differing = sorted(name for run in runs[1:] for name in set(run.costs) | set(reference.costs)
                       if run.costs.get(name) != reference.costs.get(name))
    if differing:
        problems.append(
            "the shards planned their split from different expected costs (for "
            f"{', '.join(dict.fromkeys(differing))}), so they may overlap or miss models; make "
            "the costs the same on every job (published or committed figures, not a local cache)")
    owners: dict[str, list[str]] = {}
    for run in runs:
        for name in run.shard_models:
            owners.setdefault(name, []).append(f"{run.shard_label} ({_name(run)})")
    for name, shards in sorted(owners.items()):
        if len(shards) > 1:
            problems.append(f"model {name} was run by several shards: {', '.join(shards)}")
        if name not in reference.selected:
            problems.append(f"model {name} was run by shard {shards[0]} but is not selected")
    unrun = [name for name in reference.selected if name not in owners]
    if unrun:
        problems.append(f"selected models run by no shard: {', '.join(unrun)}")
    return problems


def _exit_problems(runs: Sequence[RunResults]) -> list[str]:
    return [
        f"shard {run.shard_label} ({_name(run)}) ended with exit status {run.exitstatus} "
        f"({EXIT_NAMES.get(run.exitstatus, 'unknown')}): its results are incomplete; re-run it"
        for run in runs if run.exitstatus not in COMPLETE_EXITS
    ]


def _identity_differences(runs: Sequence[RunResults]) -> list[str]:
    """One line per shard when the shards that ran a model disagree on their identity."""
    ran = [run for run in runs if run.identity]
    keys = {tuple((run.identity or {}).get(k) for k in IDENTITY_KEYS) for run in ran}
    if len(keys) <= 1:
        return []
    return [f"shard {run.shard_label} ({_name(run)}): {describe_identity(run.identity)}"
            for run in sorted(runs, key=lambda r: r.shard_index)]


def _combine_items(runs: Sequence[RunResults]) -> tuple[list[ItemResult], list[str]]:
    """All items in shard order; a test that ran in several shards keeps its worst outcome."""
    kept: dict[str, ItemResult] = {}
    seen: Counter[str] = Counter()
    for run in runs:
        for item in run.items:
            seen[item.nodeid] += 1
            if item.nodeid not in kept or (WORST_FIRST.index(item.outcome)
                                           < WORST_FIRST.index(kept[item.nodeid].outcome)):
                kept[item.nodeid] = item
    return list(kept.values()), [nodeid for nodeid, times in seen.items() if times > 1]
