"""`pytest-deeplab merge --html`: the shards' report records make the same page an unsharded
run makes, with the shards (and a mixed run's warning) in its header.

Built without TensorFlow from the report tests' synthetic run (a real session, real records
and pictures): each model's records go into its own shard's results file through the same
helpers the plugin uses to write them.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict
from pathlib import Path

import pytest
from report_helpers import EVIL, MODEL, OTHER, build_synthetic_report, run_record
from shard_helpers import IDENTITY, merge_command
from test_report_html import parse

from pytest_deeplab.report.collect import OutcomeLog
from pytest_deeplab.report.html import write_report
from pytest_deeplab.report.merged import report_payload
from pytest_deeplab.session import DeepLabSession
from pytest_deeplab.shards.results import ItemResult, RunResults, write_results


def shard_files(deeplab: DeepLabSession, log: OutcomeLog, root: Path,
                identities: tuple[dict[str, object], dict[str, object]]) -> list[Path]:
    """MODEL in shard 1/2 and OTHER in shard 2/2, as two jobs would have written them."""
    record = run_record(deeplab)
    payload = report_payload(record.recorder, record.cards)
    entries = {m.name: {"spec": m.as_spec(), "results": asdict(record.results[m.name])}
               for m in record.models}
    json.dumps(payload, allow_nan=False)  # the payload must be plain JSON as it is
    paths = []
    for index, (model, identity) in enumerate(zip((MODEL, OTHER), identities), start=1):
        records = payload["records"]
        run = RunResults(
            identity=dict(identity), selection_spec=f"{MODEL},{OTHER}", selected=[MODEL, OTHER],
            shard_index=index, shard_count=2, shard_models=[model],
            costs={MODEL: 1.0, OTHER: 1.0}, exitstatus=1 if model == MODEL else 0,
            items=[ItemResult(o.nodeid, o.outcome, o.duration, longrepr=o.message)
                   for o in log.for_model(model)],
            models={model: entries[model]},
            report={"records": {"masks": [m for m in records["masks"] if m["model"] == model],
                                "mious": [m for m in records["mious"] if m["model"] == model]},
                    "cards": [c for c in payload["cards"] if c["name"] == model]},
        )
        paths.append(write_results(run, root / f"shard-{index}"))
    return paths


@pytest.fixture
def synthetic(tmp_path: Path) -> tuple[DeepLabSession, OutcomeLog]:
    return build_synthetic_report(tmp_path / "run")


def texts(html: str) -> str:
    return " ".join(" ".join(parse(html).text).split())


def test_the_merged_page_shows_what_the_unsharded_page_shows(
        tmp_path: Path, synthetic: tuple[DeepLabSession, OutcomeLog]) -> None:
    deeplab, log = synthetic
    deeplab.merge_worker({"identity": dict(IDENTITY)})  # as if an xdist worker ran the models
    unsharded = write_report(tmp_path / "unsharded.html", run_record(deeplab), log).read_text()
    shard_files(deeplab, log, tmp_path / "artifacts", (IDENTITY, IDENTITY))
    merged_path = tmp_path / "merged.html"
    assert merge_command(str(tmp_path / "artifacts"), f"--html={merged_path}") == 1
    merged = merged_path.read_text()

    one, two = parse(unsharded), parse(merged)
    assert two.ids == one.ids  # the same sections and cards, in the same order
    assert sorted(i["alt"] or "" for i in two.images) == sorted(i["alt"] or ""
                                                                for i in one.images)
    assert {i["src"] for i in two.images} == {i["src"] for i in one.images}  # same pictures
    for phrase in ("FAILED", "no golden mask for model street-model on image scene_02",
                   "ModelLoadError: could not load the graph"):
        assert phrase in texts(unsharded) and phrase in texts(merged)
    assert EVIL not in merged and "&lt;script&gt;" in merged  # still escaped


def test_the_merged_page_names_its_shards_not_the_merging_machine(
        tmp_path: Path, synthetic: tuple[DeepLabSession, OutcomeLog]) -> None:
    deeplab, log = synthetic
    files = shard_files(deeplab, log, tmp_path / "artifacts", (IDENTITY, IDENTITY))
    out = tmp_path / "merged.html"
    assert merge_command(str(tmp_path / "artifacts"), f"--html={out}") == 1
    text = texts(out.read_text())
    assert "pytest-deeplab report (merged from 2 shards)" in text
    assert re.search(r"shard 1/2 1 model · TensorFlow 2\.21\.0 .* oneDNN on", text)
    assert str(files[1]) in text
    assert "CPU" not in parse(out.read_text()).text  # the merging machine is not the one tested
    assert "MIXED RUN" not in text


def test_a_mixed_merge_says_so_at_the_top_of_the_page(
        tmp_path: Path, synthetic: tuple[DeepLabSession, OutcomeLog]) -> None:
    deeplab, log = synthetic
    shard_files(deeplab, log, tmp_path / "artifacts",
                (IDENTITY, {**IDENTITY, "tensorflow": "2.23.0-dev20261026"}))
    out = tmp_path / "merged.html"
    assert merge_command(str(tmp_path / "artifacts"), f"--html={out}") == 2
    assert not out.exists()
    assert merge_command(str(tmp_path / "artifacts"), "--allow-mixed", f"--html={out}") == 1
    text = texts(out.read_text())
    assert "MIXED RUN merged with --allow-mixed" in text
    assert "TensorFlow 2.23.0-dev20261026" in text


def test_an_unwritable_output_is_named_and_exits_2(
        tmp_path: Path, synthetic: tuple[DeepLabSession, OutcomeLog],
        capsys: pytest.CaptureFixture[str]) -> None:
    deeplab, log = synthetic
    shard_files(deeplab, log, tmp_path / "artifacts", (IDENTITY, IDENTITY))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    assert merge_command(str(tmp_path / "artifacts"), f"--html={blocker / 'x.html'}") == 2
    assert f"{blocker / 'x.html'} NOT written" in capsys.readouterr().err
