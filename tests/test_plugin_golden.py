"""Golden masks through the plugin: missing, written, refused in CI, from another model file,
and a real regression (some pixels changed class) with its report and diff image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DeepLabPytester, SmallModel
from PIL import Image

from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.data.listing import list_images
from pytest_deeplab.files import sha256_file
from pytest_deeplab.golden.store import GoldenStore, update_command

MODEL = "my-small"


@pytest.fixture
def project(deeplab: DeepLabPytester, small_model: SmallModel) -> DeepLabPytester:
    """A project declaring the small bundled graph as its own model, goldens in a tmp dir."""
    deeplab.configure(models={MODEL: small_model.model()})
    return deeplab


def golden_dir(project: DeepLabPytester) -> Path:
    return project.path / "golden"


def run_masks(project: DeepLabPytester, *args: str) -> pytest.RunResult:
    return project.run(
        f"--deeplab-models={MODEL}", "-m", "deeplab_mask",
        f"--deeplab-golden-dir={golden_dir(project)}", *args,
    )


def image_ids(small_model: SmallModel) -> list[str]:
    return [ref.image_id for ref in list_images(small_model.golden_images)]


def test_missing_golden_fails_with_the_command_that_creates_it(
    project: DeepLabPytester, small_model: SmallModel
) -> None:
    result = run_masks(project)
    ids = image_ids(small_model)
    result.assert_outcomes(failed=len(ids))
    out = result.stdout.str()
    for image in ids:
        assert f"no golden mask for model {MODEL} on image {image}" in out
        assert update_command(MODEL, image) in out
    assert "pytest --deeplab-models=my-small --deeplab-update-golden -k 'my-small and" in out
    assert not golden_dir(project).exists(), "a failing run must not write goldens"


def test_update_golden_writes_png_and_json_then_the_next_run_passes(
    project: DeepLabPytester, small_model: SmallModel
) -> None:
    import tensorflow as tf

    written = run_masks(project, "--deeplab-update-golden")
    ids = image_ids(small_model)
    written.assert_outcomes(passed=len(ids))
    written.stdout.fnmatch_lines([f"{MODEL} *{len(ids)} written*"])  # the summary says so
    for image in ids:
        png = golden_dir(project) / MODEL / f"{image}.png"
        meta = json.loads(png.with_suffix(".json").read_text())
        for key in ("model_sha256", "tensorflow", "onednn", "plugin_version", "preprocessing"):
            assert key in meta, f"{key} missing from {png.with_suffix('.json')}"
        assert meta["model_sha256"] == sha256_file(small_model.graph)
        assert meta["tensorflow"] == tf.__version__
        assert meta["preprocessing"]["input_size"] == small_model.input_size
        with Image.open(png) as decoded:
            assert decoded.mode == "P", "goldens are indexed PNGs with the label set's palette"
    again = run_masks(project)
    again.assert_outcomes(passed=len(ids))
    again.stdout.fnmatch_lines([f"{MODEL} *100.000 %*"])


def test_update_golden_is_refused_in_ci(
    project: DeepLabPytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = run_masks(project, "--deeplab-update-golden")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--deeplab-update-golden is refused because CI is set*=force*"])
    assert not golden_dir(project).exists()


def test_update_golden_force_writes_in_ci(
    project: DeepLabPytester, small_model: SmallModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = run_masks(project, "--deeplab-update-golden=force")
    result.assert_outcomes(passed=len(image_ids(small_model)))
    assert sorted(p.stem for p in (golden_dir(project) / MODEL).glob("*.png")) == sorted(
        image_ids(small_model)
    )


def test_missing_golden_in_ci_says_where_to_write_it(
    project: DeepLabPytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "1")
    result = run_masks(project)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "CI is set: run that on a workstation and commit the golden" in result.stdout.str()


def test_update_golden_takes_no_other_value(project: DeepLabPytester) -> None:
    result = run_masks(project, "--deeplab-update-golden=yes-please")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "the only value it takes is 'force'" in result.stderr.str()


def test_golden_from_another_model_file_fails_saying_the_model_changed(
    project: DeepLabPytester, small_model: SmallModel
) -> None:
    run_masks(project, "--deeplab-update-golden").assert_outcomes(
        passed=len(image_ids(small_model))
    )
    image = image_ids(small_model)[0]
    json_path = golden_dir(project) / MODEL / f"{image}.json"
    meta = json.loads(json_path.read_text())
    meta["model_sha256"] = "0" * 64
    json_path.write_text(json.dumps(meta))
    result = run_masks(project)
    result.assert_outcomes(passed=len(image_ids(small_model)) - 1, failed=1)
    result.stdout.fnmatch_lines([
        f"*the golden *{image}.png was made from another file of model {MODEL} (sha256 000000000000"
        "*the model changed, so its masks are not comparable*",
        f"*{update_command(MODEL, image)}*",
    ])


def test_golden_without_model_sha256_is_treated_as_from_another_model_file(
    project: DeepLabPytester, small_model: SmallModel
) -> None:
    run_masks(project, "--deeplab-update-golden").assert_outcomes(
        passed=len(image_ids(small_model))
    )
    image = image_ids(small_model)[0]
    json_path = golden_dir(project) / MODEL / f"{image}.json"
    meta = json.loads(json_path.read_text())
    del meta["model_sha256"]
    json_path.write_text(json.dumps(meta))
    result = run_masks(project)
    result.assert_outcomes(passed=len(image_ids(small_model)) - 1, failed=1)
    result.stdout.fnmatch_lines([
        f"*the golden *{image}.png does not say which file of model {MODEL} made it (its "
        "metadata has no model_sha256)*",
        f"*{update_command(MODEL, image)}*",
    ])


def test_altered_golden_fails_with_counts_class_changes_and_a_diff_image(
    project: DeepLabPytester, small_model: SmallModel
) -> None:
    ids = image_ids(small_model)
    run_masks(project, "--deeplab-update-golden").assert_outcomes(passed=len(ids))
    image = ids[0]
    label_set = get_label_set(small_model.label_set)
    store = GoldenStore(golden_dir(project))
    golden = store.load(MODEL, image)
    assert golden is not None
    mask = golden.mask.copy()
    common = int(np.bincount(mask.ravel()).argmax())
    other = 1 if common != 1 else 2
    changed = 300
    flat = mask.reshape(-1)
    flat[np.flatnonzero(flat == common)[:changed]] = other
    store.save(MODEL, image, mask, golden.metadata, label_set)

    results = project.path / "results"
    result = run_masks(project, f"--deeplab-results-dir={results}")
    result.assert_outcomes(passed=len(ids) - 1, failed=1)
    total = mask.size
    names = label_set.class_names
    diff = results / MODEL / f"{image}_diff.png"
    result.stdout.fnmatch_lines([
        f"*mask of model '{MODEL}' on image '{image}' differs from its golden*",
        f"*{changed} of {total} pixels differ ({100 * changed / total:.3f} %)*",
        "*largest class changes (golden -> current):*",
        f"*{names[other]} \u2192 {names[common]}: {changed} px*",
        f"*diff image (input | golden | current | changes): {diff}*",
    ])
    assert "Traceback" not in result.stdout.str()
    with Image.open(diff) as picture:
        assert picture.width > mask.shape[1]  # the panels side by side


def test_golden_agreement_tolerance_is_configurable(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    """A change of 0.25 % of the pixels fails the default 99.9 % agreement and passes 99 %."""
    deeplab.configure(models={MODEL: small_model.model()})
    ids = image_ids(small_model)
    run_masks(deeplab, "--deeplab-update-golden").assert_outcomes(passed=len(ids))
    store = GoldenStore(golden_dir(deeplab))
    golden = store.load(MODEL, ids[0])
    assert golden is not None
    mask = golden.mask.copy()
    common = int(np.bincount(mask.ravel()).argmax())
    flat = mask.reshape(-1)
    flat[np.flatnonzero(flat == common)[: mask.size // 400]] = 1 if common != 1 else 2
    store.save(MODEL, ids[0], mask, golden.metadata, get_label_set(small_model.label_set))
    run_masks(deeplab).assert_outcomes(passed=len(ids) - 1, failed=1)
    deeplab.configure(
        models={MODEL: small_model.model(min_agreement=0.99, min_class_iou=0.5)}
    )
    run_masks(deeplab).assert_outcomes(passed=len(ids))
