"""What a run records of each test for the results file, seen through real pytest runs."""

from __future__ import annotations

import pytest

from pytest_deeplab.shards.results import ItemResult
from pytest_deeplab.verdicts.record import ItemLog, headline

QUICK = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")
"""The inner runs use no Hypothesis; pytester drops its import after each run (seconds each)."""

OUTCOMES = '''
import pytest

@pytest.fixture
def broken_setup():
    raise RuntimeError("no model file")

@pytest.fixture
def broken_teardown():
    yield
    raise OSError("cache vanished")

def test_passes(record_property):
    record_property("deeplab_agreement", 0.9993)
    record_property("shape", (513, 513))

def test_fails():
    assert 0.61 >= 0.70, "mIOU 0.61 is below 0.70"

def test_skips():
    pytest.skip("model mini_a is not available")

@pytest.mark.xfail(reason="known op gap")
def test_xfails():
    assert False

@pytest.mark.xfail(reason="fixed upstream")
def test_xpasses():
    pass

def test_setup_error(broken_setup):
    pass

def test_teardown_error(broken_teardown):
    pass

class TestGroup:
    @pytest.mark.parametrize("size", [257, 513])
    def test_sizes(self, size):
        assert size > 0
'''


@pytest.fixture
def logged(pytester: pytest.Pytester) -> dict[str, ItemResult]:
    pytester.makepyfile(test_outcomes=OUTCOMES)
    log = ItemLog()
    pytester.inline_run(*QUICK, plugins=[log])
    return {item.nodeid.split("::", 1)[1]: item for item in log.results()}


def test_each_test_has_one_final_outcome(logged: dict[str, ItemResult]) -> None:
    assert {name: item.outcome for name, item in logged.items()} == {
        "test_passes": "passed",
        "test_fails": "failed",
        "test_skips": "skipped",
        "test_xfails": "xfailed",
        "test_xpasses": "xpassed",
        "test_setup_error": "error",
        "test_teardown_error": "error",
        "TestGroup::test_sizes[257]": "passed",
        "TestGroup::test_sizes[513]": "passed",
    }


def test_failures_keep_their_text_and_a_headline(logged: dict[str, ItemResult]) -> None:
    failed = logged["test_fails"]
    assert failed.when == "call"
    assert "mIOU 0.61 is below 0.70" in failed.longrepr
    assert failed.message.startswith("AssertionError: mIOU 0.61 is below 0.70")
    setup = logged["test_setup_error"]
    assert setup.when == "setup"
    assert setup.message == 'failed on setup with "RuntimeError: no model file"'
    teardown = logged["test_teardown_error"]
    assert teardown.when == "teardown"
    assert "OSError: cache vanished" in teardown.longrepr


def test_skips_and_xfails_keep_their_reason(logged: dict[str, ItemResult]) -> None:
    assert logged["test_skips"].longrepr == "model mini_a is not available"
    assert logged["test_xfails"].longrepr == "known op gap"


def test_recorded_properties_and_all_phases_durations_are_kept(
        logged: dict[str, ItemResult]) -> None:
    passed = logged["test_passes"]
    assert passed.user_properties == [("deeplab_agreement", 0.9993), ("shape", (513, 513))]
    assert passed.duration > 0


def test_a_collection_error_is_an_error_item(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n",
                        test_broken="import no_such_module_here\n")
    log = ItemLog()
    pytester.inline_run("--continue-on-collection-errors", *QUICK, plugins=[log])
    items = {item.nodeid: item for item in log.results()}
    assert items["test_ok.py::test_ok"].outcome == "passed"
    broken = items["test_broken.py"]
    assert (broken.outcome, broken.when, broken.message) == ("error", "collect",
                                                             "collection failure")
    assert "no_such_module_here" in broken.longrepr


def test_a_headline_keeps_whole_lines_within_the_budget() -> None:
    text = "first line\nsecond line\n" + "x" * 600
    assert headline(text, budget=30) == "first line\nsecond line"
    assert headline("y" * 600, budget=30) == "y" * 30
