"""Saved benchmark runs laid out side by side: model x TensorFlow version.

Reads what `pytest --deeplab-models=… --benchmark-autosave` (or `--benchmark-json=FILE`) wrote:
pytest-benchmark's JSON, whose `machine_info.deeplab` block (see `machine.py`) and each
benchmark's `extra_info` say which TensorFlow build, oneDNN setting and threads produced it.
JUnit XML files written with `--junitxml` are read too, for mIOU (`deeplab_miou` properties)
when the benchmark JSON does not carry it.

Figures from separate runs include whatever the machine did between them; for a verdict on an
upgrade, use `pytest-deeplab gate`, which alternates the two environments in one run.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deeplab.constants import SUITE_PREFIX


class CompareError(ValueError):
    """Nothing to compare, or a file that is not a saved run."""


@dataclass
class RunEntry:
    """One model's figures from one saved run."""

    model: str
    tensorflow: str
    onednn: bool | None = None
    threads: int | None = None
    median_s: float | None = None
    cpu_s: float | None = None
    first_call_s: float | None = None
    miou: float | None = None
    cv: float | None = None
    datetime: str = ""
    source: str = ""

    @property
    def variant(self) -> tuple[str, bool | None, int | None]:
        return (self.tensorflow, self.onednn, self.threads)


@dataclass
class Comparison:
    columns: list[str]
    models: list[str]
    cells: dict[tuple[str, str], RunEntry] = field(default_factory=dict)
    sources: dict[str, list[str]] = field(default_factory=dict)


# -- reading ----------------------------------------------------------------------------------


def find_run_files(paths: Iterable[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".json", ".xml")))
        elif path.is_file():
            files.append(path)
        else:
            raise CompareError(f"{path}: no such file or directory")
    return files


def _get(mapping: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(mapping, dict):
            return None
        mapping = mapping.get(key)
    return mapping


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def read_benchmark_json(path: Path) -> list[RunEntry]:
    """The deeplab latency entries of one pytest-benchmark JSON file ([] if it has none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CompareError(f"{path}: not a readable pytest-benchmark JSON file ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        return []
    machine = data.get("machine_info") or {}
    # "version" is the key of runs saved before the identity schema was unified
    run_tf = (_get(machine, "deeplab", "tensorflow", "tensorflow")
              or _get(machine, "deeplab", "tensorflow", "version"))
    run_onednn = _get(machine, "deeplab", "tensorflow", "onednn")
    run_threads = _get(machine, "deeplab", "threads", "intra_op")
    entries = []
    for bench in data["benchmarks"]:
        extra = bench.get("extra_info") or {}
        model = extra.get("model") or _model_from_name(str(bench.get("name", "")))
        if not model:
            continue
        stats = bench.get("stats") or {}
        threads = extra.get("threads", run_threads)
        entries.append(RunEntry(
            model=str(model),
            tensorflow=str(extra.get("tensorflow") or run_tf or "unknown"),
            onednn=extra.get("onednn", run_onednn),
            threads=int(threads) if isinstance(threads, int) and threads else None,
            median_s=_float(stats.get("median")),
            cpu_s=_float(extra.get("cpu_time_median_s")),
            first_call_s=_float(extra.get("first_call_s")),
            miou=_float(extra.get("miou")),
            cv=_float(extra.get("cv")),
            datetime=str(data.get("datetime", "")),
            source=str(path),
        ))
    return entries


def _model_from_name(name: str) -> str | None:
    match = re.fullmatch(r"(.+)::latency", name)
    return match.group(1) if match else None


def read_junit(path: Path) -> list[RunEntry]:
    """mIOU (and latency) from a JUnit XML written by a pytest-deeplab run."""
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise CompareError(f"{path}: not a readable JUnit XML file ({exc})") from None
    per_model: dict[str, dict[str, str]] = {}
    for case in root.iter("testcase"):
        match = re.search(re.escape(SUITE_PREFIX) + r"([^:]+)::", (case.get("name") or "") + "::")
        model = match.group(1) if match else None
        props = {p.get("name", ""): p.get("value", "") for p in case.iter("property")}
        if model is None or not any(k.startswith("deeplab_") for k in props):
            continue
        per_model.setdefault(model, {}).update(props)
    tf = next((p["deeplab_tensorflow"] for p in per_model.values()
               if p.get("deeplab_tensorflow")), None)
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    stamp = suite.get("timestamp", "") if suite is not None else ""
    entries = []
    for model, props in per_model.items():
        entries.append(RunEntry(
            model=model,
            tensorflow=tf or "unknown",
            median_s=_maybe(props.get("deeplab_latency_median_s")),
            first_call_s=_maybe(props.get("deeplab_first_call_s")),
            cpu_s=_maybe(props.get("deeplab_cpu_time_median_s")),
            miou=_maybe(props.get("deeplab_miou")),
            datetime=stamp,
            source=str(path),
        ))
    return entries


def _maybe(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "", "None") else None
    except ValueError:
        return None


def load_entries(paths: Sequence[Path]) -> list[RunEntry]:
    entries: list[RunEntry] = []
    for path in find_run_files(paths):
        if path.suffix == ".xml":
            entries.extend(read_junit(path))
        else:
            entries.extend(read_benchmark_json(path))
    return entries


# -- laying out -------------------------------------------------------------------------------


def _version_key(version: str) -> tuple[Any, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\-+]", version))


def _label(variant: tuple[str, bool | None, int | None], ambiguous: bool) -> str:
    tf, onednn, threads = variant
    label = f"TF {tf}"
    if ambiguous:
        if onednn is not None:
            label += " oneDNN " + ("on" if onednn else "off")
        if threads:
            label += f" {threads} thr"
    return label


def build_comparison(entries: Sequence[RunEntry]) -> Comparison:
    """Columns per TF version (split by oneDNN / threads when those differ); the newest run wins
    a cell, and JUnit mIOU fills in where the benchmark JSON has none."""
    if not entries:
        raise CompareError("no pytest-deeplab benchmark results found (were the runs saved with "
                           "--benchmark-autosave or --benchmark-json, with --deeplab-models?)")
    bench = [e for e in entries if e.median_s is not None or e.cpu_s is not None]
    variants = sorted({e.variant for e in bench} or {e.variant for e in entries},
                      key=lambda v: (_version_key(v[0]), str(v[1]), v[2] or 0))
    by_tf: dict[str, int] = {}
    for v in variants:
        by_tf[v[0]] = by_tf.get(v[0], 0) + 1
    labels = {v: _label(v, by_tf[v[0]] > 1) for v in variants}
    comparison = Comparison(columns=[labels[v] for v in variants], models=[])
    for entry in sorted(bench, key=lambda e: e.datetime):
        column = labels[entry.variant]
        comparison.cells[(entry.model, column)] = entry
        comparison.sources.setdefault(column, []).append(entry.source)
        if entry.model not in comparison.models:
            comparison.models.append(entry.model)
    for entry in sorted(entries, key=lambda e: e.datetime):  # JUnit: mIOU only
        if entry.miou is None:
            continue
        columns = [labels[v] for v in variants if v[0] == entry.tensorflow]
        if entry.tensorflow == "unknown" and len(comparison.columns) == 1:
            columns = comparison.columns
        for column in columns:
            cell = comparison.cells.get((entry.model, column))
            if cell is None:
                cell = RunEntry(entry.model, entry.tensorflow, source=entry.source)
                comparison.cells[(entry.model, column)] = cell
                if entry.model not in comparison.models:
                    comparison.models.append(entry.model)
            if cell.miou is None:
                cell.miou = entry.miou
    comparison.models.sort()
    return comparison


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]], markdown: bool) -> str:
    """A Markdown table, or the same cells as aligned plain text."""
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    out = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip(),
           "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(out)


def render_comparison(comparison: Comparison, markdown: bool = False) -> str:
    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f}"

    sections = []
    first = comparison.columns[0]
    metrics: list[tuple[str, Any]] = [
        ("Median latency (ms; ratio to " + first + ")", "latency"),
        ("CPU time per inference, median (ms)", "cpu"),
        ("First call (ms)", "first"),
        ("mIOU", "miou"),
    ]
    for title, kind in metrics:
        rows = []
        for model in comparison.models:
            row = [model]
            base = comparison.cells.get((model, first))
            for column in comparison.columns:
                cell = comparison.cells.get((model, column))
                if cell is None:
                    row.append("-")
                elif kind == "latency":
                    text = ms(cell.median_s)
                    if (column != first and base is not None and base.median_s
                            and cell.median_s is not None):
                        text += f" (x{cell.median_s / base.median_s:.2f})"
                    row.append(text)
                elif kind == "cpu":
                    row.append(ms(cell.cpu_s))
                elif kind == "first":
                    row.append(ms(cell.first_call_s))
                else:
                    row.append("-" if cell.miou is None else f"{cell.miou:.4f}")
            rows.append(row)
        if kind in ("miou", "first") and all(r[1:] == ["-"] * len(comparison.columns)
                                             for r in rows):
            continue
        heading = f"### {title}" if markdown else title
        table = format_table(["model", *comparison.columns], rows, markdown)
        sections.append(f"{heading}\n\n{table}")
    note = ("Separate runs: differences include the machine's drift between them; "
            "`pytest-deeplab gate` measures two environments alternately for a verdict.")
    return "\n\n".join(sections) + f"\n\n{note}\n"
