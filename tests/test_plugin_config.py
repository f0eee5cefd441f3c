"""`[tool.pytest-deeplab]` configuration through the plugin: unknown keys, mIOU thresholds,
per-class minimums, and `--deeplab-config` files."""

from __future__ import annotations

import re

import pytest
from conftest import DeepLabPytester, SmallModel, deeplab_toml

from pytest_deeplab.data.labelsets import get_label_set

MODEL = "my-small"


def run_miou(project: DeepLabPytester, *args: str) -> pytest.RunResult:
    return project.run(f"--deeplab-models={MODEL}", "-m", "deeplab_miou", *args)


def a_class(small_model: SmallModel) -> str:
    """A foreground class the bundled scenes contain."""
    return get_label_set(small_model.label_set).class_names[1]


def declare(project: DeepLabPytester, small_model: SmallModel, **model: object) -> None:
    project.configure(
        models={MODEL: small_model.model(dataset="scenes", **model)},
        datasets={"scenes": small_model.dataset()},
    )


def test_unknown_model_key_names_the_file_and_suggests_the_key(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    pyproject = deeplab.configure(models={MODEL: small_model.model(min_mious=0.5)})
    result = deeplab.run(f"--deeplab-models={MODEL}", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"*{pyproject}: [[]models.{MODEL}]: unknown key 'min_mious' (did you mean 'min_miou'?)*"
    ])


def test_unknown_dataset_key_in_a_config_file_names_that_file(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    config = deeplab.path / "models.toml"
    config.write_text(deeplab_toml(
        models={MODEL: small_model.model(dataset="scenes")},
        datasets={"scenes": small_model.dataset(label_sufix="_x")},
        prefix="",
    ))
    result = deeplab.run(f"--deeplab-config={config}", f"--deeplab-models={MODEL}",
                         "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        f"*{config}: [[]datasets.scenes]: unknown key 'label_sufix' "
        "(did you mean 'label_suffix'?)*"
    ])


def test_a_config_file_declares_models_like_pyproject(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    config = deeplab.path / "sub" / "models.toml"
    config.parent.mkdir()
    config.write_text(deeplab_toml(models={MODEL: small_model.model()}, prefix=""))
    result = deeplab.run(f"--deeplab-config={config}", "--deeplab-models=user", "-m",
                         "deeplab_miou", "--collect-only", "-q")
    result.stdout.fnmatch_lines([f"deeplab::{MODEL}::miou"])


def test_a_too_high_min_miou_fails_with_per_class_iou(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    declare(deeplab, small_model, min_miou=0.9999)
    result = run_miou(deeplab)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    match = re.search(rf"mIOU of model '{MODEL}' over (\d+) images is (0\.\d+), below its "
                      r"threshold 0\.9999", out)
    assert match, out
    assert "per-class IoU, worst first (truth pixels):" in out
    assert re.search(rf"^ +{re.escape(a_class(small_model))} +[01]\.\d{{4}} +\(\d+ px\)$", out,
                     re.MULTILINE), out
    result.stdout.fnmatch_lines([f"{MODEL} *{match.group(2)} < 1.00 LOW*"])  # the summary


def test_a_reachable_min_miou_passes(deeplab: DeepLabPytester, small_model: SmallModel) -> None:
    declare(deeplab, small_model, min_miou=0.05)
    run_miou(deeplab).assert_outcomes(passed=1)


def test_no_threshold_fails_with_the_measured_value(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    declare(deeplab, small_model)
    result = run_miou(deeplab)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"*model {MODEL} has no mIOU threshold, so this check cannot pass; measured mIOU 0.* on "
        f"* images. Set min_miou in [[]tool.pytest-deeplab.models.{MODEL}]*"
    ])


def test_min_iou_per_class_fails_naming_the_class(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    name = a_class(small_model)
    declare(deeplab, small_model, min_iou_per_class={name: 0.9999})
    result = run_miou(deeplab)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"*IoU of {name} is 0.*, below 0.9999*"])


def test_min_iou_per_class_alone_is_a_threshold(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    declare(deeplab, small_model, min_iou_per_class={a_class(small_model): 0.05})
    run_miou(deeplab).assert_outcomes(passed=1)


def test_min_iou_per_class_with_an_unknown_class_fails(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    declare(deeplab, small_model, min_miou=0.05, min_iou_per_class={"unicorn": 0.5})
    result = run_miou(deeplab)
    result.assert_outcomes(failed=1)
    assert "unicorn" in result.stdout.str()


def test_a_model_without_a_dataset_skips_its_miou_item(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    deeplab.configure(models={MODEL: small_model.model()})
    result = run_miou(deeplab, "-rs")
    result.assert_outcomes(skipped=1)
    assert "has no labelled dataset" in result.stdout.str()
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # and nothing else ran: not green


def test_a_threshold_out_of_range_is_a_config_error(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    declare(deeplab, small_model, min_miou=75)
    result = run_miou(deeplab, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "min_miou must be a number between 0 and 1, got 75" in result.stderr.str()


def test_a_model_naming_an_undeclared_dataset_is_an_error(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    deeplab.configure(models={MODEL: small_model.model(dataset="scenez")})
    result = run_miou(deeplab, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "names dataset 'scenez', which is not defined" in result.stderr.str()
