"""Living beside other plugins: a project that has pytest-deeplab installed but does not select
models gets the run it gets without it. The project is written here: pytest-benchmark
benchmarks, its own `deeplab_model` fixture, tests that pass, skip, xfail and fail. It runs with
the plugin and without it (`-p no:deeplab`); the JUnit outcomes and the saved machine_info must
be equal, and a baseline saved without the plugin must compare cleanly with it, under
`-W error` as pytest-benchmark's own configuration runs (a machine_info difference is a
warning there, an INTERNALERROR under `-W error`)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

CONFTEST = """
import pytest


@pytest.fixture
def deeplab_model():
    return {"name": "the project's own model"}
"""

TESTS = """
import pytest


def test_uses_its_own_deeplab_model(deeplab_model):
    assert deeplab_model["name"] == "the project's own model"


def test_sorting(benchmark):
    assert benchmark(sorted, list(range(200, 0, -1)))[0] == 1


def test_joining(benchmark):
    benchmark(",".join, ["a"] * 50)


def test_passes():
    assert 2 + 2 == 4


def test_fails():
    assert 2 + 2 == 5


def test_skips():
    pytest.skip("the project's own reason")


@pytest.mark.xfail(reason="known bug", strict=True)
def test_known_bug():
    assert False
"""

QUICK = ("-p", "no:cacheprovider", "--benchmark-max-time=0.05", "--benchmark-min-rounds=3")
# py-cpuinfo reads the current clock: a CPU that scales its frequency reports another value on
# each run, with or without this plugin; everything else must be equal.
CLOCK_KEYS = ("hz_actual", "hz_actual_friendly")


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("CI", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT",
                 "PYTEST_XDIST_TESTRUNUID", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_project=TESTS)
    return pytester


def outcomes(junit: Path) -> dict[str, str]:
    """Each test case's outcome as JUnit XML records it."""
    found = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        kinds = [child.tag for child in case if child.tag in ("failure", "error", "skipped")]
        found[f"{case.get('classname')}::{case.get('name')}"] = ",".join(kinds) or "passed"
    return found


def saved_machine_info(storage: Path) -> dict[str, object]:
    (saved,) = storage.rglob("*.json")
    info: dict[str, object] = json.loads(saved.read_text())["machine_info"]
    cpu = info.get("cpu")
    if isinstance(cpu, dict):
        info["cpu"] = {k: v for k, v in cpu.items() if k not in CLOCK_KEYS}
    return info


def test_a_project_without_a_model_selection_runs_as_without_the_plugin(
    project: pytest.Pytester,
) -> None:
    root = project.path
    bare = project.runpytest_subprocess(
        *QUICK, "-p", "no:deeplab", f"--junitxml={root / 'bare.xml'}",
        f"--benchmark-storage=file://{root / 'bare'}", "--benchmark-save=baseline")
    with_plugin = project.runpytest_subprocess(
        *QUICK, f"--junitxml={root / 'with.xml'}",
        f"--benchmark-storage=file://{root / 'with'}", "--benchmark-save=with-plugin")
    assert "deeplab-" in with_plugin.stdout.str()  # the plugins line: it was installed and on
    bare.assert_outcomes(passed=4, failed=1, skipped=1, xfailed=1)
    with_plugin.assert_outcomes(passed=4, failed=1, skipped=1, xfailed=1)

    expected = outcomes(root / "bare.xml")
    assert expected["test_project::test_uses_its_own_deeplab_model"] == "passed"
    assert outcomes(root / "with.xml") == expected

    info = saved_machine_info(root / "with")
    assert "deeplab" not in info and "tensorflow" not in info
    assert info == saved_machine_info(root / "bare")

    # The baseline saved without the plugin, compared with the plugin installed.
    compared = project.runpytest_subprocess(
        *QUICK, "-W", "error", "-k", "sorting or joining",
        f"--benchmark-storage=file://{root / 'bare'}", "--benchmark-compare=0001",
        "--benchmark-compare-fail=mean:1000%")
    assert compared.ret == pytest.ExitCode.OK, compared.stdout.str() + compared.stderr.str()
    compared.assert_outcomes(passed=2, deselected=5)
    assert "machine_info is different" not in compared.stdout.str() + compared.stderr.str()
