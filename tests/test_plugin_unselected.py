"""Installed but not asked: without a model selection the plugin adds options, ini keys and
markers, and nothing else. Each test runs one project with the plugin and without it
(`-p no:deeplab`) and holds equal what the plugin could change: outcomes, files, the summary,
imported modules, environment variables, saved benchmark runs, fixtures and markers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SMALL, DeepLabPytester

RECORDER = """
import json, os, sys

ENV_AT_START = dict(os.environ)


def pytest_unconfigure(config):
    changed = {k: v for k, v in os.environ.items() if ENV_AT_START.get(k) != v}
    removed = sorted(set(ENV_AT_START) - set(os.environ))
    record = {"changed": changed, "removed": removed, "modules": sorted(sys.modules)}
    with open(os.environ["RECORD_TO"], "w") as out:
        json.dump(record, out)
"""

PROJECT_TESTS = """
import os
import pytest

@pytest.fixture
def deeplab_model():
    return "the project's own"

def test_own_fixture(deeplab_model):
    assert deeplab_model == "the project's own"

def test_passes():
    assert True

def test_skips():
    pytest.skip("a reason of the project's")

@pytest.mark.xfail(reason="known", strict=True)
def test_xfails():
    assert False

def test_speed(benchmark):
    if os.environ.get("IMPORT_TF"):
        import tensorflow  # the project's own tests may import TensorFlow first
    benchmark(sum, range(100))
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    monkeypatch.delenv("CI", raising=False)
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "TF_CPP_MIN_LOG_LEVEL", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)  # whatever the outer run set stays out
    pytester.makeconftest(RECORDER)
    pytester.makepyfile(test_project=PROJECT_TESTS)
    return pytester


QUICK_BENCHMARKS = ("--benchmark-max-time=0.05", "--benchmark-min-rounds=1")


def run(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, label: str, *args: str,
        plugin: bool = True) -> tuple[pytest.RunResult, dict[str, object]]:
    """One run in its own process (imports and environment are per process)."""
    record = project.path.parent / f"record-{label}.json"  # outside the project's files
    monkeypatch.setenv("RECORD_TO", str(record))
    disable = () if plugin else ("-p", "no:deeplab")
    result = project.runpytest_subprocess("-p", "no:cacheprovider", *QUICK_BENCHMARKS, *disable,
                                          *args)
    return result, json.loads(record.read_text())


def project_files(root: Path) -> list[str]:
    """The project's files, without pytester's own (its runs' output and base temp dirs)."""
    found = (p.relative_to(root) for p in root.rglob("*") if "__pycache__" not in p.parts)
    return sorted(str(p) for p in found if p.parts[0] not in ("stdout", "stderr")
                  and not p.parts[0].startswith("runpytest-"))


def modules_the_plugin_imports() -> set[str]:
    """What importing the plugin module loads (its own light modules), in a fresh process."""
    code = ("import json, sys; before = set(sys.modules); import pytest_deeplab.plugin; "
            "print(json.dumps(sorted(set(sys.modules) - before)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    return set(json.loads(out))


def test_a_run_without_models_is_the_run_without_the_plugin(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same outcomes, same files, no summary section, no imports beyond the plugin's own
    modules, no environment variable set."""
    bare, bare_process = run(project, monkeypatch, "bare", "-rs", "--benchmark-disable",
                             plugin=False)
    files_bare = project_files(project.path)
    with_plugin, process = run(project, monkeypatch, "with", "-rs", "--benchmark-disable")
    assert project_files(project.path) == files_bare
    assert with_plugin.parseoutcomes() == bare.parseoutcomes()
    with_plugin.assert_outcomes(passed=3, skipped=1, xfailed=1)
    output = [line for line in with_plugin.outlines if not line.startswith("plugins:")]
    assert not [line for line in output if "deeplab" in line.lower()]
    new_modules = set(process["modules"]) - set(bare_process["modules"])  # type: ignore[arg-type]
    assert new_modules <= modules_the_plugin_imports(), sorted(new_modules)
    assert all(m.startswith("pytest_deeplab") for m in new_modules), sorted(new_modules)
    assert (process["changed"], process["removed"]) == (
        bare_process["changed"], bare_process["removed"])


@pytest.mark.needs_tf
def test_saved_benchmark_runs_are_left_alone_even_after_the_project_imports_tensorflow(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """machine_info gets no `deeplab` block and no `tensorflow` key, and nothing is imported
    or set in the project's process to describe a TensorFlow nobody asked about."""
    bare, _ = run(project, monkeypatch, "bare", "--benchmark-json=bare.json", "-k", "speed",
                  plugin=False)
    monkeypatch.setenv("IMPORT_TF", "1")
    with_plugin, process = run(project, monkeypatch, "with", "--benchmark-json=with.json",
                               "-k", "speed")
    bare.assert_outcomes(passed=1, deselected=4)
    with_plugin.assert_outcomes(passed=1, deselected=4)
    info = json.loads((project.path / "with.json").read_text())["machine_info"]
    info_bare = json.loads((project.path / "bare.json").read_text())["machine_info"]
    assert "deeplab" not in info and "tensorflow" not in info
    assert set(info) == set(info_bare)
    assert "tensorflow" in process["modules"]  # type: ignore[operator]
    assert "ai_edge_litert" not in process["modules"]  # type: ignore[operator]
    assert "TF_CPP_MIN_LOG_LEVEL" not in process["changed"]  # type: ignore[operator]


def test_a_projects_own_deeplab_model_fixture_wins(
    deeplab: DeepLabPytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not parametrized, not skipped: without models, and with models selected too."""
    deeplab.pytester.makepyfile(test_project=PROJECT_TESTS)
    unselected = deeplab.run("-v", "-k", "own_fixture")
    unselected.assert_outcomes(passed=1)
    selected = deeplab.run(f"--deeplab-models={SMALL}", "-v", "-k", "own_fixture")
    selected.assert_outcomes(passed=1)
    selected.stdout.fnmatch_lines(["test_project.py::test_own_fixture PASSED*"])


OURS_RENAMED = """
import pytest
from pytest_deeplab.fixtures import model_handle

zoo_model = pytest.fixture(name="zoo_model")(model_handle)

@pytest.fixture
def deeplab_model():
    return "the project's own"

def test_both(zoo_model, deeplab_model):
    assert zoo_model.name == "{model}" and deeplab_model == "the project's own"
"""

OURS_EXTENDED = """
import pytest

@pytest.fixture
def deeplab_model(deeplab_model):  # the project wraps ours: ours still gets the models
    return ("wrapped", deeplab_model.name)

def test_wrapped(deeplab_model):
    assert deeplab_model == ("wrapped", "{model}")
"""


@pytest.mark.parametrize("source", [OURS_RENAMED, OURS_EXTENDED], ids=["renamed", "extended"])
def test_our_fixture_under_another_name_or_wrapped_is_parametrized(
    deeplab: DeepLabPytester, source: str
) -> None:
    deeplab.pytester.makepyfile(test_project=source.format(model=SMALL))
    result = deeplab.run(f"--deeplab-models={SMALL}", "-v", "-m", "not deeplab")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"test_project.py::test_*[[]{SMALL}[]] PASSED*"])


XDIST_GROUP = """
import pytest

@pytest.mark.xdist_group("together")
def test_grouped():
    pass
"""


def test_xdist_group_is_known_only_where_pytest_xdist_is(
    deeplab: DeepLabPytester
) -> None:
    """pytest-xdist registers its marker; without it --strict-markers says the marker is
    unknown, as it would without this plugin."""
    deeplab.pytester.makepyfile(test_grouped=XDIST_GROUP)
    deeplab.run_subprocess("--strict-markers").assert_outcomes(passed=1)
    without_xdist = deeplab.run_subprocess("--strict-markers", "-p", "no:xdist")
    assert without_xdist.ret == pytest.ExitCode.INTERRUPTED
    without_xdist.stdout.fnmatch_lines(["*'xdist_group' not found in `markers`*"])


SUITE_MARKERS = """
def pytest_collection_finish(session):
    for item in session.items:
        print("MARKS", item.nodeid, sorted({m.name for m in item.iter_markers()}))
"""


@pytest.mark.parametrize("xdist", [True, False], ids=["with-xdist", "without-xdist"])
def test_the_suite_collects_under_strict_markers_with_or_without_xdist(
    deeplab: DeepLabPytester, xdist: bool
) -> None:
    deeplab.pytester.makeconftest(SUITE_MARKERS)
    args = () if xdist else ("-p", "no:xdist")
    result = deeplab.run(f"--deeplab-models={SMALL}", "--strict-markers", "--co", "-s", *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()
    marks = [line for line in result.outlines if line.startswith("MARKS deeplab::")]
    assert marks
    assert all(("'xdist_group'" in line) == xdist for line in marks), marks


def plugin_options_in_help(*args: str, env: dict[str, str] | None = None) -> bool:
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args,
                           "--help"], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr
    return "--deeplab-models" in done.stdout


def test_the_entry_point_is_named_deeplab(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """What the README says: `-p no:deeplab` turns it off; with autoload off, `-p deeplab`
    turns it on."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    assert plugin_options_in_help()
    assert not plugin_options_in_help("-p", "no:deeplab")
    no_autoload = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    assert not plugin_options_in_help(env=no_autoload)
    assert plugin_options_in_help("-p", "deeplab", env=no_autoload)
