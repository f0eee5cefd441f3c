"""Shards run as separate pytest processes, then merged: the merged verdict, counts and JUnit
testcases equal an unsharded run's.

The plugin's own `--deeplab-shard` is not wired in yet, so the project under test carries a
small conftest that does what the plugin will do with these modules: plan the split, run only
its shard's models, log every item and write the results file at the end of the session (on
the xdist controller only). The real plugin test (same checks, through --deeplab-shard and the
built-in suite) belongs with the integration.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from shard_helpers import merge_command

CONFTEST = '''
import pytest
from pytest_deeplab.shards.items import ItemLog
from pytest_deeplab.shards.plan import parse_shard, plan_shards
from pytest_deeplab.shards.results import RunResults, write_results

COSTS = {"alpha": 3.0, "beta": 1.0, "gamma": 2.0, "delta": 5.0, "epsilon": 0.5}

def pytest_addoption(parser):
    parser.addoption("--shard", default="1/1")
    parser.addoption("--results-dir", default="results")

def pytest_configure(config):
    config.shard = parse_shard(config.getoption("shard"), option="--shard")
    config.plan = plan_shards(COSTS, config.shard.count)
    config.item_log = ItemLog()
    config.pluginmanager.register(config.item_log, "item-log")

def pytest_generate_tests(metafunc):
    if "model" in metafunc.fixturenames:
        names = list(metafunc.config.plan.models_of(metafunc.config.shard.index))
        metafunc.parametrize("model", names)

def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if hasattr(config, "workeroutput"):  # an xdist worker: the controller writes the file
        return
    shard = config.shard
    write_results(RunResults(
        identity={"tensorflow": "none (example)", "onednn": None},
        selection_spec="all", selected=list(COSTS), shard_index=shard.index,
        shard_count=shard.count, shard_models=list(config.plan.models_of(shard.index)),
        costs=dict(config.plan.costs), exitstatus=int(exitstatus),
        items=config.item_log.results()), config.getoption("results_dir"))
'''

TESTS = '''
import pytest

def test_mask(model, record_property):
    record_property("deeplab_model", model)
    assert model != "gamma", f"mask of {model} changed"

def test_latency(model):
    if model == "beta":
        pytest.skip("benchmarks disabled")

def test_unrelated():
    pass
'''

QUICK = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")


def cases(path: Path) -> dict[tuple[str, str], list[str]]:
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    return {(c.get("classname", ""), c.get("name", "")): [child.tag for child in c]
            for c in suite.iter("testcase")}


def test_two_shards_in_two_processes_merge_into_the_unsharded_verdict(
        pytester: pytest.Pytester, tmp_path: Path) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_models=TESTS)
    whole = pytester.runpytest_subprocess(*QUICK, f"--results-dir={tmp_path / 'whole'}",
                                          f"--junitxml={tmp_path / 'whole.xml'}")
    first = pytester.runpytest_subprocess(*QUICK, "--shard=1/2",
                                          f"--results-dir={tmp_path / 'ci' / '1'}")
    second = pytester.runpytest_subprocess(*QUICK, "--shard=2/2", "-n", "2",
                                           f"--results-dir={tmp_path / 'ci' / '2'}")
    assert whole.ret == 1
    assert {first.ret, second.ret} == {0, 1}  # gamma fails in one shard only

    merged_xml = tmp_path / "merged.xml"
    assert merge_command(str(tmp_path / "ci"), f"--junitxml={merged_xml}") == whole.ret
    merged = cases(merged_xml)
    unrelated = ("test_models", "test_unrelated")  # not tied to a model: ran in both shards
    assert merged == cases(tmp_path / "whole.xml")
    assert merged[("test_models", "test_mask[gamma]")] == ["properties", "failure"]
    assert merged[("test_models", "test_latency[beta]")] == ["skipped"]
    assert merged[unrelated] == []
    whole_counts = whole.parseoutcomes()
    assert (whole_counts["passed"], whole_counts["failed"], whole_counts["skipped"]) == (9, 1, 1)


def test_an_empty_shard_passes_and_the_merge_needs_its_file(
        pytester: pytest.Pytester, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_models="def test_mask(model):\n    pass\n")
    results = [pytester.runpytest(*QUICK, f"--shard={k}/6", f"--results-dir={tmp_path / str(k)}")
               for k in range(1, 7)]  # five models over six jobs: at least one job is empty
    assert all(r.ret == 0 for r in results)
    files = sorted(tmp_path.rglob("deeplab-run-*-of-6.json"))
    assert len(files) == 6
    assert merge_command(str(tmp_path)) == 0
    files[-1].unlink()
    assert merge_command(str(tmp_path)) == 2
    assert "shard 6/6 missing" in capsys.readouterr().err
