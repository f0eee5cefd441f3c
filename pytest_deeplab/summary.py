"""The end-of-run table: per model, mIOU vs threshold, worst golden agreement, latency, TF."""

from __future__ import annotations

from typing import Any

from pytest_deeplab.outcomes import SuiteOutcomes


def _fmt(value: float | None, spec: str, none: str = "-") -> str:
    return none if value is None else format(value, spec)


def summary_rows(deeplab: Any) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for model in deeplab.selected:
        result = deeplab.results[model.name]
        if result.skipped:
            rows.append((model.name, "missing", "", "", ""))
            continue
        miou = _fmt(result.miou, ".4f")
        if result.miou is not None and result.miou_threshold is not None:
            mark = "ok" if result.miou_passed else "LOW"
            miou = f"{result.miou:.4f} >= {result.miou_threshold:.2f} {mark}"
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
        rows.append((model.name, miou, agreement, latency, ""))
    return rows


def write_summary(terminalreporter: Any, deeplab: Any, outcomes: SuiteOutcomes) -> None:
    tr = terminalreporter
    tf_version = "not loaded"
    if deeplab.any_model_loaded:  # only report TF when a model ran (importing it costs seconds)
        ident = deeplab.run_identity()
        onednn = {True: "on", False: "off", None: "n/a"}[ident["onednn"]]
        threads = ident["intra_op_threads"] or "default"
        tf_version = f"{ident['tensorflow']} (oneDNN {onednn}, intra-op threads {threads})"
    tr.write_sep("=", "deeplab summary")
    header = ("model", "mIOU vs threshold", "worst golden", "median latency")
    rows = [r[:4] for r in summary_rows(deeplab)]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    for row in (header, *rows):
        tr.write_line("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    tr.write_line(f"TensorFlow {tf_version}")
    unmeasured = {r.latency_unmeasured for r in deeplab.results.values() if r.latency_unmeasured}
    for reason in sorted(unmeasured):
        tr.write_line(f"latency not measured: {reason}")
    missing = [m.name for m in deeplab.selected if deeplab.results[m.name].skipped]
    if missing:
        tr.write_line(f"not available (skipped, --deeplab-allow-missing): {', '.join(missing)}")
    if deeplab.pruned:
        tr.write_line(f"pruned {len(deeplab.pruned)} unused golden files")
    elif deeplab.unused_goldens:
        shown = ", ".join(str(p) for p in deeplab.unused_goldens[:6])
        more = " …" if len(deeplab.unused_goldens) > 6 else ""
        tr.write_line(
            f"{len(deeplab.unused_goldens)} golden files are used by no selected item: "
            f"{shown}{more}"
        )
        tr.write_line(deeplab.prune_refused or "remove them with --deeplab-prune-golden")
    if outcomes.all_skipped():
        tr.write_line(
            "ERROR: every deeplab item was skipped, so nothing was checked; the run fails "
            "rather than pass vacuously.", red=True, bold=True,
        )
