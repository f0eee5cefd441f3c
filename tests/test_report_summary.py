"""The terminal summary stays readable at 80 columns: long model names get a line of their own,
long notes wrap, unused goldens are listed relative to the golden dir."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pytest_deeplab.catalogue.selection import build_catalogue
from pytest_deeplab.golden.prune import GoldenSweep
from pytest_deeplab.report.run import ModelEntry, RunRecord
from pytest_deeplab.report.summary import table_lines, write_summary
from pytest_deeplab.suite.latency import UNMEASURED_HINT
from pytest_deeplab.verdicts.record import ItemLog, ItemResult
from pytest_deeplab.verdicts.results import ModelResults

LONG = ("mobilenetv3_large_cityscapes_trainfine", "xception71_dpc_cityscapes_trainval")


class Terminal:
    def __init__(self, width: int) -> None:
        self.lines: list[str] = []
        self._tw = SimpleNamespace(fullwidth=width)

    def write_sep(self, sep: str, title: str) -> None:
        self.lines.append(f" {title} ".center(self._tw.fullwidth, sep))

    def write_line(self, line: str, **markup: Any) -> None:
        self.lines.append(line)


def finished_run(tmp_path: Path) -> tuple[RunRecord, GoldenSweep]:
    catalogue = build_catalogue(None, tmp_path)
    selected = [catalogue.models[n] for n in (*LONG, "xception65_ade20k_train")]
    results = {m.name: ModelResults() for m in selected}
    first, second = (results[n] for n in LONG)
    first.miou, first.miou_threshold, first.miou_passed = 0.7012, 0.70, True
    first.agreements, first.latency_median_s = {"a": 0.99987}, 1.2345
    second.miou, second.miou_threshold, second.miou_passed = 0.61, 0.70, False
    second.agreements, second.latency_median_s = {"a": 0.9}, 12.345
    second.latency_unmeasured = UNMEASURED_HINT
    results["xception65_ade20k_train"].skipped = "not in the cache"
    golden = tmp_path / "a" / "rather" / "deep" / "deeplab-golden"
    run = RunRecord([ModelEntry.of(m) for m in selected], results,
                    identity={"tensorflow": "2.21.0", "onednn": True, "intra_op_threads": 2})
    unused = [golden / LONG[1] / f"frankfurt_000000_{i:06d}.png" for i in range(8)]
    return run, GoldenSweep(golden, unused)


def test_every_line_fits_80_columns(tmp_path: Path) -> None:
    terminal = Terminal(80)
    record = ItemLog()
    for i in range(3):
        nodeid = f"deeplab::m{i}::latency"
        record.items[nodeid] = ItemResult(nodeid, "skipped", when="setup")
    run, goldens = finished_run(tmp_path)
    write_summary(terminal, run, record, goldens, rootdir=tmp_path)
    text = "\n".join(terminal.lines)
    assert all(len(line) <= 80 for line in terminal.lines), text
    lines = terminal.lines
    assert lines[1].split() == ["model", "mIOU", "vs", "threshold", "worst", "golden",
                                "median", "latency"]
    i = lines.index(LONG[0])  # too long for the table: a line of its own, figures below
    assert lines[i + 1].split() == ["0.7012", ">=", "0.70", "ok", "99.987", "%", "1234.5", "ms"]
    assert lines[i + 1].index("0.7012") == lines[1].index("mIOU")  # under its header
    assert any(line.startswith("xception65_ade20k_train") and "missing" in line
               for line in lines)
    assert "latency not measured: benchmarks are off" in text
    assert "8 golden files in a/rather/deep/deeplab-golden are used by no selected item:" in lines
    assert f"  {LONG[1]}/frankfurt_000000_000000.png" in lines
    assert "  … and 2 more" in lines
    assert "ERROR: every deeplab item was skipped" in text


def test_short_names_keep_one_line_per_model() -> None:
    header = ("model", "mIOU vs threshold", "worst golden", "median latency")
    rows = [("mini_mnv2_os16", "0.8913 >= 0.87 ok", "100.000 %", "8.1 ms")]
    assert table_lines(header, rows, 80) == [
        "model           mIOU vs threshold  worst golden  median latency",
        "mini_mnv2_os16  0.8913 >= 0.87 ok  100.000 %     8.1 ms",
    ]
    assert table_lines(header, rows, 200) == table_lines(header, rows, 80)
