"""`--deeplab-shard=K/N` through the plugin, then `pytest-deeplab merge`: CI jobs as separate
processes give the unsharded run's verdict, JUnit test cases and summary rows.

The baseline is one unsharded run of three bundled models with one golden altered (a real
failure); the same project then runs as shard 1/2 and as shard 2/2 under `-n 2 --dist loadgroup`
(the xdist controller writes that shard's results file, its identity comes from a worker).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import DeepLabPytester, minizoo_manifest
from test_xdist import ALTERED, alter_golden, junit_cases, summary_block

from pytest_deeplab.cli.main import main
from pytest_deeplab.constants import SUITE_PREFIX

pytest.importorskip("xdist")

MODELS = ("mini_mnv2_os16", "mini_deeplabv3plus", "mini_mnv2_os16_float")
USER_TESTS = '''
def test_each_model_has_a_name(deeplab_model, record_property):
    record_property("deeplab_model", deeplab_model.name)
    assert deeplab_model.name

def test_unrelated():
    pass
'''
SHARD_LINE = re.compile(r"^deeplab shard (\d)/(\d): (\d+) of (\d+) selected models "
                        r"\([0-9.]+ % of the expected cost\): (.*)$")


def shard_models(result: pytest.RunResult) -> list[str]:
    """The models a job says (at the top of its run) it runs."""
    lines = [m for m in map(SHARD_LINE.match, result.outlines) if m]
    assert len(lines) == 1, result.outlines[:20]
    return lines[0][5].split(", ")


def table_rows(lines: list[str], models: tuple[str, ...]) -> dict[str, list[str]]:
    """Summary rows by model: model, verdict, agreement, mIOU (the latency column left out,
    the merge does not show it)."""
    rows = {}
    for line in lines:
        words = line.split()
        if words and words[0] in models:
            rows[words[0]] = words[:4]
    return rows


def cases_with_results_dir(path: Path, *results_dirs: Path) -> dict[str, dict[str, str]]:
    """JUnit cases with each run's --deeplab-results-dir (where diff images go) as <results>."""
    cases = junit_cases(path)
    for case in cases.values():
        for directory in results_dirs:
            case["message"] = case["message"].replace(str(directory), "<results>")
    return cases


def merge(*argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    capsys.readouterr()
    status = main(["merge", *argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_two_shards_merge_into_the_unsharded_verdict(
        deeplab: DeepLabPytester, capsys: pytest.CaptureFixture[str]) -> None:
    root = deeplab.path
    alter_golden(root / "golden")
    deeplab.pytester.makepyfile(test_user=USER_TESTS)
    common = (f"--deeplab-models={','.join(MODELS)}", "--benchmark-disable",
              f"--deeplab-golden-dir={root / 'golden'}")

    whole = deeplab.run_subprocess(*common, f"--junitxml={root / 'whole.xml'}",
                                   f"--deeplab-results-dir={root / 'whole'}")
    first = deeplab.run_subprocess(*common, "--deeplab-shard=1/2",
                                   f"--deeplab-results-dir={root / 'ci' / '1'}",
                                   f"--deeplab-report={root / 'ci' / '1' / 'shard.html'}")
    second = deeplab.run_subprocess(*common, "--deeplab-shard=2/2", "-n", "2",
                                    "--dist", "loadgroup",
                                    f"--deeplab-results-dir={root / 'ci' / '2'}",
                                    f"--deeplab-report={root / 'ci' / '2' / 'shard.html'}")
    assert whole.ret == pytest.ExitCode.TESTS_FAILED
    assert (root / "whole" / "deeplab-run-1-of-1.json").is_file()  # unsharded: shard 1 of 1

    # each job names its models at the top; together they are the selection, once each
    ones, twos = shard_models(first), shard_models(second)
    assert ones and twos and not set(ones) & set(twos)
    assert sorted(ones + twos) == sorted(MODELS)
    failing_shard = first if MODELS[0] in ones else second
    assert failing_shard.ret == pytest.ExitCode.TESTS_FAILED

    # each results file holds only its own models' items (the user's deeplab_model test too)
    for index, models in ((1, ones), (2, twos)):
        document = json.loads((root / "ci" / str(index) / f"deeplab-run-{index}-of-2.json")
                              .read_text())
        assert document["shard"]["models"] == models
        assert document["identity"]["tensorflow"]  # shard 2: from an xdist worker
        ran = {i["nodeid"].split("::")[1] for i in document["items"]
               if i["nodeid"].startswith(SUITE_PREFIX)}
        assert ran == set(models)
        params = {i["nodeid"].partition("[")[2].rstrip("]") for i in document["items"]
                  if "test_each_model_has_a_name" in i["nodeid"]}
        assert params == set(models)  # the deeplab_model fixture follows the shard

    status, out, err = merge(str(root / "ci"), f"--junitxml={root / 'merged.xml'}",
                             f"--html={root / 'merged.html'}", capsys=capsys)
    assert status == whole.ret, err
    merged_cases = cases_with_results_dir(root / "merged.xml", root / "ci" / "1", root / "ci" / "2")
    assert merged_cases == cases_with_results_dir(root / "whole.xml", root / "whole")
    assert len(merged_cases) == 3 * (6 + 2 + 1) + 1  # images, mIOU, latency, user test; unrelated
    failed = [name for name, case in merged_cases.items() if case["outcome"] == "failure"]
    assert failed == [f"deeplab.{MODELS[0]}.{ALTERED}.mask"]
    assert "<results>/mini_mnv2_os16/" in merged_cases[failed[0]]["message"]  # the diff image
    rows = table_rows(summary_block(whole), MODELS)
    assert len(rows) == len(MODELS)
    assert table_rows(out.splitlines(), MODELS) == rows

    page = (root / "merged.html").read_text()
    for model in MODELS:
        assert model in page
    assert ALTERED in page and "merged from 2 shards" in page


def test_an_empty_shard_passes_and_the_merge_needs_its_file(
        deeplab: DeepLabPytester, capsys: pytest.CaptureFixture[str]) -> None:
    root = deeplab.path
    spec = f"--deeplab-models={','.join(MODELS)}"
    runs = {k: deeplab.run(spec, "--benchmark-disable", f"--deeplab-shard={k}/4",
                           f"--deeplab-results-dir={root / 'ci' / str(k)}")
            for k in range(1, 5)}  # three models over four jobs: one job has none
    empty = [k for k, run in runs.items() if any("no models" in line for line in run.outlines)]
    assert len(empty) == 1
    run = runs[empty[0]]
    assert run.ret == pytest.ExitCode.OK
    header = f"deeplab shard {empty[0]}/4: no models (3 selected models over 4 shards"
    assert sum(line.startswith(header) for line in run.outlines) == 2  # top and summary
    assert all(r.ret == pytest.ExitCode.OK for r in runs.values())

    assert merge(str(root / "ci"), capsys=capsys)[0] == 0
    (root / "ci" / str(empty[0]) / f"deeplab-run-{empty[0]}-of-4.json").unlink()
    status, _, err = merge(str(root / "ci"), capsys=capsys)
    assert status == 2
    assert f"shard {empty[0]}/4 missing" in err


@pytest.mark.parametrize(("value", "says"), [
    ("3/2", "K (3) is larger than N (2)"),
    ("0/2", "shards are numbered from 1"),
    ("1/0", "N (the number of shards) is 0"),
    ("a/b", "is not of the form K/N"),
])
def test_a_bad_shard_is_a_usage_error(deeplab: DeepLabPytester, value: str, says: str) -> None:
    result = deeplab.run("--deeplab-models=mini_mnv2_os16", f"--deeplab-shard={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"--deeplab-shard={value!r}" in result.stderr.str()
    assert says in result.stderr.str()


def test_collect_only_shows_the_split_and_writes_no_results_file(
        deeplab: DeepLabPytester) -> None:
    results = deeplab.path / "results"
    result = deeplab.run(f"--deeplab-models={','.join(MODELS)}", "--deeplab-shard=1/2",
                         "--collect-only", f"--deeplab-results-dir={results}")
    assert result.ret == pytest.ExitCode.OK
    models = shard_models(result)
    collectors = re.findall(r"<ModelCollector (\S+)>", result.stdout.str())
    assert collectors == models  # the suite collects this shard's models, in selection order
    assert not results.exists()  # nothing ran: no file a merge could take for a real shard


def test_a_results_file_that_cannot_be_written_is_said_in_red(deeplab: DeepLabPytester) -> None:
    blocker = deeplab.path / "not-a-folder"
    blocker.write_text("a file where the results folder should be\n")
    deeplab.pytester.makepyfile(test_user="def test_unrelated():\n    pass\n")
    result = deeplab.run("--deeplab-models=mini_mnv2_os16", "-m", "not deeplab",
                         f"--deeplab-results-dir={blocker}", "--color=yes")
    assert result.ret == pytest.ExitCode.OK
    red, reset = "\x1b[[]31m", "\x1b[[]0m"  # red=True's markup and the reset ([[] is "[")
    result.stdout.fnmatch_lines([f"{red}deeplab results NOT written ({blocker}): *{reset}"])


def test_fetch_with_a_shard_fetches_what_that_shard_runs(
        deeplab: DeepLabPytester, capsys: pytest.CaptureFixture[str]) -> None:
    """`pytest-deeplab fetch SPEC --shard=K/N` warms exactly the models `--deeplab-shard=K/N`
    runs, so each CI job's cache holds only its own models."""
    spec = "bundled"
    fetched, run = [], []
    for k in (1, 2, 3):
        capsys.readouterr()
        status = main(["fetch", spec, f"--shard={k}/3", f"--rootdir={deeplab.path}",
                       f"--cache-dir={deeplab.path / 'cache'}", "--offline"])
        out, _ = capsys.readouterr()
        assert status == 0, out
        fetched.append([line.split()[1].rstrip(":") for line in out.splitlines()
                        if line.startswith("ok ")])
        result = deeplab.run(f"--deeplab-models={spec}", f"--deeplab-shard={k}/3",
                             "--collect-only")
        run.append(shard_models(result))
    assert fetched == run
    every = [name for names in fetched for name in names]
    assert sorted(every) == sorted(m["name"] for m in minizoo_manifest()["models"])  # each once


def test_fetch_with_a_bad_shard_names_its_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["fetch", "bundled", "--shard=4/3"]) == 2
    assert "--shard='4/3': K (4) is larger than N (3)" in capsys.readouterr().err
