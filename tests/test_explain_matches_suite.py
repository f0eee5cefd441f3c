"""explain's final mask is the suite's, for every bundled and real-zoo model: explain runs the
same format code (frozen graph: a pass fetching only the output; TF Lite: the suite's own
predictor), so a divergence it reports is one the suite would see."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, REAL_ZOO, minizoo_manifest, requires_real_zoo

from pytest_deeplab.data.images import demo_resize, load_rgb
from pytest_deeplab.runtime import load_predictor
from pytest_deeplab.runtime.intermediates import open_intermediates

pytestmark = pytest.mark.needs_tf
GOLDEN = sorted((FIXTURES / "scenes" / "golden").glob("*.png"))


def bundled() -> list[tuple[str, str, int, str]]:
    return [(m["name"], m["format"], int(m["input_size"]), m.get("archive") or m["file"])
            for m in minizoo_manifest()["models"]]


def model_file(entry: str, tmp: Path) -> Path:
    if entry.endswith(".tar.gz"):
        with tarfile.open(FIXTURES / entry) as tar:
            tar.extractall(tmp, filter="data")
        return next(tmp.rglob("*.pb"))
    return FIXTURES / entry


def same_masks(path: Path, fmt: str, image: np.ndarray) -> None:
    suite = load_predictor("m", path, fmt, threads=2).predict(image)
    explained = open_intermediates(path, fmt, input_tensor=None, output_tensor=None, threads=2,
                                   image=image).mask()
    np.testing.assert_array_equal(explained, suite)
    assert len(np.unique(suite)) >= 2


@pytest.mark.parametrize(("name", "fmt", "size", "entry"), bundled(), ids=lambda v: str(v))
def test_bundled_models(name: str, fmt: str, size: int, entry: str, tmp_path: Path) -> None:
    path = model_file(entry, tmp_path)
    for golden in GOLDEN[:2]:
        same_masks(path, fmt, demo_resize(load_rgb(golden), size))


@requires_real_zoo
@pytest.mark.parametrize(("file", "fmt", "size"), [
    ("mnv2_dm05_pascal_reexport_frozen_inference_graph.pb", "frozen_graph", 513),
    ("deeplabv3_257_mv_gpu.tflite", "tflite", 257),
    ("deeplabv3_mnv2_pascal_quant.tflite", "tflite", 513),  # ArgMax class ids out
    ("lite-model_deeplabv3-mobilenetv2-ade20k_1_default_1.tflite", "tflite", 513),
])
def test_real_zoo_models(file: str, fmt: str, size: int) -> None:
    photo = REAL_ZOO / "images" / "image1.jpg"
    same_masks(REAL_ZOO / "models" / file, fmt, demo_resize(load_rgb(photo), size))
