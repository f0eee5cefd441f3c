"""`pytest-deeplab explain --latency` end to end (real workers, real TensorFlow), and the gate's
Markdown pointing each latency FAIL at it."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, SmallModel

from pytest_deeplab.cli.main import main
from pytest_deeplab.gate.process import Side
from pytest_deeplab.gate.render import render
from pytest_deeplab.gate.results import GateReport, ModelOutcome
from pytest_deeplab.gate.sequential import Bounds
from pytest_deeplab.gate.settings import GateSettings
from pytest_deeplab.gate.verdict import judge

GOLDEN = FIXTURES / "scenes" / "golden" / "golden_00_200x150.png"
FLOAT = FIXTURES / "models" / "mini_mnv2_os16_float.tflite"


def latency(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    out, html = tmp_path / "latency.json", tmp_path / "latency.html"
    code = main(["explain", *args, "--latency", "--image", str(GOLDEN), "--input-size", "257",
                 "--runs", "4", "--warmup", "1", "--threads", "1", "--json", str(out),
                 "--html", str(html)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data: dict[str, Any] = json.loads(out.read_text())
    data["_stdout"], data["_html"] = captured.out, html.read_text()
    return data


@pytest.mark.needs_tf
def test_a_frozen_graph_against_itself(small_model: SmallModel, tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    data = latency(tmp_path, capsys, str(small_model.graph))
    lat = data["latency"]
    assert lat["runs"]["untraced_per_side"] == 4 and lat["runs"]["traced_per_side"] == {
        "A": 4, "B": 4}
    assert lat["total"]["a_ms"] > 0 and lat["total"]["b_ms"] > 0
    assert lat["delegation"]["same"], lat["delegation"]["changes"]
    assert lat["by_type"] and lat["by_node"]
    for row in lat["by_type"]:
        assert {"type", "a_ms", "b_ms", "share"} <= set(row)
    diffs = [r["b_ms"] - r["a_ms"] for r in lat["by_type"]]
    sign = -1 if lat["total"]["diff_ms"] < 0 else 1
    assert [sign * d for d in diffs] == sorted((sign * d for d in diffs), reverse=True)
    node = lat["by_node"][0]
    assert {"index", "name", "type", "shape", "kernel", "a_ms", "b_ms", "share"} <= set(node)
    assert "explained_fraction" in lat and lat["probe"]["A"]["available"]
    assert lat["probe"]["A"]["overhead"] > 0 and lat["probe"]["B"]["coverage"] > 0
    assert "how the model runs: same in A and B" in data["_stdout"]
    assert "_FusedConv2D" in data["_stdout"] and "By op type" in data["_html"]


@pytest.mark.needs_tf
def test_xnnpack_off_in_b_is_a_delegation_change(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = latency(tmp_path, capsys, str(FLOAT), "--xnnpack-b", "off")
    how = data["latency"]["delegation"]
    assert not how["same"] and how["changed"][0] == "delegation"
    changes = {c["what"]: c["change"] for c in how["changes"]}
    assert changes["XNNPACK"] == "True -> False" and changes["delegate partitions"] == "1 -> 0"
    assert data["latency"]["conclusion"].startswith("delegation changed")
    assert data["sides"]["B"]["xnnpack"] is False
    assert "delegation changed" in data["_stdout"].splitlines()[7]


def test_latency_refuses_tensor_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", str(FLOAT), "--latency", "--attribute"]) == 2
    assert "do not go with --latency" in capsys.readouterr().err
    assert main(["explain", str(FLOAT), "--latency", "--runs", "1"]) == 2


def test_the_gates_markdown_links_a_latency_fail_to_explain() -> None:
    a = Side("A", "/envs/a/bin/python", asked="tensorflow-cpu==2.15.* numpy<2",
             expected={"tensorflow-cpu": "2.15.1", "numpy": "1.26.4"})
    a.threads = 1
    b = Side("B", sys.executable, env={"TF_ENABLE_ONEDNN_OPTS": "0"}, threads=1)
    settings = GateSettings(a, b, models="m,n", rootdir=Path.cwd(), cpu_threshold=None)
    slow, masks = ModelOutcome("slow_model", 0.999), ModelOutcome("mask_model", 0.999)
    for outcome, ratio in ((slow, (1.3, 1.2, 1.4)), (masks, (1.0, 0.98, 1.02))):
        outcome.ratio = Bounds(*ratio, 100, 0.05)
        outcome.p_fail = {"latency": 0.001}
        outcome.cleared = {"latency": ratio[2] < 1.1}
    slow.agreement, masks.agreement = {"img": 1.0}, {"img": 0.5}
    judge(slow, settings, {"latency"})
    judge(masks, settings, set())
    text = render(GateReport(settings, {}, [slow, masks]))
    links = [line for line in text.splitlines() if "where the time went" in line]
    assert links == [
        "  - where the time went: `pytest-deeplab explain slow_model --latency --baseline "
        f"'tensorflow-cpu==2.15.*' --with-a 'numpy<2' --candidate {shlex.quote(sys.executable)} "
        "--threads 1 --env-b TF_ENABLE_ONEDNN_OPTS=0`"]


@pytest.mark.needs_tf
def test_a_models_own_xnnpack_key_reaches_both_sides_unless_overridden(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "zoo.toml"
    config.write_text(f'[models.plain]\npath = "{FLOAT}"\nformat = "tflite"\n'
                      'label_set = 6\nxnnpack = false\n')
    data = latency(tmp_path, capsys, "plain", "--config", str(config))
    assert (data["sides"]["A"]["xnnpack"], data["sides"]["B"]["xnnpack"]) == (False, False)
    assert data["latency"]["delegation"]["same"]
    data = latency(tmp_path, capsys, "plain", "--config", str(config), "--xnnpack-b", "on")
    assert (data["sides"]["A"]["xnnpack"], data["sides"]["B"]["xnnpack"]) == (False, True)
