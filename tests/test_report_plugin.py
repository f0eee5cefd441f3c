"""`--deeplab-report` in real runs of the small bundled graph: the report is written at the end
of the session with the failing image first, ground truth, measured model cards, and the
terminal summary stays within 80 columns; under pytest-xdist the workers' records are merged."""

from __future__ import annotations

import re

import pytest
from conftest import DeepLabPytester, SmallModel

from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.golden.store import GoldenStore

MODEL = "my-small-model-with-a-name-too-long-for-one-summary-line"
IMAGES = ("scene_00", "scene_01", "scene_02")


@pytest.fixture
def project(deeplab: DeepLabPytester, small_model: SmallModel) -> DeepLabPytester:
    """Golden images taken from the labelled dataset, so the report can show ground truth;
    goldens written, then one altered (a block of pixels turned into another class)."""
    deeplab.configure(
        models={MODEL: small_model.model(golden_images=small_model.images / "scene_0[0-2].png",
                                         dataset="scenes", min_miou=0.5)},
        datasets={"scenes": small_model.dataset()},
    )
    written = deeplab.run(*masks_only(deeplab), "--deeplab-update-golden")
    written.assert_outcomes(passed=len(IMAGES))
    store = GoldenStore(deeplab.path / "golden")
    golden = store.load(MODEL, "scene_01")
    assert golden is not None
    mask = golden.mask.copy()
    h, w = mask.shape
    mask[h // 3: h // 3 + 20, w // 3: w // 3 + 30] = 4 if mask[h // 3, w // 3] != 4 else 3
    store.save(MODEL, "scene_01", mask, golden.metadata, get_label_set(small_model.label_set))
    return deeplab


def masks_only(deeplab: DeepLabPytester) -> list[str]:
    return [f"--deeplab-models={MODEL}", f"--deeplab-golden-dir={deeplab.path / 'golden'}",
            "-m", "deeplab_mask"]


def test_report_of_a_real_run_puts_the_failing_image_first(
    project: DeepLabPytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tensorflow as tf

    monkeypatch.setenv("COLUMNS", "80")
    report = project.path / "out" / "report.html"
    result = project.run(
        f"--deeplab-models={MODEL}", f"--deeplab-golden-dir={project.path / 'golden'}",
        "-m", "not deeplab_latency", "--deeplab-report=out/report.html",
        "--deeplab-report-cards",
    )
    result.assert_outcomes(passed=len(IMAGES), failed=1)  # two masks and the mIOU pass
    out = result.stdout.lines
    assert f"deeplab report: {report}" in out
    start = next(i for i, line in enumerate(out) if "deeplab summary" in line)
    end = next(i for i, line in enumerate(out) if line.startswith("deeplab report"))
    summary = out[start:end]
    assert all(len(line) <= 80 for line in summary), "\n".join(summary)
    assert MODEL in summary  # too long for the table: a line of its own

    html = report.read_text()
    cards = re.findall(r'<article class="image-card status-(\w+)" id="img-[^"]+-(scene_\d+)"',
                       html)
    assert cards == [("fail", "scene_01"), ("pass", "scene_00"), ("pass", "scene_02")]
    assert html.count("alt=\"ground truth: ") == len(IMAGES)
    assert html.count("alt=\"changed pixels: ") == len(IMAGES)
    assert f"<td>{tf.__version__} (" in html  # the header's TensorFlow row
    assert "measured from the graph" in html and "256.86 M @257" in html
    assert "per-class IoU over the labelled dataset" in html
    first_failure = re.search(r'<li><a href="#([^"]+)">', html)
    assert first_failure is not None and first_failure.group(1).endswith("scene_01")


def test_under_xdist_the_controller_writes_every_workers_records(
    project: DeepLabPytester,
) -> None:
    pytest.importorskip("xdist")
    result = project.run_subprocess(*masks_only(project), "-n", "2", "--dist", "loadgroup",
                                    "--deeplab-report=report.html")
    result.assert_outcomes(passed=len(IMAGES) - 1, failed=1)
    html = (project.path / "report.html").read_text()
    ids = re.findall(r'id="img-[^"]+-(scene_\d+)"', html)
    assert ids == ["scene_01", "scene_00", "scene_02"]
    assert "not loaded (no model ran)" not in html  # the worker's TF identity came along
