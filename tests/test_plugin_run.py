"""Whole runs: a bundled model against its shipped goldens, the summary table, JUnit XML
properties, a run where nothing was checked, and models loaded once per session."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from conftest import COUNT_LOADS, SMALL, DeepLabPytester, SmallModel, minizoo_manifest

from pytest_deeplab.data.listing import list_images


def small_entry() -> dict[str, object]:
    entry: dict[str, object] = next(m for m in minizoo_manifest()["models"] if m["name"] == SMALL)
    return entry


def test_full_run_of_a_bundled_model_passes_with_a_summary_and_junit_properties(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    import tensorflow as tf

    junit = deeplab.path / "junit.xml"
    result = deeplab.run(f"--deeplab-models={SMALL}", f"--junitxml={junit}")
    images = list_images(small_model.golden_images)
    result.assert_outcomes(passed=len(images) + 2)
    out = result.stdout.str()

    # the summary table: model, mIOU vs threshold, worst golden agreement, median latency, TF
    threshold = float(small_entry()["min_miou"])  # type: ignore[arg-type]
    result.stdout.fnmatch_lines([
        "*= deeplab summary =*",
        "model *mIOU vs threshold *worst golden *median latency*",
        f"{SMALL} *>= {threshold:.2f} ok *100.000 % * ms",
        f"TensorFlow {tf.__version__} (oneDNN *, intra-op threads *)",
    ])
    row = re.search(rf"^{SMALL} +(\d\.\d{{4}}) >= .* ([\d.]+) ms$", out, re.MULTILINE)
    assert row is not None, out
    assert float(row.group(1)) >= threshold
    assert float(row.group(2)) > 0

    # JUnit XML carries the figures as properties of the items that measured them
    cases = {
        f"{case.get('classname')}.{case.get('name')}": {
            p.get("name"): p.get("value") for p in case.iter("property")
        }
        for case in ET.parse(junit).getroot().iter("testcase")
    }
    for ref in images:
        props = cases[f"deeplab.{SMALL}.{ref.image_id}.mask"]
        assert float(props["deeplab_agreement"]) == 1.0
    miou = cases[f"deeplab.{SMALL}.miou"]
    assert float(miou["deeplab_miou"]) == pytest.approx(float(row.group(1)), abs=1e-4)
    assert float(miou["deeplab_miou_threshold"]) == threshold
    assert float(cases[f"deeplab.{SMALL}.latency"]["deeplab_latency_median_s"]) > 0


def test_a_run_where_every_item_is_skipped_fails(deeplab: DeepLabPytester) -> None:
    deeplab.pytester.makepyfile(test_other="def test_other():\n    pass\n")
    result = deeplab.run(f"--deeplab-models={SMALL}", "-m", "deeplab_latency or not deeplab",
                         "--benchmark-skip")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "every deeplab item was skipped, so nothing was checked" in result.stdout.str()


def test_a_run_with_some_items_checked_is_green(deeplab: DeepLabPytester) -> None:
    """The fail-closed rule is about the suite as a whole, not one skipped item."""
    result = deeplab.run(f"--deeplab-models={SMALL}", "-m", "deeplab_latency or deeplab_miou",
                         "--benchmark-skip")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK


def test_each_model_is_loaded_once_per_session(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    deeplab.configure(
        models={"my-small": small_model.model(dataset="scenes", min_miou=0.0)},
        datasets={"scenes": small_model.dataset()},
    )
    deeplab.pytester.makeconftest(COUNT_LOADS)
    deeplab.pytester.makepyfile(
        test_mine="""
        def test_predict_twice(deeplab_model):
            image = deeplab_model.golden_images()[0].path
            assert deeplab_model.predict_file(image).ndim == 2
            assert deeplab_model.predict_file(image).ndim == 2
        """
    )
    images = len(list_images(small_model.golden_images))
    result = deeplab.run(
        f"--deeplab-models={SMALL},my-small", "--benchmark-disable", "-s",
        f"--deeplab-golden-dir={deeplab.path / 'golden'}", "--deeplab-update-golden",
    )
    loads = next(line for line in result.outlines if line.startswith("LOADS="))
    assert sorted(loads[len("LOADS="):].split(",")) == sorted([SMALL, "my-small"])
    # per model: a mask item per image, mIOU, latency, and the user's test
    result.assert_outcomes(passed=2 * (images + 3))
