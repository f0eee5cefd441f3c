"""`pytest-deeplab merge`: shards' results files in, one verdict out, or a refusal that names
the files and shards at fault."""

from __future__ import annotations

from pathlib import Path

import pytest
from shard_helpers import COSTS, IDENTITY, merge_command, shard_run, write_shards

from pytest_deeplab.shards.merge import (
    MergeError,
    find_results_files,
    merge_files,
    merge_runs,
)
from pytest_deeplab.shards.render import summary_lines
from pytest_deeplab.shards.results import (
    ItemResult,
    RunResults,
    results_file_name,
    write_results,
)


def refusal(*runs: RunResults, allow_mixed: bool = False) -> str:
    with pytest.raises(MergeError) as caught:
        merge_runs(list(runs), allow_mixed=allow_mixed)
    return str(caught.value)


# -- a complete run -----------------------------------------------------------------------------


def test_every_shard_merges_into_one_passing_run(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    write_shards(tmp_path / "artifacts", 3)
    assert merge_command(str(tmp_path / "artifacts")) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("=") and "deeplab summary (merged from 3 shards)" in out[0]
    assert out[1].split() == ["model", "mIOU", "vs", "threshold", "worst", "golden", "median",
                              "latency"]
    rows = {line.split()[0]: line.split()[1:] for line in out[2:6]}
    assert set(rows) == set(COSTS)
    assert rows["mini_a"] == ["0.8125", ">=", "0.70", "ok", "99.910", "%", "12.3", "ms"]
    flat = " ".join(" ".join(out).split())  # notes are wrapped to the terminal's width
    assert ("TensorFlow 2.21.0 (v2.21.0-0-g1234abcd), oneDNN on, threads intra-op 2, "
            "inter-op 1, TF Lite tf.lite 2.21.0") in flat
    assert "merged 3 results files of --deeplab-models='bundled' (4 models):" in flat
    assert out[-1].startswith("=") and " 12 passed in 3.00s of test time (3 shards) " in out[-1]


def test_one_failure_in_any_shard_fails_the_merged_run(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    write_shards(tmp_path, 2, failing={"mini_c": "miou"})
    assert merge_command(str(tmp_path)) == 1
    assert " 1 failed, 11 passed in " in capsys.readouterr().out.splitlines()[-1]


def test_an_empty_shard_merges_and_its_file_is_still_required(tmp_path: Path) -> None:
    two_models = {"mini_a": 1.0, "mini_b": 1.0}
    runs = [shard_run(k, 4, costs=two_models) for k in range(1, 5)]
    empty = [run for run in runs if not run.shard_models]
    assert len(empty) == 2 and all(run.identity is None and not run.items for run in empty)
    merged = merge_runs(runs)
    assert merged.exit_status == 0
    assert len(merged.items) == 6
    message = refusal(*[run for run in runs if run is not empty[0]])
    assert f"shard {empty[0].shard_label} missing" in message
    assert "every shard's results file is needed, an empty shard's too" in message


def test_results_files_are_found_in_nested_artifact_folders(tmp_path: Path) -> None:
    paths = write_shards(tmp_path / "download", 2)
    (tmp_path / "download" / "notes.json").write_text("{}")
    assert sorted(find_results_files([tmp_path / "download"])) == sorted(paths)
    assert find_results_files([paths[0], paths[0], tmp_path / "download" / "shard-1"]) == [paths[0]]


# -- refusals -----------------------------------------------------------------------------------


def test_a_missing_shard_is_refused_naming_what_was_found() -> None:
    message = refusal(shard_run(1, 3), shard_run(3, 3))
    assert "shard 2/3 missing (found 1/3 (in memory), 3/3 (in memory))" in message


def test_a_duplicated_shard_is_refused_naming_both_files(tmp_path: Path) -> None:
    first = write_results(shard_run(1, 2), tmp_path / "a")
    again = write_results(shard_run(1, 2), tmp_path / "b")
    write_results(shard_run(2, 2), tmp_path / "c")
    with pytest.raises(MergeError) as caught:
        merge_files([tmp_path])
    assert f"shard 1/2 appears 2 times: {first}, {again}" in str(caught.value)


def test_shards_of_different_splits_are_refused() -> None:
    message = refusal(shard_run(1, 2), shard_run(2, 3))
    assert "the files come from different splits (2 vs 3 shards)" in message


def test_shards_of_different_selections_are_refused() -> None:
    other = shard_run(2, 2, selection_spec="mini_*")
    other.selected = [*other.selected, "mini_e"]
    message = refusal(shard_run(1, 2), other)
    assert "the shards ran different selections:" in message
    assert "--deeplab-models='bundled' (4 models: mini_a, mini_b, mini_c, mini_d)" in message
    assert "--deeplab-models='mini_*' (5 models: mini_a, mini_b, mini_c, mini_d, mini_e)" in message


def test_the_same_models_selected_by_another_spelling_merge() -> None:
    merged = merge_runs([shard_run(1, 2), shard_run(2, 2, selection_spec="mini_*")])
    assert merged.selection_spec == "bundled"


def test_shards_planned_from_different_costs_are_refused() -> None:
    """A job that measured a model's cost locally splits differently: models overlap or vanish."""
    skewed = {**COSTS, "mini_b": 1.0}
    message = refusal(shard_run(1, 2), shard_run(2, 2, costs=skewed))
    assert "planned their split from different expected costs (for mini_b)" in message


def test_a_model_run_by_two_shards_or_none_is_refused() -> None:
    one, two = shard_run(1, 2), shard_run(2, 2)
    moved = two.shard_models[0]
    one.shard_models = [*one.shard_models, moved]
    message = refusal(one, two)
    assert f"model {moved} was run by several shards: 1/2 (in memory), 2/2 (in memory)" in message
    one, two = shard_run(1, 2), shard_run(2, 2)
    lost = two.shard_models.pop()
    assert f"selected models run by no shard: {lost}" in refusal(one, two)


def test_an_interrupted_shard_is_refused() -> None:
    message = refusal(shard_run(1, 2), shard_run(2, 2, exitstatus=2))
    assert ("shard 2/2 (in memory) ended with exit status 2 (interrupted): its results are "
            "incomplete; re-run it") in message


def test_shards_run_under_different_tensorflow_identities_are_refused() -> None:
    other = shard_run(2, 2, identity={**IDENTITY, "onednn": False})
    message = refusal(shard_run(1, 2), other)
    assert "different TensorFlow / oneDNN / thread identities" in message
    assert "shard 2/2 (in memory): TensorFlow 2.21.0 (v2.21.0-0-g1234abcd), oneDNN off" in message
    assert "pass --allow-mixed to merge them anyway" in message


def test_where_oneDNN_was_set_from_does_not_make_shards_differ() -> None:
    other = shard_run(2, 2, identity={**IDENTITY, "onednn_source": "TF_ENABLE_ONEDNN_OPTS=1"})
    assert merge_runs([shard_run(1, 2), other]).mixed == []


def test_allow_mixed_merges_and_says_so_everywhere(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    write_results(shard_run(1, 2), tmp_path)
    write_results(shard_run(2, 2, identity={**IDENTITY, "intra_op_threads": 4}), tmp_path)
    assert merge_command(str(tmp_path)) == 2
    assert "different TensorFlow / oneDNN / thread identities" in capsys.readouterr().err
    junit = tmp_path / "merged.xml"
    assert merge_command(str(tmp_path), "--allow-mixed", f"--junitxml={junit}") == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "MIXED RUN (--allow-mixed): the shards ran under different identities" in out
    assert "threads intra-op 4, inter-op 1" in out
    assert 'name="deeplab_mixed_identities"' in junit.read_text()


def test_unreadable_files_are_all_named_and_nothing_is_merged(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = write_shards(tmp_path, 3)
    good[0].write_text(good[0].read_text()[:100])
    good[2].write_text(good[2].read_text().replace('"project_version": "', '"project_version": "9'))
    junit = tmp_path / "deeplab.xml"
    assert merge_command(str(tmp_path), f"--junitxml={junit}") == 2
    err = capsys.readouterr().err
    assert err.startswith("pytest-deeplab merge: refused, nothing was merged:")
    assert f"{good[0]}: the results file ends in the middle of its JSON (truncated)" in err
    assert f"{good[2]}: written by pytest-deeplab 9" in err
    assert "shards 1/3, 3/3 missing (found 2/3" in err  # what the readable files leave out
    assert not junit.exists()


def test_folders_without_results_and_missing_paths_are_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert merge_command(str(tmp_path / "empty"), str(tmp_path / "nowhere")) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'empty'}: no deeplab-run-*-of-*.json file in this folder" in err
    assert f"{tmp_path / 'nowhere'}: no such file or folder" in err


# -- the verdict follows the unsharded run's rules ----------------------------------------------


def skipped_everywhere(run: RunResults) -> RunResults:
    run.items = [ItemResult(i.nodeid, "skipped", longrepr="model not available")
                 for i in run.items]
    run.exitstatus = 1 if run.items else 0
    return run


def test_a_run_whose_every_item_was_skipped_fails_even_merged() -> None:
    merged = merge_runs([skipped_everywhere(shard_run(k, 2)) for k in (1, 2)])
    assert merged.exit_status == 1
    assert any("every deeplab item was skipped" in line for line in summary_lines(merged))


def test_a_shard_failed_only_for_skipping_everything_does_not_fail_a_run_that_checked() -> None:
    """Unsharded, one model's skips beside another's passes is a pass: merged, too."""
    merged = merge_runs([skipped_everywhere(shard_run(1, 2)), shard_run(2, 2)])
    assert merged.exit_status == 0


def test_a_run_whose_only_items_were_unmeasured_latency_fails_even_merged() -> None:
    runs = [shard_run(k, 2) for k in (1, 2)]
    for run in runs:
        run.items = [ItemResult(f"deeplab::{m}::latency", "passed", 0.0,
                                user_properties=[("deeplab_latency_measured", False)])
                     for m in run.shard_models]
    merged = merge_runs(runs)
    assert merged.exit_status == 1
    assert merged.verdict_problems() == [
        "no deeplab check was executed (only latency items with benchmarks off ran); the merged "
        "run fails rather than pass vacuously"]


def test_a_shard_that_exited_1_without_a_failed_item_fails_the_run() -> None:
    merged = merge_runs([shard_run(1, 2), shard_run(2, 2, exitstatus=1)])
    assert merged.exit_status == 1
    assert "shard 2/2 (in memory) exited with status 1 although none of its items failed" in (
        "\n".join(summary_lines(merged, width=200)))


def test_a_test_that_ran_in_every_shard_is_counted_once_with_its_worst_outcome() -> None:
    one, two = shard_run(1, 2), shard_run(2, 2)
    one.items.append(ItemResult("tests/test_io.py::test_reads", "passed", 0.1))
    two.items.append(ItemResult("tests/test_io.py::test_reads", "failed", 0.1, longrepr="boom"))
    merged = merge_runs([one, two])
    assert [i.outcome for i in merged.items if i.nodeid.startswith("tests/")] == ["failed"]
    assert merged.repeated == ["tests/test_io.py::test_reads"]
    assert merged.exit_status == 1


def test_the_results_file_names_its_shard() -> None:
    assert results_file_name(2, 3) == "deeplab-run-2-of-3.json"
