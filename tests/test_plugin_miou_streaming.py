"""The mIOU item streams its dataset (images decoded ahead on a thread while the model runs):
the score is the one the bundled model's build measured with its own loop, a bad image still
fails the item naming the file, and no loader thread outlives the item."""

from __future__ import annotations

import shutil
import threading
import xml.etree.ElementTree as ET

import pytest
from conftest import FIXTURES, SMALL, DeepLabPytester, SmallModel, minizoo_manifest

from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.data.prefetch import THREAD_NAME


def loader_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(THREAD_NAME)]


def junit_properties(path: str) -> dict[str, dict[str, str]]:
    return {
        f"{case.get('classname')}.{case.get('name')}": {
            str(p.get("name")): str(p.get("value")) for p in case.iter("property")
        }
        for case in ET.parse(path).getroot().iter("testcase")
    }


def test_the_streamed_miou_is_the_one_the_bundled_build_measured(
    deeplab: DeepLabPytester,
) -> None:
    """fixtures/minizoo/build.py scored the exported graph with its own sequential loop (plain
    GraphDef + Session, the demo resize, one matrix); the item must reproduce its figures."""
    entry = next(m for m in minizoo_manifest()["models"] if m["name"] == SMALL)
    junit = deeplab.path / "junit.xml"
    result = deeplab.run(f"--deeplab-models={SMALL}", "-m", "deeplab_miou",
                         f"--junitxml={junit}")
    result.assert_outcomes(passed=1)
    props = junit_properties(str(junit))[f"deeplab.{SMALL}.miou"]
    scenes = minizoo_manifest()["datasets"][entry["dataset"]]["images"]
    assert int(props["deeplab_miou_images"]) == len(list((FIXTURES / scenes).iterdir()))
    assert float(props["deeplab_miou"]) == pytest.approx(entry["measured_miou"], abs=5e-5)
    names = get_label_set(entry["label_set"]).class_names
    for name, iou in zip(names, entry["per_class_iou"]):
        assert float(props[f"deeplab_iou[{name}]"]) == pytest.approx(iou, abs=5e-5), name
    assert not loader_threads()


def test_a_corrupt_image_mid_dataset_fails_the_item_naming_it_and_leaves_no_thread(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    images = deeplab.path / "images"
    shutil.copytree(small_model.images, images)
    scenes = sorted(images.glob("*.png"))
    bad = scenes[3]  # images 0-2 are predicted first, 4-5 are being loaded ahead
    data = bad.read_bytes()
    bad.write_bytes(data[: len(data) // 3])
    deeplab.configure(
        models={"streamed": small_model.model(dataset="scenes", min_miou=0.1,
                                              golden_images=None)},
        datasets={"scenes": small_model.dataset(images=images)},
    )
    result = deeplab.run("--deeplab-models=streamed", "-m", "deeplab_miou")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"*ImageError: {bad}: image is corrupt or truncated (image file is truncated). "
        "Re-export or re-download the file.*"
    ])
    assert not loader_threads()


MODEL_FAILS_ON_FOURTH_IMAGE = """
import threading
from pathlib import Path

import pytest_deeplab.runtime as runtime

ORIGINAL = runtime.load_predictor


class FailsOnFourthImage:
    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def predict(self, image):
        self.calls += 1
        if self.calls == 4:
            raise RuntimeError("the model failed on image 4")
        return self.inner.predict(image)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def failing(*args, **kwargs):
    return FailsOnFourthImage(ORIGINAL(*args, **kwargs))


def pytest_configure(config):
    runtime.load_predictor = failing


def pytest_unconfigure(config):
    runtime.load_predictor = ORIGINAL


def pytest_runtest_teardown(item):
    alive = [t.name for t in threading.enumerate() if t.name.startswith("THREAD_NAME")]
    Path(item.config.rootpath, "threads-at-teardown.txt").write_text(",".join(alive) or "none")
"""
"""A conftest for the inner run: the real model, made to fail on its fourth image, and a note
of the loader threads alive when the mIOU item is torn down (its failure still held)."""


def test_a_model_failing_mid_dataset_stops_the_loader_before_the_item_ends(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    deeplab.pytester.makeconftest(MODEL_FAILS_ON_FOURTH_IMAGE.replace("THREAD_NAME", THREAD_NAME))
    deeplab.configure(
        models={"fails": small_model.model(dataset="scenes", min_miou=0.1, golden_images=None)},
        datasets={"scenes": small_model.dataset()},
    )
    result = deeplab.run("--deeplab-models=fails", "-m", "deeplab_miou")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*RuntimeError: the model failed on image 4*"])
    assert (deeplab.path / "threads-at-teardown.txt").read_text() == "none"
    assert not loader_threads()
