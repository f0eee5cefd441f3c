"""The results file a run leaves behind: written whole, read strictly, refused clearly."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

import pytest

from pytest_deeplab import __version__
from pytest_deeplab.shards.results import (
    ItemResult,
    ResultsError,
    RunResults,
    read_results,
    results_file_name,
    write_results,
)

IDENTITY = {"tensorflow": "2.21.0", "tensorflow_git": "v2.21.0-rc1-1-gabc", "onednn": True,
            "intra_op_threads": 2, "inter_op_threads": 1, "tflite_runtime": "tf.lite 2.21.0"}


def shard_one_of_two() -> RunResults:
    return RunResults(
        identity=dict(IDENTITY),
        selection_spec="bundled",
        selected=["mini_a", "mini_b"],
        shard_index=1,
        shard_count=2,
        shard_models=["mini_a"],
        costs={"mini_a": 2.57e8, "mini_b": 9.16e8},
        exitstatus=1,
        items=[
            ItemResult("deeplab::mini_a::scene::mask", "passed", 0.25,
                       user_properties=[("deeplab_agreement", 0.999), ("deeplab_tensorflow",
                                                                       "2.21.0")]),
            ItemResult("deeplab::mini_a::miou", "failed", 1.5, longrepr="mIOU 0.61 < 0.70",
                       message="mIOU 0.61 < 0.70", when="call",
                       user_properties=[("miou", float("nan"))]),
        ],
        models={"mini_a": {"spec": {"format": "frozen_graph"},
                           "results": {"miou": 0.61, "miou_threshold": 0.7}}},
        report={"records": {"masks": [], "mious": []}, "cards": []},
        command="pytest --deeplab-models=bundled --deeplab-shard=1/2",
    )


def test_a_run_is_written_as_one_json_file_named_after_its_shard(tmp_path: Path) -> None:
    path = write_results(shard_one_of_two(), tmp_path / "out")
    assert path == tmp_path / "out" / "deeplab-run-1-of-2.json"
    assert results_file_name(3, 4) == "deeplab-run-3-of-4.json"
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["schema"] == "pytest-deeplab-results"
    assert document["schema_version"] == 1
    assert document["project_version"] == __version__
    assert document["shard"] == {"index": 1, "count": 2, "models": ["mini_a"],
                                 "costs": {"mini_a": 2.57e8, "mini_b": 9.16e8}}
    assert document["selection"] == {"spec": "bundled", "models": ["mini_a", "mini_b"]}
    assert document["identity"]["onednn"] is True
    assert document["items"][1]["user_properties"] == [["miou", None]]  # strict JSON: no NaN
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # an artifact for other jobs to read
    assert sorted(p.name for p in path.parent.iterdir()) == ["deeplab-run-1-of-2.json"]


def test_what_was_written_is_what_is_read_back(tmp_path: Path) -> None:
    written = shard_one_of_two()
    back = read_results(write_results(written, tmp_path))
    assert back.path == tmp_path / "deeplab-run-1-of-2.json"
    assert back.shard_label == "1/2"
    assert (back.identity, back.selection_spec, back.selected, back.shard_models, back.costs,
            back.exitstatus, back.models, back.report, back.command, back.created) == (
        written.identity, written.selection_spec, written.selected, written.shard_models,
        written.costs, written.exitstatus, written.models, written.report, written.command,
        written.created)
    assert back.items[0] == written.items[0]
    assert back.items[1].user_properties == [("miou", None)]


def test_values_json_cannot_hold_are_written_as_text(tmp_path: Path) -> None:
    run = shard_one_of_two()
    run.items[0].user_properties = [("deeplab_image", Path("/data/scene.png")),
                                    ("shape", (513, 513))]
    back = read_results(write_results(run, tmp_path))
    assert back.items[0].user_properties == [("deeplab_image", "/data/scene.png"),
                                             ("shape", [513, 513])]


def test_rewriting_replaces_the_file_whole(tmp_path: Path) -> None:
    first = shard_one_of_two()
    write_results(first, tmp_path)
    second = shard_one_of_two()
    second.items = second.items[:1]
    path = write_results(second, tmp_path)
    assert len(read_results(path).items) == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left


# -- bad files ----------------------------------------------------------------------------------


@pytest.fixture
def good_file(tmp_path: Path) -> Path:
    return write_results(shard_one_of_two(), tmp_path)


def test_a_truncated_file_is_an_error_naming_it(good_file: Path) -> None:
    text = good_file.read_text(encoding="utf-8")
    good_file.write_text(text[: len(text) // 2], encoding="utf-8")
    with pytest.raises(ResultsError) as caught:
        read_results(good_file)
    assert str(caught.value).startswith(f"{good_file}: the results file ends in the middle of "
                                        "its JSON (truncated)")
    assert "re-run that shard" in str(caught.value)


@pytest.mark.parametrize("content, why", [
    ("", "the results file is empty"),
    ("deeplab passed\n", "the results file is not valid JSON"),
    ("[1, 2]", "not a pytest-deeplab results file"),
    ('{"machine_info": {}, "benchmarks": []}', "not a pytest-deeplab results file"),
])
def test_a_file_that_is_not_a_results_file_is_refused(tmp_path: Path, content: str,
                                                       why: str) -> None:
    path = tmp_path / "deeplab-run-1-of-2.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ResultsError, match=why) as caught:
        read_results(path)
    assert str(caught.value).startswith(str(path))


def test_a_binary_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deeplab-run-1-of-2.json"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ResultsError, match="not UTF-8 text"):
        read_results(path)


def test_a_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ResultsError, match=re.escape("deeplab-run-2-of-2.json: cannot read")):
        read_results(tmp_path / "deeplab-run-2-of-2.json")


def edited(path: Path, **changes: object) -> Path:
    document = json.loads(path.read_text(encoding="utf-8"))
    document.update(changes)
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def test_a_file_from_another_pytest_deeplab_version_is_refused(good_file: Path) -> None:
    edited(good_file, project_version="0.0.9")
    with pytest.raises(ResultsError) as caught:
        read_results(good_file)
    message = str(caught.value)
    assert message.startswith(f"{good_file}: written by pytest-deeplab 0.0.9, but this is "
                              f"pytest-deeplab {__version__}")
    assert "pytest-deeplab==0.0.9" in message


def test_a_file_of_another_schema_version_is_refused(good_file: Path) -> None:
    edited(good_file, schema_version=2)
    with pytest.raises(ResultsError, match="results schema version 2, but this pytest-deeplab "
                                           "reads version 1"):
        read_results(good_file)


@pytest.mark.parametrize("change, why", [
    ({"items": None}, "items has the wrong type"),
    ({"shard": {"index": 3, "count": 2, "models": []}}, "shard 3/2 is not a shard"),
    ({"shard": {"index": 1, "count": 2}}, "missing field 'models'"),
    ({"exitstatus": "0"}, "exitstatus has the wrong type"),
    ({"items": [{"nodeid": "deeplab::a::miou", "outcome": "exploded"}]},
     "items\\[0\\].outcome is 'exploded'"),
    ({"selection": {"spec": "all", "models": ["a", 3]}}, "selection.models\\[1\\]"),
])
def test_a_malformed_file_says_which_field_is_wrong(good_file: Path, change: dict[str, object],
                                                     why: str) -> None:
    edited(good_file, **change)
    with pytest.raises(ResultsError, match=why) as caught:
        read_results(good_file)
    assert str(caught.value).startswith(f"{good_file}: malformed results file")
