"""docs/ci.md: its workflows parse, and what they run exists and fits together.

Every `pytest` and `pytest-deeplab` command in the YAML blocks is read job by job (with the
matrix or `parallel:` expanded) and its options are checked against what `pytest --help` (with
the plugin, xdist and pytest-benchmark loaded) and `pytest-deeplab <command> --help` list; the
shard jobs must cover 1..N once each, upload distinct artifacts that the merge job downloads, and
key their model cache on the real lock file.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import PurePosixPath
from typing import Any

import pytest
from conftest import REPO

from pytest_deeplab.constants import LOCK_FILE as LOCK_FILE_NAME
from pytest_deeplab.shards.plan import Shard, parse_shard

yaml = pytest.importorskip("yaml", reason="PyYAML reads docs/ci.md: pip install -e '.[test]'")

DOC = REPO / "docs" / "ci.md"
OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
GITHUB_EXPR = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def yaml_blocks() -> list[dict[str, Any]]:
    blocks = re.findall(r"^```yaml\n(.*?)^```", DOC.read_text(), flags=re.M | re.S)
    assert len(blocks) == 2, f"{DOC}: expected a GitHub Actions and a GitLab CI example"
    return [yaml.safe_load(block) for block in blocks]


def lines_of(script: str | list[str]) -> list[str]:
    text = script if isinstance(script, str) else "\n".join(script)
    return [line.strip() for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def commands(lines: list[str], program: str) -> list[list[str]]:
    return [words for words in map(shlex.split, lines) if words and words[0] == program]


def long_options(words: list[str]) -> dict[str, str]:
    """--name=value and bare --flag (value '') of one command line."""
    found = {}
    for word in words[1:]:
        if word.startswith("--"):
            name, _, value = word.partition("=")
            found[name] = value
    return found


def check_fetch(lines: list[str], run_options: dict[str, str], where: str) -> None:
    """A job's one `pytest-deeplab fetch` warms what its pytest run selects, and its shard only."""
    fetches = commands(lines, "pytest-deeplab")
    assert [words[1] for words in fetches] == ["fetch"], where
    check_options(fetches[0], cli_options("fetch"), where)
    positional = [w for w in fetches[0][2:] if not w.startswith("--")]
    assert positional == [run_options["--deeplab-models"]], where
    assert long_options(fetches[0])["--shard"] == run_options["--deeplab-shard"], where


@pytest.fixture(scope="module")
def pytest_options(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """What `pytest --help` lists in an empty folder: every installed plugin's options."""
    folder = tmp_path_factory.mktemp("help")
    done = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=folder,
                          capture_output=True, text=True, check=True)
    assert "--deeplab-models" in done.stdout  # the plugin was loaded through its entry point
    return set(OPTION.findall(done.stdout))


def cli() -> Callable[[list[str]], int]:
    """The `pytest-deeplab` console script's function, wherever the package puts it."""
    scripts = [e for e in entry_points(group="console_scripts") if e.name == "pytest-deeplab"]
    assert scripts, "the pytest-deeplab console script is not installed: pip install -e ."
    main: Callable[[list[str]], int] = scripts[0].load()
    return main


def cli_options(command: str) -> set[str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as exit_info:
        cli()([command, "--help"])
    assert exit_info.value.code == 0, f"`pytest-deeplab {command} --help` failed: {out.getvalue()}"
    return set(OPTION.findall(out.getvalue()))


def check_options(words: list[str], known: set[str], where: str) -> None:
    unknown = [name for name in long_options(words) if name not in known]
    assert not unknown, f"{DOC} ({where}): `{' '.join(words)}` uses {unknown}, which " \
        f"`{words[0]} --help` does not list"


# --- GitHub Actions ------------------------------------------------------------------------


def expand(text: str, matrix: dict[str, Any]) -> str:
    """Replace ${{ matrix.X }} by this job's value; any other expression is left as it is."""
    def value(match: re.Match[str]) -> str:
        key = match[1]
        return str(matrix[key[len("matrix."):]]) if key.startswith("matrix.") else match[0]
    return GITHUB_EXPR.sub(value, text)


def run_lines(job: dict[str, Any], matrix: dict[str, Any]) -> list[str]:
    """The shell lines of one job's `run` steps, for one combination of the matrix."""
    return [line for step in job["steps"] if "run" in step
            for line in lines_of(expand(step["run"], matrix))]


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if step.get("uses", "").startswith(action + "@")]


def test_github_workflow(pytest_options: set[str]) -> None:
    workflow = yaml_blocks()[0]
    jobs = workflow["jobs"]
    shard_job, merge_job = jobs["shard"], jobs["merge"]
    strategy = shard_job["strategy"]
    assert strategy["fail-fast"] is False  # one failing shard must not cancel the others
    shards = strategy["matrix"]["shard"]
    count = len(shards)
    assert shards == list(range(1, count + 1))

    seen: list[Shard] = []
    artifact_names = []
    pins = []
    for index in shards:
        lines = run_lines(shard_job, {"shard": index})
        runs = commands(lines, "pytest")
        assert len(runs) == 1, lines
        check_options(runs[0], pytest_options, f"shard job {index}")
        options = long_options(runs[0])
        seen.append(parse_shard(options["--deeplab-shard"]))
        check_fetch(lines, options, f"shard job {index}")
        results = PurePosixPath(options["--deeplab-results-dir"])
        assert results in PurePosixPath(options["--deeplab-report"]).parents
        upload = uses(shard_job, "actions/upload-artifact")
        assert len(upload) == 1 and upload[0]["if"] == "always()"
        assert PurePosixPath(upload[0]["with"]["path"]) == results
        artifact_names.append(expand(upload[0]["with"]["name"], {"shard": index}))
        pins += [w for words in commands(lines, "pip") for w in words if "pytest-deeplab" in w]
    assert seen == [Shard(k, count) for k in range(1, count + 1)]
    assert len(set(artifact_names)) == count  # upload-artifact v4: one name per job

    cache = uses(shard_job, "actions/cache")
    assert len(cache) == 1
    key = cache[0]["with"]["key"]
    assert f"hashFiles('{LOCK_FILE_NAME}')" in key and "matrix.shard" in key

    assert merge_job["needs"] == "shard" and merge_job["if"] == "always()"
    download = uses(merge_job, "actions/download-artifact")
    assert len(download) == 1
    settings = download[0]["with"]
    assert all(fnmatch.fnmatchcase(name, settings["pattern"]) for name in artifact_names)
    assert settings["merge-multiple"] is False  # one folder per shard: nothing overwritten
    merges = commands(run_lines(merge_job, {}), "pytest-deeplab")
    assert len(merges) == 1 and merges[0][1] == "merge"
    check_options(merges[0], cli_options("merge"), "merge job")
    assert [PurePosixPath(p) for p in merges[0][2:] if not p.startswith("-")] == [
        PurePosixPath(settings["path"])]
    pins += [w for words in commands(run_lines(merge_job, {}), "pip") for w in words
             if "pytest-deeplab" in w]
    versions = {pin.partition("==")[2] for pin in pins}
    assert len(versions) == 1 and "" not in versions, pins  # merge refuses another version


# --- GitLab CI -----------------------------------------------------------------------------


def test_gitlab_pipeline(pytest_options: set[str]) -> None:
    pipeline = yaml_blocks()[1]
    shard_job, merge_job = pipeline["deeplab"], pipeline["deeplab-merge"]
    count = shard_job["parallel"]
    assert isinstance(count, int) and count >= 2
    assert shard_job["stage"] != merge_job["stage"]

    seen: list[Shard] = []
    results_dirs = set()
    for index in range(1, count + 1):
        lines = [line.replace("$CI_NODE_INDEX", str(index)).replace("$CI_NODE_TOTAL", str(count))
                 for line in lines_of(shard_job["script"])]
        runs = commands(lines, "pytest")
        assert len(runs) == 1, lines
        check_options(runs[0], pytest_options, f"parallel job {index}")
        options = long_options(runs[0])
        seen.append(parse_shard(options["--deeplab-shard"]))
        check_fetch(lines, options, f"parallel job {index}")
        results = PurePosixPath(options["--deeplab-results-dir"])
        assert results in PurePosixPath(options["--deeplab-report"]).parents
        results_dirs.add(results)
    assert seen == [Shard(k, count) for k in range(1, count + 1)]
    assert len(results_dirs) == count  # artifacts of all jobs land in one folder
    assert shard_job["artifacts"]["when"] == "always"
    uploaded = [PurePosixPath(p) for p in shard_job["artifacts"]["paths"]]
    assert all(any(up == d or up in d.parents for up in uploaded) for d in results_dirs)
    assert LOCK_FILE_NAME in shard_job["cache"]["key"]["files"]

    assert merge_job["needs"] == ["deeplab"] and merge_job["when"] == "always"
    merges = commands(lines_of(merge_job["script"]), "pytest-deeplab")
    assert len(merges) == 1 and merges[0][1] == "merge"
    check_options(merges[0], cli_options("merge"), "merge job")
    roots = [PurePosixPath(p) for p in merges[0][2:] if not p.startswith("-")]
    assert all(any(root in d.parents for root in roots) for d in results_dirs)
