"""`pytest-deeplab explain` end to end: real workers, real graphs, real TensorFlow.

Each run starts one worker per side (this interpreter), so these tests take a few seconds each
on a quiet machine: they are the proof that the first divergence is found where it really is.
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, REAL_DM05, REAL_ZOO, DeepLabPytester, SmallModel, requires_real_zoo

from pytest_deeplab.cli.main import main
from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.explain.runner import DEFAULT_TOLERANCE
from pytest_deeplab.golden.store import GoldenStore

pytestmark = pytest.mark.needs_tf

GOLDEN = FIXTURES / "scenes" / "golden" / "golden_00_200x150.png"
SQUARE = FIXTURES / "scenes" / "golden" / "golden_02_300x300.png"
SCALED = "block1_0/expand"  # a 1x1 expansion convolution in the middle of the bundled MNv2


def explain(tmp_path: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    out = tmp_path / "explain.json"
    code = main(["explain", *args, "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data: dict[str, Any] = json.loads(out.read_text())
    data["_stdout"] = captured.out
    return data


def edited_graph(source: Path, target: Path, edit: Any) -> Path:
    """A copy of a frozen graph with `edit(graph_def)` applied (TensorFlow's own protobufs)."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(source.read_bytes())
    edit(graph_def, tf)
    target.write_bytes(graph_def.SerializeToString())
    return target


def scale_weights(node_name: str, factor: float) -> Any:
    def edit(graph_def: Any, tf: Any) -> None:
        (node,) = [n for n in graph_def.node if n.name == node_name]
        weights = tf.make_ndarray(node.attr["value"].tensor)
        node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(weights * factor))
    return edit


@pytest.fixture
def copies(small_model: SmallModel, tmp_path: Path) -> tuple[Path, Path, Path]:
    """The bundled graph, an untouched copy, and a copy with one convolution's weights x1.5."""
    original = tmp_path / "original.pb"
    original.write_bytes(small_model.graph.read_bytes())
    untouched = tmp_path / "untouched.pb"
    untouched.write_bytes(small_model.graph.read_bytes())
    scaled = edited_graph(original, tmp_path / "scaled.pb", scale_weights(f"{SCALED}/weights", 1.5))
    return original, untouched, scaled


def files_args(a: Path, b: Path, *more: str) -> list[str]:
    return [str(a), "--against", str(b), "--image", str(GOLDEN), "--input-size", "257", *more]


def test_an_untouched_copy_gives_null_for_both(
    copies: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original, untouched, _ = copies
    html = tmp_path / "report.html"
    data = explain(tmp_path, capsys, *files_args(original, untouched, "--html", str(html)))
    assert data["first_difference"] is None and data["first_divergence"] is None
    assert data["mask"]["identical"] is True
    assert data["compared"] > 50 and not data["unmatched"]["A"] and not data["unmatched"]["B"]
    assert all(t["max_abs"] == 0.0 for t in data["tensors"])
    assert "first divergence: none" in data["_stdout"]
    page = html.read_text()
    assert 'src="data:image/png;base64,' in page
    assert "Every compared tensor is bit-identical" in page


def test_scaled_convolution_is_the_first_divergence(
    copies: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As inference runs it: the conv is fused with its bias and ReLU6, and named with them."""
    original, _, scaled = copies
    data = explain(tmp_path, capsys, *files_args(original, scaled))
    first = data["first_divergence"]
    assert first == data["first_difference"]  # nothing before it differs at all
    assert f"{SCALED}/Conv2D" in first["fused"], first
    assert first["op"] == f"{SCALED}/Relu6" and first["kernel"].startswith("_")  # a fused kernel
    # weights x1.5 move the conv's output by a third (the unfused test sees exactly 1/3); after
    # the bias and the ReLU6 clipping, still far beyond tolerance on most elements
    assert first["rel_l2"] > 0.2 and first["fraction_beyond"] > 0.5
    assert data["mask"]["agreement"] < 1.0


def test_unfused_names_the_convolution_node_itself(
    copies: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    original, _, scaled = copies
    data = explain(tmp_path, capsys, *files_args(original, scaled, "--unfused"))
    first = data["first_divergence"]
    assert (first["op"], first["type"]) == (f"{SCALED}/Conv2D", "Conv2D")
    assert first["rel_l2"] == pytest.approx(0.5 / 1.5, rel=1e-5)  # exactly the weights' scale
    assert data["first_difference"]["op"] == first["op"]


@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="oneDNN kernels are an x86 feature of TensorFlow's CPU wheels")
def test_onednn_on_vs_off_differs_far_below_the_default_tolerance_and_is_attributed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The default tolerance must not flag float reordering; --attribute must find oneDNN."""
    data = explain(tmp_path, capsys, "mini_mnv2_os16", "--env-a", "TF_ENABLE_ONEDNN_OPTS=1",
                   "--env-b", "TF_ENABLE_ONEDNN_OPTS=0", "--attribute", "--tolerance", "1e-9")
    assert data["sides"]["A"]["onednn"] is True and data["sides"]["B"]["onednn"] is False
    first = data["first_difference"]
    assert first is not None and first["kernel"].startswith("_MklNative"), first
    assert data["largest"]["rel_l2"] < DEFAULT_TOLERANCE / 100  # 100x margin under the default
    assert data["mask"]["identical"]
    attribution = data["attribution"]
    by_pair = {(v["a"], v["b"]): v for v in attribution["variants"]}
    assert by_pair[("A' oneDNN off", "B oneDNN off")]["disappears"]
    assert by_pair[("A oneDNN on", "B' oneDNN on")]["disappears"]
    assert not by_pair[("A' oneDNN off", "B' oneDNN on")]["disappears"]
    assert "disappears with" in attribution["conclusion"]


def float_tflite(small_model: SmallModel, tmp_path: Path) -> Path:
    """The bundled float conversion, or one made here the same way (TFLiteConverter)."""
    shipped = FIXTURES / "models" / "mini_mnv2_os16_float.tflite"
    if shipped.is_file():
        return shipped
    import tensorflow as tf

    converter = tf.compat.v1.lite.TFLiteConverter.from_frozen_graph(
        str(small_model.graph), input_arrays=["sub_3"], output_arrays=["ResizeBilinear_2"],
        input_shapes={"sub_3": [1, 257, 257, 3]})
    path = tmp_path / "mini_float.tflite"
    path.write_bytes(converter.convert())
    return path


def test_frozen_graph_against_its_float_tflite_conversion(
    small_model: SmallModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tflite = float_tflite(small_model, tmp_path)
    data = explain(tmp_path, capsys, "mini_mnv2_os16", "--against", str(tflite),
                   "--image", str(SQUARE))
    pairs = {t["tensor"]: t.get("tensor_b", t["tensor"]) for t in data["tensors"]}
    assert pairs["stem/Relu6:0"].split(";")[0] == "stem/Relu6"  # the fused TF Lite name
    assert data["compared"] > 40
    assert "Cast:0" in data["unmatched"]["A"]  # the graph's resize arithmetic: not in TF Lite
    assert data["sides"]["B"]["format"] == "tflite" and data["sides"]["B"]["xnnpack"] is True
    # a float conversion differs by float reordering only, as measured (README)
    assert data["first_divergence"] is None and data["largest"]["rel_l2"] < 1e-4
    assert data["mask"]["agreement"] > 0.999


def test_a_graph_this_tensorflow_cannot_read_is_exit_2_naming_the_op(
    small_model: SmallModel, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def rename_ops(graph_def: Any, tf: Any) -> None:
        for node in graph_def.node:
            if node.op == "Relu6":
                node.op = "FancyRelu"
    bad = edited_graph(small_model.graph, tmp_path / "bad.pb", rename_ops)
    code = main(["explain", str(bad), "--image", str(GOLDEN)])
    err = capsys.readouterr().err
    assert code == 2
    assert "op FancyRelu is not registered in TensorFlow" in err
    assert "26 nodes" in err  # the bundled MNv2 has 26 ReLU6 ops


def test_what_cannot_run_is_exit_2_with_the_fix(
    small_model: SmallModel, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "no_such_model"]) == 2
    assert "no_such_model" in capsys.readouterr().err
    assert main(["explain", str(small_model.graph)]) == 2
    assert "give --image PATH" in capsys.readouterr().err


def test_a_failing_mask_item_prints_an_explain_command_that_runs(
    deeplab: DeepLabPytester, small_model: SmallModel, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deeplab.configure(models={"my-small": small_model.model()})
    golden = deeplab.path / "golden"
    args = ("--deeplab-models=my-small", "-m", "deeplab_mask", f"--deeplab-golden-dir={golden}")
    deeplab.run(*args, "--deeplab-update-golden").assert_outcomes(passed=6)
    store = GoldenStore(golden)
    image = "golden_00_200x150"
    stored = store.load("my-small", image)
    assert stored is not None
    mask = stored.mask.copy()
    mask[:40] = (mask[:40] + 1) % 6
    store.save("my-small", image, mask, stored.metadata, get_label_set("minizoo"))
    result = deeplab.run(*args)
    result.assert_outcomes(passed=5, failed=1)
    line = next(x for x in result.stdout.lines if "where the runs part ways:" in x)
    command = shlex.split(line.split("where the runs part ways:", 1)[1])
    assert command[:3] == ["pytest-deeplab", "explain", "my-small"]
    assert command[command.index("--image") + 1] == str(small_model.golden_images / f"{image}.png")
    assert command[command.index("--candidate") + 1] == sys.executable
    # run it: the golden was edited, not the model, so both environments agree tensor for tensor
    data = explain(tmp_path, capsys, *command[2:])
    assert data["first_difference"] is None and data["mask"]["identical"]


@requires_real_zoo
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="oneDNN kernels are an x86 feature of TensorFlow's CPU wheels")
def test_real_dm05_onednn_on_vs_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The README's finding: oneDNN moves the first convolution's output, never the mask."""
    data = explain(tmp_path, capsys, str(REAL_DM05), "--image",
                   str(REAL_ZOO / "images" / "image1.jpg"),
                   "--env-a", "TF_ENABLE_ONEDNN_OPTS=1", "--env-b", "TF_ENABLE_ONEDNN_OPTS=0")
    first = data["first_difference"]
    assert first["op"] == "MobilenetV2/Conv/Relu6" and "_MklNative" in first["kernel"]
    assert data["first_divergence"] is None
    assert data["logits"]["tensor"] == "ResizeBilinear_2:0"
    assert 0 < data["logits"]["rel_l2"] < DEFAULT_TOLERANCE / 100
    assert data["mask"]["identical"]
    assert np.isclose(sum(t["rel_l2"] == 0 for t in data["tensors"]) / data["compared"], 0,
                      atol=0.2)  # nearly every tensor after the first conv has moved
