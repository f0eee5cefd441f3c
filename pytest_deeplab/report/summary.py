"""The end-of-run table: per model, mIOU vs threshold, worst golden agreement, latency, TF."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_deeplab.report.run import RunRecord
from pytest_deeplab.verdicts.record import ItemLog

if TYPE_CHECKING:
    from pytest_deeplab.golden.prune import GoldenSweep


def _fmt(value: float | None, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def summary_rows(run: RunRecord) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for model in run.models:
        result = run.results[model.name]
        if result.skipped:
            rows.append((model.name, "missing", "", ""))
            continue
        miou = _fmt(result.miou, ".4f")
        if result.miou is not None and result.miou_threshold is not None:
            relation, mark = (">=", "ok") if result.miou_passed else ("<", "LOW")
            miou = f"{result.miou:.4f} {relation} {result.miou_threshold:.2f} {mark}"
        worst = result.worst_agreement
        agreement = _fmt(None if worst is None else 100 * worst, ".3f")
        if agreement != "-":
            agreement += " %"
        if result.golden_written:
            agreement = f"{len(result.golden_written)} written"
        latency = _fmt(None if result.latency_median_s is None else 1000 * result.latency_median_s,
                       ".1f")
        if latency != "-":
            latency += " ms"
        rows.append((model.name, miou, agreement, latency))
    return rows


def terminal_width(terminalreporter: Any) -> int:
    """The terminal's width (COLUMNS when set; pytest's default of 80 in CI logs)."""
    width = getattr(getattr(terminalreporter, "_tw", None), "fullwidth", None)
    return width if isinstance(width, int) and width >= 40 else 80


def table_lines(header: tuple[str, ...], rows: list[tuple[str, ...]], width: int) -> list[str]:
    """Aligned columns; a model name too long for the width gets a line of its own, with its
    figures on the next line under their headers (names are never cut: -k needs them whole)."""
    figures = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header) if i]
    figures_width = sum(figures) + 2 * len(figures)
    name_width = max(len(header[0]), *(len(r[0]) for r in rows))
    name_width = min(name_width, max(len(header[0]), width - figures_width))

    def line(name: str, cells: tuple[str, ...]) -> str:
        text = name.ljust(name_width) + "".join(
            "  " + cell.ljust(w) for cell, w in zip(cells, figures))
        return text.rstrip()

    out = []
    for row in (header, *rows):
        if len(row[0]) > name_width:
            out.append(row[0])
            out.append(line("", row[1:]))
        else:
            out.append(line(row[0], row[1:]))
    return out


def wrapped(text: str, width: int) -> list[str]:
    """A note wrapped to the width, continuation lines indented (paths are not split)."""
    return textwrap.wrap(text, width, subsequent_indent="  ", break_long_words=False,
                         break_on_hyphens=False) or [""]


def write_summary(terminalreporter: Any, run: RunRecord, record: ItemLog,
                  goldens: GoldenSweep | None = None, rootdir: Path | None = None) -> None:
    """`goldens`: what the end of the run found in the golden dir (shown relative to rootdir)."""
    tr = terminalreporter
    width = terminal_width(tr)
    tf_version = "not loaded"
    if run.any_model_loaded:  # only report TF when a model ran (importing it costs seconds)
        ident = run.run_identity()
        onednn = {True: "on", False: "off", None: "n/a"}[ident["onednn"]]
        threads = ident["intra_op_threads"] or "default"
        tf_version = f"{ident['tensorflow']} (oneDNN {onednn}, intra-op threads {threads})"
    tr.write_sep("=", "deeplab summary")
    header = ("model", "mIOU vs threshold", "worst golden", "median latency")
    rows = summary_rows(run)
    for line in table_lines(header, rows, width):
        tr.write_line(line)
    notes = [f"TensorFlow {tf_version}"]
    unmeasured = {r.latency_unmeasured for r in run.results.values() if r.latency_unmeasured}
    notes += [f"latency not measured: {reason}" for reason in sorted(unmeasured)]
    missing = [m.name for m in run.models if run.results[m.name].skipped]
    if missing:
        notes.append(f"not available (skipped, --deeplab-allow-missing): {', '.join(missing)}")
    if run.reloads:
        notes.append(f"{run.reloads} extra model load(s): a model was needed again after its "
                     "last planned item and released (tests reordered after collection, or "
                     "using deeplab_session directly); each reload costs a model load's time")
    for note in notes:
        for line in wrapped(note, width):
            tr.write_line(line)
    for note in mirror_pin_notes(run):
        for line in wrapped(note, width):
            tr.write_line(line, yellow=True)
    if goldens is not None and goldens.pruned:
        tr.write_line(f"pruned {len(goldens.pruned)} unused golden files")
    elif goldens is not None and goldens.unused:
        where, paths = _golden_paths(goldens, rootdir)
        for line in wrapped(f"{len(paths)} golden files{where} are used by no selected item:",
                            width):
            tr.write_line(line)
        for path in paths[:6]:
            tr.write_line(f"  {path}")
        if len(goldens.unused) > 6:
            tr.write_line(f"  … and {len(goldens.unused) - 6} more")
        for line in wrapped(goldens.refused or "remove them with --deeplab-prune-golden",
                            width):
            tr.write_line(line)
    message = ""
    why = record.fail_closed()
    if why == "all skipped":
        message = ("ERROR: every deeplab item was skipped, so nothing was checked; the run fails "
                   "rather than pass vacuously. See why with -rs; then make the models available "
                   "(--deeplab-mirror, --deeplab-cache-dir), drop --benchmark-skip if only "
                   "latency items were selected, or widen -m / -k.")
    elif why == "nothing checked":
        message = ("ERROR: no deeplab check was executed: the only items that ran were latency "
                   "items with benchmarks off (--benchmark-disable or pytest-xdist), which "
                   "measure nothing. The run fails rather than pass vacuously; select mask or "
                   "mIOU items too, or measure latency serially.")
    for line in wrapped(message, width) if message else []:
        tr.write_line(line, red=True, bold=True)


def mirror_pin_notes(run: RunRecord) -> list[str]:
    """One line per selected model with no published checksum that this run pinned from a mirror
    (on any xdist worker): the lock now trusts that copy, so the user should check it."""
    pins = [pin for m in run.models if (pin := run.results[m.name].mirror_pin)]
    if not pins:
        return []
    from pytest_deeplab.fetching.trust import mirror_pin_note

    return [f"trust on first use: {mirror_pin_note(pin)}" for pin in pins]


def _golden_paths(goldens: GoldenSweep, rootdir: Path | None) -> tuple[str, list[str]]:
    """Unused goldens relative to the golden dir (named once), so each fits a line."""
    paths = [Path(p) for p in goldens.unused]
    root = goldens.golden_dir
    if not all(p.is_relative_to(root) for p in paths):
        return "", [str(p) for p in paths]
    shown = root.relative_to(rootdir) if rootdir and root.is_relative_to(rootdir) else root
    return f" in {shown}", [p.relative_to(root).as_posix() for p in paths]
