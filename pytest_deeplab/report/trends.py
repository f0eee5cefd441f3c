"""Version trends: saved benchmark runs and gate results, per model per TensorFlow version.

    pytest --deeplab-models=bundled --benchmark-autosave       # once per tox environment
    pytest-deeplab gate ... --json gate.json                    # optional
    pytest-deeplab report .benchmarks gate.json --html trends.html --markdown trends.md

The saved runs are read by `compare.py` (the same reading as `pytest-deeplab compare`): median
latency, CPU time per inference and mIOU per model, one column per TF version (split by oneDNN
and threads when runs differ in them), the newest run winning a cell. Gate results
(`pytest-deeplab gate --json`) are shown as their own table: the gate times both environments
alternately in one run, so its ratios are not mixed with figures from separate runs.

HTML: tables and matplotlib plots (Agg backend, PNG inline). Markdown: the tables, for a PR
comment. Plots need matplotlib (`pip install 'pytest-deeplab[report]'`); without it the HTML
says so and carries the tables alone.
"""

from __future__ import annotations

import base64
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

from pytest_deeplab import __version__
from pytest_deeplab.history import (
    CompareError,
    Comparison,
    RunEntry,
    build_comparison,
    find_run_files,
    format_table,
    load_entries,
    render_comparison,
)

MATPLOTLIB_HINT = "plots need matplotlib: pip install 'pytest-deeplab[report]'"


@dataclass
class GateRow:
    """One model's verdict from one gate run (`pytest-deeplab gate --json`)."""

    source: str
    run: str
    model: str
    baseline: str
    candidate: str
    verdict: str
    failed: bool
    ratio: Optional[dict[str, Any]] = None
    cpu_ratio: Optional[dict[str, Any]] = None
    worst_agreement: Optional[float] = None
    baseline_median_s: Optional[float] = None
    candidate_median_s: Optional[float] = None
    reasons: list[str] = field(default_factory=list)
    error: Optional[str] = None


@dataclass
class Trends:
    comparison: Optional[Comparison]
    gates: list[GateRow] = field(default_factory=list)
    files: int = 0
    runs: dict[str, int] = field(default_factory=dict)
    """column -> number of saved runs that contributed to it"""


# -- reading ----------------------------------------------------------------------------------


def _side_label(side: dict[str, Any]) -> str:
    label = f"TF {side.get('tensorflow') or '?'}"
    onednn = side.get("onednn")
    if onednn is not None:
        label += " oneDNN " + ("on" if onednn else "off")
    threads = side.get("threads") or side.get("intra_op_threads")
    if threads:
        label += f" {threads} thr"
    return label


def _gate_reports(data: Any) -> list[dict[str, Any]]:
    """`gate --json` output, or a file holding several under runs[].report."""
    if not isinstance(data, dict):
        return []
    if isinstance(data.get("models"), list) and isinstance(data.get("sides"), dict):
        return [data]
    runs = data.get("runs")
    if isinstance(runs, list):
        return [r["report"] for r in runs if isinstance(r, dict)
                and isinstance(r.get("report"), dict) and "sides" in r["report"]]
    return []


def read_gate_json(path: Path) -> list[GateRow]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []  # compare's reader reports unreadable JSON
    rows = []
    reports = _gate_reports(data)
    for number, report in enumerate(reports, 1):
        sides = report.get("sides", {})
        baseline, candidate = _side_label(sides.get("A", {})), _side_label(sides.get("B", {}))
        for model in report.get("models", []):
            agreement = model.get("agreement") or {}
            rows.append(GateRow(
                source=str(path),
                run=path.name + (f" #{number}" if len(reports) > 1 else ""),
                model=str(model.get("model")),
                baseline=baseline,
                candidate=candidate,
                verdict=str(model.get("verdict") or ("FAIL" if model.get("failed") else "")),
                failed=bool(model.get("failed")),
                ratio=model.get("ratio"),
                cpu_ratio=model.get("cpu_ratio"),
                worst_agreement=min(agreement.values()) if agreement else None,
                baseline_median_s=_finite((model.get("a") or {}).get("median_s")),
                candidate_median_s=_finite((model.get("b") or {}).get("median_s")),
                reasons=list(model.get("reasons") or []),
                error=model.get("error"),
            ))
    return rows


def _finite(value: Any) -> Optional[float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def load_trends(paths: Sequence[Path]) -> Trends:
    """Saved runs (through compare.py) and gate results under `paths`."""
    files = find_run_files(paths)
    gates = [row for f in files if f.suffix == ".json" for row in read_gate_json(f)]
    gate_files = {row.source for row in gates}
    entries: list[RunEntry] = load_entries([f for f in files if str(f) not in gate_files])
    if not entries and not gates:
        raise CompareError(
            "no saved pytest-deeplab benchmark runs or gate results found under "
            + ", ".join(map(str, paths))
            + " (save runs with `pytest --deeplab-models=... --benchmark-autosave`, gate "
            "results with `pytest-deeplab gate ... --json FILE`)")
    comparison = build_comparison(entries) if entries else None
    runs: dict[str, int] = {}
    if comparison is not None:
        runs = {column: len(set(sources)) for column, sources in comparison.sources.items()}
    return Trends(comparison, gates, len(files), runs)


# -- numbers for tables and plots -------------------------------------------------------------

METRICS: tuple[tuple[str, str, str], ...] = (
    ("latency", "Median latency", "ms"),
    ("cpu", "CPU time per inference (median)", "ms"),
    ("miou", "mIOU", ""),
)


def value(entry: Optional[RunEntry], metric: str) -> Optional[float]:
    if entry is None:
        return None
    if metric == "latency":
        return None if entry.median_s is None else 1000 * entry.median_s
    if metric == "cpu":
        return None if entry.cpu_s is None else 1000 * entry.cpu_s
    return entry.miou


def series(comparison: Comparison, metric: str) -> dict[str, list[Optional[float]]]:
    """model -> the metric in each column (None where no run has it)."""
    return {model: [value(comparison.cells.get((model, c)), metric) for c in comparison.columns]
            for model in comparison.models}


def has_metric(comparison: Comparison, metric: str) -> bool:
    return any(v is not None for values in series(comparison, metric).values() for v in values)


def metric_rows(comparison: Comparison, metric: str) -> list[list[str]]:
    rows = []
    for model, values in series(comparison, metric).items():
        base = values[0]
        row = [model]
        for i, v in enumerate(values):
            if v is None:
                row.append("-")
            elif metric == "miou":
                row.append(f"{v:.4f}")
            else:
                text = f"{v:.1f}"
                if i and base:
                    text += f" (x{v / base:.2f})"
                row.append(text)
        rows.append(row)
    return rows


# -- plots ------------------------------------------------------------------------------------


def matplotlib_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def plot_png(comparison: Comparison, metric: str, title: str, unit: str,
             relative: bool = False) -> str:
    """One metric per model across the columns, as a PNG data URI (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    columns = comparison.columns
    data = series(comparison, metric)
    figure = Figure(figsize=(8.0, 3.6), dpi=100, layout="constrained")
    axes = figure.subplots()
    x = list(range(len(columns)))
    markers = "osD^v<>phX*"
    plotted: list[float] = []
    for i, (model, values) in enumerate(data.items()):
        if relative:
            base = values[0]
            values = [None if (v is None or not base) else v / base for v in values]
        points = [(xi, v) for xi, v in zip(x, values) if v is not None]
        if not points:
            continue
        xs, ys = zip(*points)
        plotted.extend(ys)
        axes.plot(xs, ys, marker=markers[i % len(markers)], linewidth=1.6, markersize=6,
                  label=model)
    if relative:
        axes.axhline(1.0, color="#666666", linewidth=1, linestyle="--")
    elif plotted and metric != "miou" and min(plotted) > 0 and max(plotted) / min(plotted) > 20:
        axes.set_yscale("log")
    axes.set_xticks(x)
    axes.set_xticklabels(columns, rotation=15 if len(columns) > 4 else 0, ha="right"
                         if len(columns) > 4 else "center")
    axes.set_xlim(-0.3, len(columns) - 0.7)
    axes.set_title(title, fontsize=11)
    axes.set_ylabel(unit)
    axes.grid(True, alpha=0.3)
    if len(data) > 1:
        axes.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(comparison: Comparison) -> list[tuple[str, str]]:
    """(title, PNG data URI) for each metric the runs carry."""
    first = comparison.columns[0]
    out = []
    if has_metric(comparison, "latency"):
        out.append(("Median latency", plot_png(comparison, "latency", "Median latency", "ms")))
        if len(comparison.columns) > 1:
            title = f"Median latency relative to {first}"
            out.append((title, plot_png(comparison, "latency", title, "ratio", relative=True)))
    if has_metric(comparison, "cpu"):
        title = "CPU time per inference (median)"
        out.append((title, plot_png(comparison, "cpu", title, "ms")))
    if has_metric(comparison, "miou"):
        out.append(("mIOU", plot_png(comparison, "miou", "mIOU", "mIOU")))
    return out


# -- rendering --------------------------------------------------------------------------------


def _ratio(r: Optional[dict[str, Any]]) -> str:
    if not r:
        return "-"
    return f"{r['ratio']:.3f} [{r['low']:.3f}, {r['high']:.3f}]"


def gate_table(gates: Sequence[GateRow], markdown: bool) -> str:
    header = ["gate run", "model", "baseline (A)", "candidate (B)", "latency B/A [CI]",
              "CPU B/A [CI]", "worst agreement", "verdict"]
    rows = []
    for g in gates:
        agreement = "-" if g.worst_agreement is None else f"{100 * g.worst_agreement:.3f} %"
        verdict = g.verdict or "-"
        if g.error:
            verdict += f" ({g.error})"
        rows.append([g.run, g.model, g.baseline, g.candidate, _ratio(g.ratio), _ratio(g.cpu_ratio),
                     agreement, verdict])
    return format_table(header, rows, markdown)


def render_markdown(trends: Trends, title: str = "pytest-deeplab: version trends") -> str:
    parts = [f"## {title}"]
    if trends.comparison is not None:
        c = trends.comparison
        runs = ", ".join(f"{col}: {trends.runs.get(col, 0)}" for col in c.columns)
        parts.append(f"Saved runs per column: {runs}.")
        parts.append(render_comparison(c, markdown=True).strip())
    if trends.gates:
        parts.append("### Gate results (both environments timed alternately in one run)")
        parts.append(gate_table(trends.gates, markdown=True))
        failed = [g.model for g in trends.gates if g.failed]
        if failed:
            parts.append(f"**Gate failed for:** {', '.join(sorted(set(failed)))}")
    return "\n\n".join(parts) + "\n"


def build_context(trends: Trends, title: str, with_plots: bool = True) -> dict[str, Any]:
    c = trends.comparison
    tables = []
    if c is not None:
        for metric, name, unit in METRICS:
            if has_metric(c, metric):
                heading = f"{name} ({unit})" if unit else name
                if metric == "latency" and len(c.columns) > 1:
                    heading += f"; ratio to {c.columns[0]}"
                tables.append((heading, metric_rows(c, metric)))
    figures: list[tuple[str, str]] = []
    plot_note = ""
    if c is not None and with_plots:
        if matplotlib_available():
            figures = plots(c)
        else:
            plot_note = MATPLOTLIB_HINT
    return {
        "title": title,
        "generated": datetime.now(UTC).replace(microsecond=0).isoformat(),
        "columns": c.columns if c is not None else [],
        "runs": trends.runs,
        "tables": tables,
        "plots": figures,
        "plot_note": plot_note,
        "gates": trends.gates,
        "files": trends.files,
        "plugin_version": __version__,
        "ratio": _ratio,
    }


def render_html(trends: Trends, title: str = "pytest-deeplab: version trends",
                with_plots: bool = True) -> str:
    from pytest_deeplab.report.html import render_template

    return render_template("trends.html.j2", build_context(trends, title, with_plots))
