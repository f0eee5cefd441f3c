"""`pytest-deeplab report DIR`: saved runs and gate results per model per TF version, as HTML
(tables, matplotlib plots inline) and Markdown."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from test_compare import bench, saved_run

from pytest_deeplab.cli.main import main
from pytest_deeplab.report import trends


def gate_json(path: Path, failed: bool = True) -> Path:
    side = {"python": "3.11.7", "env": {}, "threads": 2, "tensorflow": "2.21.0"}
    path.write_text(json.dumps({
        "threshold": 1.1, "cpu_threshold": 1.1, "confidence": 0.95,
        "sides": {"A": {**side, "onednn": True}, "B": {**side, "onednn": False,
                                                       "env": {"TF_ENABLE_ONEDNN_OPTS": "0"}}},
        "models": [{
            "model": "dm05", "verdict": "FAIL" if failed else "PASS", "failed": failed,
            "reasons": ["latency B/A 1.157 [1.145, 1.175] lies above 1.10"] if failed else [],
            "error": None, "agreement": {"image1": 1.0, "image2": 0.9995},
            "ratio": {"ratio": 1.157, "low": 1.145, "high": 1.175, "confidence": 0.95,
                      "pairs": 270, "method": "paired"},
            "cpu_ratio": None, "a": {"median_s": 0.049}, "b": {"median_s": 0.057},
        }],
        "failed": failed, "seconds": 30.0,
    }))
    return path


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    storage = tmp_path / ".benchmarks" / "Linux-CPython-3.11-64bit"
    saved_run(storage / "0001_tf215.json", "2.15.1",
              [bench("dm05", 0.050, 0.095, miou=0.9419), bench("mini", 0.008, 0.015)],
              when="2025-01-01T00:00:00")
    saved_run(storage / "0002_tf218.json", "2.18.0",
              [bench("dm05", 0.0495, 0.094, miou=0.9419), bench("mini", 0.0081, 0.0152)],
              when="2025-02-01T00:00:00")
    saved_run(storage / "0003_tf221.json", "2.21.0",
              [bench("dm05", 0.049, 0.093, miou=0.9410), bench("mini", 0.0092, 0.017)],
              when="2025-03-01T00:00:00")
    gate_json(tmp_path / ".benchmarks" / "gate.json")
    return tmp_path / ".benchmarks"


def test_runs_and_gates_are_read_apart(runs: Path) -> None:
    t = trends.load_trends([runs])
    assert t.comparison is not None
    assert t.comparison.columns == ["TF 2.15.1", "TF 2.18.0", "TF 2.21.0"]
    assert t.runs == {"TF 2.15.1": 1, "TF 2.18.0": 1, "TF 2.21.0": 1}
    (gate,) = t.gates
    assert (gate.baseline, gate.candidate) == ("TF 2.21.0 oneDNN on 2 thr",
                                               "TF 2.21.0 oneDNN off 2 thr")
    assert gate.failed and gate.worst_agreement == pytest.approx(0.9995)
    assert trends.series(t.comparison, "latency")["mini"] == pytest.approx([8.0, 8.1, 9.2])


def test_markdown_has_the_tables_for_a_pr_comment(runs: Path) -> None:
    text = trends.render_markdown(trends.load_trends([runs]))
    assert text.startswith("## pytest-deeplab: version trends")
    assert "| model | TF 2.15.1 | TF 2.18.0 | TF 2.21.0 |" in text
    assert "| mini | 8.0 | 8.1 (x1.01) | 9.2 (x1.15) |" in text
    assert "### CPU time per inference, median (ms)" in text
    assert "| dm05 | 0.9419 | 0.9419 | 0.9410 |" in text
    assert re.search(r"\| gate.json \| dm05 \| TF 2.21.0 oneDNN on 2 thr \| TF 2.21.0 oneDNN "
                     r"off 2 thr \| 1.157 \[1.145, 1.175\] \| - \| 99.950 % \| FAIL \|", text)
    assert "**Gate failed for:** dm05" in text


def _plots(html: str) -> list[Image.Image]:
    images = []
    for uri in re.findall(r'<img class="plot" src="data:image/png;base64,([^"]+)"', html):
        image = Image.open(io.BytesIO(base64.b64decode(uri)))
        image.load()
        images.append(image)
    return images


def test_html_has_plots_and_tables(runs: Path) -> None:
    pytest.importorskip("matplotlib")
    html = trends.render_html(trends.load_trends([runs]))
    plots = _plots(html)
    assert len(plots) == 4  # latency, latency relative to the first version, CPU, mIOU
    assert all(p.width == 800 and p.height == 360 for p in plots)
    assert "Median latency relative to TF 2.15.1" in html
    assert "<td class=\"num\">9.2 (x1.15)</td>" in html
    assert "1.157 [1.145, 1.175]" in html and "FAIL" in html


def test_without_matplotlib_the_html_says_how_to_get_plots(
    runs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(trends, "matplotlib_available", lambda: False)
    html = trends.render_html(trends.load_trends([runs]))
    assert not _plots(html)
    assert "pip install &#39;pytest-deeplab[report]&#39;" in html
    assert "9.2 (x1.15)" in html


def test_cli_writes_html_and_markdown(runs: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["report", str(runs), "--html", str(out / "t.html"),
                 "--markdown", str(out / "t.md")])
    assert code == 0
    assert (out / "t.html").read_text().startswith("<!DOCTYPE html>")
    assert "| mini |" in (out / "t.md").read_text()
    assert capsys.readouterr().out == ""  # files were asked for: nothing on stdout
    assert main(["report", str(runs)]) == 0
    assert capsys.readouterr().out.startswith("## pytest-deeplab: version trends")


def test_cli_reads_gate_results_alone(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gate = gate_json(tmp_path / "gate.json", failed=False)
    assert main(["report", str(gate)]) == 0
    out = capsys.readouterr().out
    assert "### Gate results" in out and "| PASS |" in out and "Median latency" not in out


def test_cli_says_what_to_do_when_nothing_was_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["report", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no saved pytest-deeplab benchmark runs" in err and "--benchmark-autosave" in err
    assert main(["report", str(tmp_path / "nowhere")]) == 2


def test_several_gate_runs_in_one_file_are_numbered(tmp_path: Path) -> None:
    one: dict[str, Any] = json.loads(gate_json(tmp_path / "g.json").read_text())
    (tmp_path / "many.json").write_text(json.dumps({"runs": [{"report": one},
                                                             {"report": one}]}))
    rows = trends.read_gate_json(tmp_path / "many.json")
    assert [r.run for r in rows] == ["many.json #1", "many.json #2"]
