"""Fail closed: the cases of issue 7 that the plugin tests did not pin yet, each a non-zero exit
with a message that says what to do.

Already covered elsewhere (not repeated here): update flag under CI and goldens missing under CI
(test_plugin_golden.py), unknown keys (test_plugin_config.py), every item skipped by `-m`
(test_plugin_run.py), empty / unknown selections (test_plugin_collection.py).
"""

from __future__ import annotations

import pytest
from conftest import DeepLabPytester, SmallModel

MODEL = "my-small"


def test_zero_selected_models_says_how_to_select_some(deeplab: DeepLabPytester) -> None:
    result = deeplab.run("--deeplab-models=user")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*--deeplab-models='user' selects no model, so nothing would be tested. Name models, or "
        "use all / bundled / official; `pytest-deeplab list` shows them.*"
    ])


def test_a_dataset_without_labels_fails_the_miou_item_saying_which_key_to_set(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    dataset = small_model.dataset()
    del dataset["labels"]
    deeplab.configure(models={MODEL: small_model.model(dataset="photos", min_miou=0.5)},
                      datasets={"photos": dataset})
    result = deeplab.run(f"--deeplab-models={MODEL}", "-m", "deeplab_miou")
    result.assert_outcomes(failed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        f"dataset photos has no labels, but model {MODEL} asks for mIOU on it: set `labels` in "
        "[[]tool.pytest-deeplab.datasets.photos]"
    ])


def missing_model(deeplab: DeepLabPytester, small_model: SmallModel) -> None:
    deeplab.configure(models={MODEL: small_model.model(path=deeplab.path / "gone.pb")})


def test_every_model_missing_under_allow_missing_is_not_green(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    missing_model(deeplab, small_model)
    result = deeplab.run(f"--deeplab-models={MODEL}", "--deeplab-allow-missing",
                         "--benchmark-disable", "-rs")
    result.assert_outcomes(skipped=8)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines([
        f"not available (skipped, --deeplab-allow-missing): {MODEL}",
        "ERROR: every deeplab item was skipped, so nothing was checked; the run fails",
        f"SKIPPED * model {MODEL} is not available (--deeplab-allow-missing): *gone.pb does not "
        "exist*",
    ])


def test_every_item_skipped_under_xdist_is_not_green(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    """The rule is applied on the controller, from the workers' reports."""
    pytest.importorskip("xdist")
    missing_model(deeplab, small_model)
    result = deeplab.run_subprocess(f"--deeplab-models={MODEL}", "--deeplab-allow-missing",
                                    "-n", "2", "--dist", "loadgroup")
    result.assert_outcomes(skipped=8)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "every deeplab item was skipped, so nothing was checked" in result.stdout.str()


def test_a_missing_model_without_allow_missing_lists_the_ways_to_provide_it(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    missing_model(deeplab, small_model)
    result = deeplab.run(f"--deeplab-models={MODEL}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([
        "*1 selected model(s) cannot be had:*",
        f"*- {MODEL}: *gone.pb does not exist*",
        "*Ways to provide them: --deeplab-mirror=URL|DIR*--deeplab-allow-missing.*",
    ])


def test_goldens_missing_under_ci_true_fail_every_mask_item(
    deeplab: DeepLabPytester, small_model: SmallModel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`CI=true` (GitHub Actions, GitLab) as well as `CI=1`: nothing is written, every item
    fails and says to commit goldens made on a workstation."""
    monkeypatch.setenv("CI", "true")
    deeplab.configure(models={MODEL: small_model.model()})
    golden = deeplab.path / "golden"
    result = deeplab.run(f"--deeplab-models={MODEL}", "-m", "deeplab_mask",
                         f"--deeplab-golden-dir={golden}")
    result.assert_outcomes(failed=6)
    assert result.stdout.str().count("(CI is set: run that on a workstation and commit the "
                                     "golden, or add =force to write it here.)") >= 6
    assert not golden.exists()


def test_only_latency_items_with_benchmarks_disabled_checked_nothing(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    """`--benchmark-disable` makes a latency item run without measuring: alone it is no check."""
    deeplab.configure(models={MODEL: small_model.model()})
    result = deeplab.run(f"--deeplab-models={MODEL}", "-m", "deeplab_latency",
                         "--benchmark-disable")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "no deeplab check was executed" in result.stdout.str()


def test_latency_items_measured_serially_are_a_check(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    deeplab.configure(models={MODEL: small_model.model()})
    result = deeplab.run(f"--deeplab-models={MODEL}", "-m", "deeplab_latency",
                         "--benchmark-min-rounds=2", "--benchmark-max-time=0.05")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
