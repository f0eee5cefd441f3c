"""`explain --latency` on Keras 3 models (real workers, real TensorFlow), and a model's own format
settings reaching the latency probe (Keras' normalize, TF Lite's resize)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, deeplab_toml
from test_explain_latency_cli import FLOAT, GOLDEN, latency

from pytest_deeplab.cli.main import main
from pytest_deeplab.data.images import load_rgb

pytestmark = pytest.mark.needs_tf
KERAS = FIXTURES / "models" / "mini_keras_deeplabv3plus.keras"


def layer_names(path: Path) -> set[str]:
    """The layers a .keras file declares, read from its config.json as data."""
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    return {str(layer["config"]["name"]) for layer in config["config"]["layers"]}


def test_the_bundled_keras_model_against_itself(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    data = latency(tmp_path, capsys, str(KERAS))
    lat = data["latency"]
    assert data["sides"]["A"]["probe_available"] and data["sides"]["B"]["probe_available"]
    assert lat["runs"]["traced_per_side"] == {"A": 4, "B": 4}
    types = {row["type"]: row for row in lat["by_type"]}
    # atrous separable convolutions and a decoder: what TF's kernels run, by their op names
    assert {"Conv2D", "DepthwiseConv2dNative", "ResizeBilinear"} <= set(types)
    for label, side in (("A", "a_ms"), ("B", "b_ms")):
        by_type = sum(row[side] for row in lat["by_type"])
        by_node = sum(row[side] for row in lat["by_node"])
        assert by_type == pytest.approx(by_node, rel=1e-9)
        # the ops of one traced inference add up to most of that inference, never more than
        # it (one thread: ops run one after another). Compared within the same traced calls,
        # so a busy machine slows both sides of the ratio; the untraced median comes from
        # other calls and is compared by the report's coverage guard, not here.
        probe = lat["probe"][label]
        assert 0.5 < probe["ops_ms"] / probe["traced_ms"] <= 1.02, (label, probe)
    layers = layer_names(KERAS)
    by_layer = {row["layer"] for row in lat["by_layer"]}
    assert len(by_layer & layers) > 20 and by_layer - layers <= {"?"}
    how = lat["delegation"]
    assert how["same"], how["changes"]
    a = how["a"]
    assert a["format"] == "keras" and a["runtime"].startswith("Keras 3")
    assert a["intra_op_threads"] == 1 and a["inter_op_threads"] == 1 and a["threads"] == 1
    assert a["input"] == {"shape": [1, 257, 257, 3], "normalize": "deeplab"}
    assert len(a["node_kernels"]) == a["executed_nodes"] >= len(lat["by_node"]) > 100
    assert "by layer:" in data["_stdout"] and "DepthwiseConv2dNative" in data["_stdout"]
    top_layer = lat["by_layer"][0]["layer"]
    assert "By layer" in data["_html"] and f"<td>{top_layer}</td>" in data["_html"]


def test_the_models_normalize_reaches_the_latency_probe(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    (tmp_path / "pyproject.toml").write_text(deeplab_toml(models={"unit_keras": {
        "path": str(KERAS), "format": "keras", "label_set": 6, "input_size": 257,
        "normalize": "unit"}}))
    data = latency(tmp_path, capsys, "unit_keras", "--rootdir", str(tmp_path))
    for side in ("a", "b"):
        assert data["latency"]["delegation"][side]["input"]["normalize"] == "unit"


def test_a_keras_model_with_a_lambda_layer_is_refused_before_it_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from test_keras_safety import lambda_model

    marker = tmp_path / "lambda-ran.txt"
    model = lambda_model(tmp_path / "lam.keras", marker)
    code = main(["explain", str(model), "--latency", "--image", str(GOLDEN), "--input-size",
                 "40", "--runs", "3", "--warmup", "1", "--threads", "1"])
    err = capsys.readouterr().err
    assert code != 0
    assert "Lambda layer 'preprocess' holds Python bytecode" in err, err
    assert not marker.exists()


@pytest.mark.parametrize("resize", ["pad", "stretch"])
def test_a_tflite_models_resize_reaches_the_latency_probe(resize: str) -> None:
    from pytest_deeplab.runtime.latency_registry import open_latency_probe

    image = load_rgb(GOLDEN)  # 200x150: "pad" leaves the bottom rows to the mean pixel
    probe = open_latency_probe(FLOAT, "tflite", input_tensor=None, output_tensor=None,
                               threads=1, image=image, settings={"resize": resize})
    try:
        assert probe.how_it_runs()["resize"] == resize
        values: Any = probe.input  # type: ignore[attr-defined]
        bottom = np.asarray(values[0, -1])
        assert bool(np.all(bottom == bottom[0])) == (resize == "pad")
    finally:
        probe.close()
