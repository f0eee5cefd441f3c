"""TF Lite models through the plugin, as users declare them: the input size from the file, the
run's TF Lite identity in the goldens, XNNPACK switches, and damaged files that fail their own
items while the rest of the run (summary, JUnit XML, HTML report) carries on."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from conftest import COUNT_LOADS, DeepLabPytester
from PIL import Image
from tflite_builders import SIZE, build_all, scene

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(tf, tmp_path_factory.mktemp("tflite"))


def photos(folder: Path) -> Path:
    """Two scenes of the tiny model's colours, one wide and one tall."""
    folder.mkdir(exist_ok=True)
    Image.fromarray(scene(90, 160, seed=1)).save(folder / "wide.png")
    Image.fromarray(scene(150, 100, seed=2)).save(folder / "tall.png")
    return folder


def tflite_model(path: Path, golden_images: Path, **settings: Any) -> dict[str, Any]:
    return {"path": path, "format": "tflite", "label_set": 6, "golden_images": golden_images,
            **settings}


def golden_json(root: Path, model: str, image: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / model / f"{image}.json").read_text())
    return data


def test_goldens_record_the_input_size_from_the_file_resize_and_xnnpack(
    deeplab: DeepLabPytester, tiny: dict[str, Path]
) -> None:
    deeplab.configure(models={"lite": tflite_model(tiny["float"], photos(deeplab.path / "p"))})
    written = deeplab.run("--deeplab-models=lite", "-m", "deeplab_mask", "--deeplab-threads=2",
                          "--deeplab-update-golden")
    written.assert_outcomes(passed=2)
    meta = golden_json(deeplab.path / "deeplab-golden", "lite", "wide")
    assert meta["preprocessing"]["input_size"] == SIZE  # nothing configured: the file says 65
    assert meta["preprocessing"]["resize"] == "pad"
    assert meta["shape"] == [36, 65]  # 90 x 160 demo-resized to a long side of 65
    assert meta["tflite"]["xnnpack"] is True and meta["tflite"]["delegated_partitions"] >= 1
    assert meta["tflite"]["threads"] == 2
    assert meta["tflite"]["interpreter"] in (f"tf.lite (TensorFlow {tf.__version__})",) or \
        meta["tflite"]["interpreter"].startswith("ai_edge_litert ")
    deeplab.run("--deeplab-models=lite", "-m", "deeplab_mask").assert_outcomes(passed=2)

    off = deeplab.run("--deeplab-models=lite", "-m", "deeplab_mask", "--deeplab-no-xnnpack",
                      "--deeplab-update-golden")
    off.assert_outcomes(passed=2)
    meta = golden_json(deeplab.path / "deeplab-golden", "lite", "tall")
    assert meta["tflite"]["xnnpack"] is False and meta["tflite"]["delegated_partitions"] == 0


def test_xnnpack_off_per_model_and_stretch_per_model(
    deeplab: DeepLabPytester, tiny: dict[str, Path]
) -> None:
    deeplab.configure(models={"lite": tflite_model(
        tiny["uint8_argmax64"], photos(deeplab.path / "p"), xnnpack=False, resize="stretch")})
    deeplab.run("--deeplab-models=lite", "-m", "deeplab_mask",
                "--deeplab-update-golden").assert_outcomes(passed=2)
    meta = golden_json(deeplab.path / "deeplab-golden", "lite", "wide")
    assert meta["preprocessing"]["resize"] == "stretch"
    assert meta["tflite"]["xnnpack"] is False


def test_a_damaged_model_fails_its_own_items_and_the_run_still_reports(
    deeplab: DeepLabPytester, tiny: dict[str, Path]
) -> None:
    """In a separate process, as CI runs it: a truncated .tflite used to end the whole pytest
    process with SIGSEGV (exit 139), taking the other models' results and every report with it.
    It is loaded once; its second item fails with the same message without reloading."""
    folder = photos(deeplab.path / "p")
    cut = deeplab.path / "cut.tflite"
    data = tiny["float"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    deeplab.configure(models={"good": tflite_model(tiny["float"], folder),
                              "cut": tflite_model(cut, folder)})
    deeplab.pytester.makeconftest(COUNT_LOADS)
    deeplab.run("--deeplab-models=good", "--deeplab-update-golden", "-m", "deeplab_mask")
    junit, report = deeplab.path / "junit.xml", deeplab.path / "report.html"
    result = deeplab.run_subprocess("--deeplab-models=good,cut", "-m", "deeplab_mask",
                                    f"--junitxml={junit}", f"--deeplab-report={report}")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2, failed=2)
    message = (f"ModelLoadError: {cut}: the TF Lite file is truncated or corrupt ({len(data) // 2} "
               "bytes; its operators cannot be read: an offset points past the end of the "
               "file). Delete it and fetch or copy it again.")
    assert result.stdout.str().count(message) == 2
    assert "LOADS=good,cut" in result.stdout.str()  # the damaged file was tried once
    failures = [case for case in ET.parse(junit).getroot().iter("testcase")
                if case.find("failure") is not None]
    assert sorted(f"{case.get('classname')}.{case.get('name')}" for case in failures) == [
        "deeplab.cut.tall.mask", "deeplab.cut.wide.mask"]
    assert all("truncated or corrupt" in ET.tostring(case, encoding="unicode")
               for case in failures)
    assert report.is_file() and "cut" in report.read_text()
    result.stdout.fnmatch_lines(["*deeplab summary*", "good *", "*deeplab report: *report.html"])


@pytest.mark.parametrize(("settings", "message"), [
    ({"resize": "crop"},
     "resize must be \"pad\" (DeepLab's export: long side to the input size, padded with the "
     "mean) or \"stretch\" (the TF Lite Task Library's), got 'crop'"),
    ({"xnnpack": "off"}, "xnnpack must be true or false, got 'off'"),
])
def test_bad_tflite_settings_are_usage_errors(deeplab: DeepLabPytester, tiny: dict[str, Path],
                                              settings: dict[str, Any], message: str) -> None:
    deeplab.configure(models={"lite": tflite_model(tiny["float"], deeplab.path, **settings)})
    result = deeplab.run("--deeplab-models=lite")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: {deeplab.path / 'pyproject.toml'}: [models.lite]: {message}" in \
        result.stderr.str()


def test_tflite_settings_on_a_frozen_graph_are_an_error_not_ignored(
    deeplab: DeepLabPytester, small_model: Any
) -> None:
    deeplab.configure(models={"graph": small_model.model(resize="stretch", xnnpack=False)})
    result = deeplab.run("--deeplab-models=graph")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (f"ERROR: {deeplab.path / 'pyproject.toml'}: [models.graph]: resize and xnnpack apply "
            "to TF Lite models only (format = \"tflite\"); this model is a frozen_graph (a "
            "frozen graph pads images inside itself and runs without XNNPACK)"
            ) in result.stderr.str()
