"""`pytest-deeplab compare` on hand-made saved runs (pytest-benchmark JSON, JUnit XML)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pytest_deeplab.cli.main import main
from pytest_deeplab.history import build_comparison, load_entries, render_comparison


def bench(model: str, median: float, cpu: float, **extra: Any) -> dict[str, Any]:
    return {
        "group": "deeplab", "name": f"{model}::latency",
        "fullname": f"deeplab::{model}::latency", "params": None, "param": None,
        "extra_info": {"model": model, "cpu_time_median_s": cpu, "first_call_s": 0.3, **extra},
        "options": {}, "stats": {"median": median, "mean": median, "rounds": 50},
    }


def saved_run(path: Path, tf: str, benchmarks: list[dict[str, Any]], *, onednn: bool = True,
              threads: int = 2, when: str = "2025-01-01T00:00:00") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "machine_info": {"node": "ci", "tensorflow": tf, "deeplab": {
            "tensorflow": {"version": tf, "onednn": onednn},
            "threads": {"intra_op": threads, "inter_op": 1}}},
        "commit_info": {}, "benchmarks": benchmarks, "datetime": when, "version": "5.1.0",
    }))
    return path


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    storage = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    saved_run(storage / "0001_tf215.json", "2.15.1",
              [bench("dm05", 0.050, 0.095, miou=0.9419), bench("tflite", 0.0067, 0.012)])
    saved_run(storage / "0002_tf221.json", "2.21.0",
              [bench("dm05", 0.049, 0.093, miou=0.9419), bench("tflite", 0.0060, 0.011)])
    (storage / "notes.json").write_text('{"not": "a benchmark run"}')
    return tmp_path / ".benchmarks"


def test_model_by_tf_version_table(runs: Path) -> None:
    comparison = build_comparison(load_entries([runs]))
    assert comparison.columns == ["TF 2.15.1", "TF 2.21.0"]
    assert comparison.models == ["dm05", "tflite"]
    text = render_comparison(comparison)
    lines = text.splitlines()
    assert lines[0] == "Median latency (ms; ratio to TF 2.15.1)"
    dm05 = next(line for line in lines if line.startswith("dm05") and "x0.98" in line)
    assert dm05.split() == ["dm05", "50.0", "49.0", "(x0.98)"]
    assert "tflite  6.7" in text and "6.0 (x0.90)" in text
    assert "CPU time per inference, median (ms)" in text
    assert "0.9419" in text  # the mIOU table


def test_markdown_through_the_cli(runs: Path, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "compare.md"
    assert main(["compare", str(runs), "--markdown", "-o", str(out_file)]) == 0
    out = capsys.readouterr().out
    assert "| model | TF 2.15.1 | TF 2.21.0 |" in out
    assert "| dm05 | 50.0 | 49.0 (x0.98) |" in out
    assert out_file.read_text() + "\n" == out


def test_same_version_runs_are_split_by_onednn_and_threads(tmp_path: Path) -> None:
    saved_run(tmp_path / "a.json", "2.21.0", [bench("dm05", 0.049, 0.09)])
    saved_run(tmp_path / "b.json", "2.21.0", [bench("dm05", 0.059, 0.10)], onednn=False)
    comparison = build_comparison(load_entries([tmp_path]))
    assert comparison.columns == ["TF 2.21.0 oneDNN off 2 thr", "TF 2.21.0 oneDNN on 2 thr"]


def test_the_newest_run_wins_a_cell(tmp_path: Path) -> None:
    saved_run(tmp_path / "old.json", "2.21.0", [bench("dm05", 0.080, 0.1)],
              when="2025-01-01T00:00:00")
    saved_run(tmp_path / "new.json", "2.21.0", [bench("dm05", 0.049, 0.1)],
              when="2025-02-01T00:00:00")
    comparison = build_comparison(load_entries([tmp_path]))
    assert comparison.cells[("dm05", "TF 2.21.0")].median_s == 0.049


def test_junit_mIOU_fills_in(tmp_path: Path) -> None:
    saved_run(tmp_path / "run.json", "2.15.1", [bench("dm05", 0.05, 0.09)])
    (tmp_path / "junit.xml").write_text(
        '<testsuites><testsuite name="pytest" timestamp="2025-01-01T00:00:00">'
        '<testcase classname="deeplab" name="deeplab::dm05::miou"><properties>'
        '<property name="deeplab_miou" value="0.9419"/></properties></testcase>'
        '<testcase classname="deeplab" name="deeplab::dm05::latency"><properties>'
        '<property name="deeplab_tensorflow" value="2.15.1"/>'
        '<property name="deeplab_latency_median_s" value="0.05"/></properties></testcase>'
        '</testsuite></testsuites>'
    )
    comparison = build_comparison(load_entries([tmp_path]))
    assert comparison.cells[("dm05", "TF 2.15.1")].miou == pytest.approx(0.9419)


def test_nothing_to_compare_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty")]) == 2
    assert "no pytest-deeplab benchmark results" in capsys.readouterr().err
    (tmp_path / "broken.json").write_text("{")
    assert main(["compare", str(tmp_path / "broken.json")]) == 2
    assert "broken.json" in capsys.readouterr().err
