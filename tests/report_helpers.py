"""A report built without TensorFlow: a real DeepLabSession and the real recording and rendering
code, fed with the bundled scenes and masks made from their ground truth (one altered, so it
fails). Shared by tests/test_report_html.py and tests/browser/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, deeplab_toml

from pytest_deeplab.data.images import demo_resize, load_rgb
from pytest_deeplab.data.labels import load_label
from pytest_deeplab.data.labelsets import LabelSet, get_label_set
from pytest_deeplab.data.masks import resize_mask
from pytest_deeplab.golden.store import Golden
from pytest_deeplab.options import DeepLabOptions
from pytest_deeplab.report.cards import build_cards
from pytest_deeplab.report.collect import OutcomeLog, record_mask, record_miou
from pytest_deeplab.report.run import RunRecord
from pytest_deeplab.session import DeepLabSession
from pytest_deeplab.verdicts.masks import MaskThresholds, compare_masks
from pytest_deeplab.verdicts.metrics import confusion_matrix
from pytest_deeplab.verdicts.miou import miou_result
from pytest_deeplab.verdicts.record import ItemLog

MODEL = "street-model"
OTHER = "quiet-model"
IMAGES = FIXTURES / "scenes" / "images"
LABELS = FIXTURES / "scenes" / "labels"
EVIL = "<script>alert('x')</script>"


def make_session(tmp_path: Path, report: Path) -> DeepLabSession:
    tmp_path.mkdir(parents=True, exist_ok=True)
    graph = tmp_path / "never-loaded.pb"
    graph.write_bytes(b"not a graph: these tests never load it")
    config = tmp_path / "deeplab.toml"
    config.write_text(deeplab_toml(
        models={
            MODEL: {"path": graph, "format": "frozen_graph", "label_set": "minizoo",
                    "input_size": 129, "dataset": "scenes", "min_miou": 0.95},
            OTHER: {"path": graph, "format": "frozen_graph", "label_set": "minizoo",
                    "input_size": 129, "dataset": "scenes"},
        },
        datasets={"scenes": {"images": IMAGES, "labels": LABELS, "label_set": "minizoo"}},
    ))
    options = DeepLabOptions(rootdir=tmp_path, models=f"{MODEL},{OTHER}", update_golden=None,
                             golden_dir=tmp_path / "golden", cache_dir=tmp_path / "cache",
                             config_file=config, report=report)
    session = DeepLabSession(options)
    assert session.report is not None  # --deeplab-report: the session records what items saw
    return session


def run_record(deeplab: DeepLabSession) -> RunRecord:
    """What the plugin hands the report at the end: the run record with published cards."""
    return deeplab.run_record(build_cards(deeplab.selected, deeplab.results))


def _report(nodeid: str, outcome: str, when: str = "call", longrepr: object = None
            ) -> pytest.TestReport:
    return pytest.TestReport(nodeid=nodeid, location=("deeplab", None, nodeid), keywords={},
                             outcome=outcome, longrepr=longrepr, when=when)  # type: ignore[arg-type]


def _masks(image_id: str, size: int) -> tuple[np.ndarray, np.ndarray, Path]:
    path = IMAGES / f"{image_id}.png"
    rgb = demo_resize(load_rgb(path), size)
    truth = load_label(LABELS / f"{image_id}.png", get_minizoo())
    golden = resize_mask(np.where(truth == 255, 0, truth), rgb.shape[:2])
    return rgb, golden, path


def get_minizoo() -> LabelSet:
    return get_label_set("minizoo")


def build_synthetic_report(tmp_path: Path) -> tuple[DeepLabSession, OutcomeLog]:
    """Three images of MODEL (scene_00 passes, scene_01 fails: a block turned to vehicle and a
    few scattered pixels, scene_02 has no golden), its mIOU below threshold, a latency item that
    errored; OTHER passes one image."""
    deeplab = make_session(tmp_path, tmp_path / "report.html")
    label_set = get_minizoo()
    record = ItemLog()  # the run record the plugin keeps; the report reads its view
    model = deeplab.catalogue.models[MODEL]
    thresholds = MaskThresholds(min_agreement=model.min_agreement,
                                min_class_iou=model.min_class_iou)
    for image_id in ("scene_00", "scene_01", "scene_02"):
        rgb, golden_mask, path = _masks(image_id, model.input_size)
        current = golden_mask.copy()
        if image_id == "scene_01":
            h, w = current.shape
            current[h // 3: h // 3 + 12, w // 3: w // 3 + 20] = 4
            current[np.arange(3, h, 17), np.arange(3, h, 17) % w] = 5
        golden = Golden(golden_mask, {"tensorflow": "2.15.1"}, tmp_path / f"{image_id}.png")
        nodeid = f"deeplab::{MODEL}::{image_id}::mask"
        if image_id == "scene_02":
            record_mask(deeplab, model, image_id, "no-golden", current, image=rgb,
                        image_path=path)
            record.pytest_runtest_logreport(_report(nodeid, "failed", longrepr=(
                f"no golden mask for model {MODEL} on image {image_id}")))
            continue
        comparison = compare_masks(golden_mask, current, label_set, thresholds)
        record_mask(deeplab, model, image_id, "compared", current, image=rgb, image_path=path,
                    golden=golden, comparison=comparison,
                    diff_path=tmp_path / f"{image_id}_diff.png" if not comparison.passed
                    else None)
        failed = not comparison.passed
        record.pytest_runtest_logreport(_report(
            nodeid, "failed" if failed else "passed",
            longrepr=comparison.failure_message(MODEL, image_id) + f"\n{EVIL}" if failed
            else None))
        deeplab.results[MODEL].agreements[image_id] = comparison.agreement or 0.0

    matrix = np.zeros((label_set.num_classes,) * 2, dtype=np.int64)
    for image_id in ("scene_00", "scene_01"):
        _, golden_mask, _ = _masks(image_id, model.input_size)
        noisy = golden_mask.copy()
        noisy[::3, ::2] = 0
        matrix += confusion_matrix(golden_mask, noisy, label_set.num_classes, 255)
    result = miou_result(matrix, label_set, 0.95, 2)
    record_miou(deeplab, model, result, 0.95, result.passed)
    deeplab.results[MODEL].miou, deeplab.results[MODEL].miou_threshold = result.miou, 0.95
    deeplab.results[MODEL].miou_passed = result.passed
    record.pytest_runtest_logreport(_report(f"deeplab::{MODEL}::miou", "failed",
                                         longrepr=result.failure_message(MODEL)))
    record.pytest_runtest_logreport(_report(f"deeplab::{MODEL}::latency", "failed", when="setup",
                                         longrepr="ModelLoadError: could not load the graph"))

    other = deeplab.catalogue.models[OTHER]
    rgb, golden_mask, path = _masks("scene_03", other.input_size)
    golden = Golden(golden_mask, {"tensorflow": "2.21.0"}, tmp_path / "scene_03.png")
    comparison = compare_masks(golden_mask, golden_mask, label_set)
    record_mask(deeplab, other, "scene_03", "compared", golden_mask, image=rgb, image_path=path,
                golden=golden, comparison=comparison)
    record.pytest_runtest_logreport(_report(f"deeplab::{OTHER}::scene_03::mask", "passed"))
    deeplab.results[OTHER].agreements["scene_03"] = 1.0
    deeplab.results[OTHER].latency_median_s = 0.0081
    deeplab.results[OTHER].cpu_median_s = 0.0150
    deeplab.results[OTHER].first_call_s = 0.2
    deeplab.mark_collected()
    return deeplab, OutcomeLog.from_items(record.results())
