"""The merged run's JUnit XML: well-formed, and each test under the name pytest gives it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from shard_helpers import merge_command, write_shards

from pytest_deeplab.shards.junit import junit_address, junit_document, write_junit
from pytest_deeplab.shards.results import ItemResult
from pytest_deeplab.verdicts.record import ItemLog

QUICK = ("-p", "no:hypothesispytest", "-p", "no:cacheprovider")

KEYED = '''
import pytest

def test_plain(record_property):
    record_property("deeplab_agreement", 0.9991)

class TestModel:
    @pytest.mark.parametrize("name", ["mini::a", "b[1]", "c/d"])
    def test_param(self, name):
        pass

    class TestNested:
        def test_inner(self):
            pytest.skip("no real zoo here")

def test_fails():
    assert False, "mask changed"
'''


def test_tests_are_keyed_exactly_as_pytests_own_junit_xml(pytester: pytest.Pytester) -> None:
    pytester.mkpydir("pkg")
    pytester.path.joinpath("pkg", "test_keyed.py").write_text(KEYED)
    log = ItemLog()
    theirs = pytester.path / "pytest.xml"
    pytester.inline_run(*QUICK, f"--junitxml={theirs}", plugins=[log])
    ours = pytester.path / "merged.xml"
    write_junit(ours, log.results())

    def cases(path: Path) -> dict[tuple[str, str], ET.Element]:
        root = ET.parse(path).getroot()
        return {(c.get("classname", ""), c.get("name", "")): c for c in root.iter("testcase")}

    mine, pytests = cases(ours), cases(theirs)
    assert set(mine) == set(pytests)
    assert ("pkg.test_keyed.TestModel", "test_param[mini::a]") in mine
    assert ("pkg.test_keyed.TestModel.TestNested", "test_inner") in mine
    for key, case in pytests.items():
        assert [child.tag for child in mine[key]] == [child.tag for child in case], key
    plain = mine[("pkg.test_keyed", "test_plain")].find("properties/property")
    assert plain is not None and plain.attrib == {"name": "deeplab_agreement", "value": "0.9991"}
    failure = mine[("pkg.test_keyed", "test_fails")].find("failure")
    assert failure is not None and "mask changed" in (failure.get("message") or "")


@pytest.mark.parametrize("nodeid, expected", [
    ("deeplab::mini_a::scene1::mask", ("deeplab.mini_a.scene1", "mask")),
    ("deeplab::mini_a::miou", ("deeplab.mini_a", "miou")),
    ("tests/sub/test_x.py::test_y[a::b-1]", ("tests.sub.test_x", "test_y[a::b-1]")),
    ("tests/test_broken.py", ("", "tests.test_broken")),
])
def test_node_ids_become_classname_and_name(nodeid: str, expected: tuple[str, str]) -> None:
    assert junit_address(nodeid) == expected


def test_text_xml_cannot_hold_is_shown_not_lost() -> None:
    coloured = "\x1b[31mE   AssertionError\x1b[0m: mask changed \x00 at \ud800?"
    items = [ItemResult("deeplab::m::miou", "failed", 1.0, longrepr=coloured, message=coloured,
                        user_properties=[("note", "bell\x07")])]
    root = ET.fromstring(junit_document(items))
    failure = root.find("testsuite/testcase/failure")
    assert failure is not None
    assert failure.text == "#x1B[31mE   AssertionError#x1B[0m: mask changed #x00 at #xD800?"
    prop = root.find("testsuite/testcase/properties/property")
    assert prop is not None and prop.get("value") == "bell#x07"


def test_the_suite_counts_and_suite_properties(tmp_path: Path) -> None:
    items = [
        ItemResult("deeplab::a::miou", "passed", 0.5),
        ItemResult("deeplab::a::scene::mask", "failed", 0.25, longrepr="changed", message="c"),
        ItemResult("deeplab::b::miou", "error", 0.0, longrepr="no file", when="setup"),
        ItemResult("deeplab::b::latency", "skipped", 0.0, longrepr="benchmarks off"),
        ItemResult("deeplab::b::gap", "xfailed", 0.0, longrepr="known op gap"),
        ItemResult("deeplab::b::fixed", "xpassed", 0.0),
    ]
    path = write_junit(tmp_path / "out" / "deeplab.xml", items,
                       [("deeplab_shards", 3), ("deeplab_models", "all")])
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites" and root.get("name") == "pytest tests"
    suite = root.find("testsuite")
    assert suite is not None
    assert {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped", "time")} \
        == {"name": "pytest", "tests": "6", "failures": "1", "errors": "1", "skipped": "2",
            "time": "0.750"}
    assert [(p.get("name"), p.get("value")) for p in suite.findall("properties/property")] == [
        ("deeplab_shards", "3"), ("deeplab_models", "all")]
    tags = [[child.tag for child in case] for case in suite.findall("testcase")]
    assert tags == [[], ["failure"], ["error"], ["skipped"], ["skipped"], []]
    kinds = [s.get("type") for s in suite.iter("skipped")]
    assert kinds == ["pytest.skip", "pytest.xfail"]


def test_merge_writes_one_junit_file_for_all_shards(tmp_path: Path) -> None:
    write_shards(tmp_path / "artifacts", 3, failing={"mini_b": "scene2::mask"})
    out = tmp_path / "reports" / "deeplab.xml"
    assert merge_command(str(tmp_path / "artifacts"), f"--junitxml={out}") == 1
    suite = ET.parse(out).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("12", "1")
    names = {(c.get("classname"), c.get("name")) for c in suite.iter("testcase")}
    assert ("deeplab.mini_b.scene2", "mask") in names
    assert ("deeplab.mini_d", "miou") in names
    assert {p.get("name"): p.get("value") for p in suite.findall("properties/property")} == {
        "deeplab_models": "bundled", "deeplab_shards": "3", "deeplab_tensorflow": "2.21.0"}
