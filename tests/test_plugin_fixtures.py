"""Users' own tests: `deeplab_model` (parametrized over the selection), `deeplab_session`,
`deeplab_assert_golden` and `deeplab_benchmark`."""

from __future__ import annotations

import json

import pytest
from conftest import SMALL, DeepLabPytester, SmallModel

MODEL = "my-small"

USER_TESTS = """
import numpy as np


def test_mask_shape(deeplab_model):
    ref = deeplab_model.golden_images()[0]
    mask = deeplab_model.predict_file(ref.path)
    assert mask.ndim == 2 and mask.dtype == np.uint8
    assert max(mask.shape) == {input_size}
    assert mask.max() < deeplab_model.label_set.num_classes


def test_session(deeplab_session):
    assert [m.name for m in deeplab_session.selected] == {selected!r}
"""


@pytest.fixture
def project(deeplab: DeepLabPytester, small_model: SmallModel) -> DeepLabPytester:
    deeplab.configure(models={MODEL: small_model.model()})
    return deeplab


def test_deeplab_model_is_parametrized_over_the_selected_models(
    project: DeepLabPytester, small_model: SmallModel
) -> None:
    project.pytester.makepyfile(
        test_mine=USER_TESTS.format(input_size=small_model.input_size, selected=[SMALL, MODEL])
    )
    result = project.run(f"--deeplab-models={SMALL},{MODEL}", "-v", "-m", "not deeplab")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines([
        f"test_mine.py::test_mask_shape[[]{SMALL}] PASSED*",
        f"test_mine.py::test_mask_shape[[]{MODEL}] PASSED*",
        "test_mine.py::test_session PASSED*",
    ])


def test_without_a_selection_user_tests_skip(project: DeepLabPytester) -> None:
    project.pytester.makepyfile(test_mine=USER_TESTS.format(input_size=0, selected=[]))
    result = project.run("-rs")
    result.assert_outcomes(skipped=2)
    assert "no DeepLab models selected (pass --deeplab-models=...)" in result.stdout.str()


ASSERT_GOLDEN = """
def test_custom_golden(deeplab_model, deeplab_assert_golden):
    ref = deeplab_model.golden_images()[0]
    mask = deeplab_model.predict_file(ref.path)
    if {tamper}:
        mask = mask.copy()
        quarter = mask[:, : mask.shape[1] // 4]
        quarter[...] = (quarter + 1) % 2  # a quarter of the image changes class
    deeplab_assert_golden(deeplab_model, "custom_view", mask)
"""


def test_deeplab_assert_golden_writes_then_compares(project: DeepLabPytester) -> None:
    golden = project.path / "golden"

    def run(tamper: bool, *args: str) -> pytest.RunResult:
        project.pytester.makepyfile(test_mine=ASSERT_GOLDEN.format(tamper=tamper))
        return project.run(f"--deeplab-models={MODEL}", f"--deeplab-golden-dir={golden}",
                           "-m", "not deeplab", *args)

    missing = run(False)
    missing.assert_outcomes(failed=1)
    missing.stdout.fnmatch_lines([
        f"*no golden mask for model {MODEL} on image custom_view*",
        f"*pytest --deeplab-models={MODEL} --deeplab-update-golden -k '{MODEL} and custom_view'*",
    ])
    run(False, "--deeplab-update-golden").assert_outcomes(passed=1)
    meta = json.loads((golden / MODEL / "custom_view.json").read_text())
    assert meta["model"] == MODEL and meta["model_sha256"]
    run(False).assert_outcomes(passed=1)
    changed = run(True)
    changed.assert_outcomes(failed=1)
    changed.stdout.fnmatch_lines([
        f"*mask of model '{MODEL}' on image 'custom_view' differs from its golden*",
        "* of * pixels differ (*",
    ])


BENCHMARK = """
def test_speed(deeplab_model, deeplab_benchmark):
    ref = deeplab_model.golden_images()[0]
    from pytest_deeplab.data.images import load_rgb

    mask = deeplab_benchmark(deeplab_model, load_rgb(ref.path))
    assert mask.ndim == 2
"""


def test_deeplab_benchmark_times_predict(project: DeepLabPytester) -> None:
    project.pytester.makepyfile(test_speed=BENCHMARK)
    report = project.path / "bench.json"
    result = project.run(f"--deeplab-models={MODEL}", f"--benchmark-json={report}",
                         "-m", "not deeplab")
    result.assert_outcomes(passed=1)
    benchmarks = json.loads(report.read_text())["benchmarks"]
    assert [b["name"] for b in benchmarks] == [f"test_speed[{MODEL}]"]
    stats = benchmarks[0]["stats"]
    assert stats["rounds"] == 10
    assert 0 < stats["median"] < 10
