"""pytest-xdist gateways (`--tx`), the mechanism behind running workers on other hosts.

`-n 2` is shorthand for `--tx 2*popen`; a team spreading the suite over machines writes the
gateways out (`--tx ssh=...`, see docs/xdist.md). These runs write them out with local `popen`
gateways and check what an ssh setup relies on: the plugin's `--dist loadgroup` scheduler gives
a serial run's verdicts and keeps each model on one worker; a gateway's `chdir=` makes the
worker use the project copy there; its `env:NAME=value` reaches the worker (how
`PYTEST_DEEPLAB_CACHE` is set on a remote host).
"""

from __future__ import annotations

import shutil

import pytest
from conftest import COUNT_LOADS, DeepLabPytester
from test_xdist import ALTERED, MODELS, alter_golden, junit_cases, loads, summary_block

pytest.importorskip("xdist")

COMMON = (f"--deeplab-models={','.join(MODELS)}", "-m", "deeplab", "--benchmark-disable")
ITEMS = len(MODELS) * (6 + 2)  # per model: six golden images, mIOU, latency

LOAD_LOG = COUNT_LOADS  # each load is logged as it happens (see conftest)


def workers_of(load_log: dict[str, list[str]]) -> dict[str, list[str]]:
    """Model -> the processes that loaded it (one entry per load)."""
    found: dict[str, list[str]] = {}
    for process, names in load_log.items():
        for name in names:
            found.setdefault(name, []).append(process)
    return found


def test_tx_popen_gateways_match_a_serial_run(deeplab: DeepLabPytester) -> None:
    golden = deeplab.path / "golden"
    alter_golden(golden)
    deeplab.pytester.makeconftest(LOAD_LOG)
    common = (*COMMON, f"--deeplab-golden-dir={golden}",
              f"--deeplab-results-dir={deeplab.path / 'results'}")

    serial = deeplab.run_subprocess(*common, f"--junitxml={deeplab.path / 'serial.xml'}")
    for f in deeplab.path.glob("loads-*.txt"):
        f.unlink()
    gateways = deeplab.run_subprocess(
        *common, "--tx", "2*popen", "--dist", "loadgroup",
        f"--junitxml={deeplab.path / 'tx.xml'}",
    )

    serial.assert_outcomes(passed=ITEMS - 1, failed=1)
    gateways.assert_outcomes(passed=ITEMS - 1, failed=1)
    assert serial.ret == gateways.ret == pytest.ExitCode.TESTS_FAILED
    gateways.stdout.fnmatch_lines(["created: 2/2 workers*"])  # both gateways came up

    serial_cases = junit_cases(deeplab.path / "serial.xml")
    assert len(serial_cases) == ITEMS
    assert junit_cases(deeplab.path / "tx.xml") == serial_cases
    assert [name for name, case in serial_cases.items() if case["outcome"] == "failure"] == [
        f"deeplab.{MODELS[0]}.{ALTERED}.mask"]
    assert summary_block(gateways) == summary_block(serial)

    # each model is loaded exactly once, by one worker; the controller loads nothing
    load_log = loads(deeplab.path)
    assert "controller" not in load_log
    assert set(load_log) <= {"gw0", "gw1"}
    by_model = workers_of(load_log)
    assert sorted(by_model) == sorted(MODELS)
    assert all(len(processes) == 1 for processes in by_model.values()), by_model



def test_tx_chdir_gateways_run_in_their_own_checkout(
    deeplab: DeepLabPytester, tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`--tx popen//chdir=DIR//env:PYTEST_DEEPLAB_CACHE=CACHE`: what an ssh gateway does, on
    this machine. The worker runs in DIR (its own copy of the project: conftest, goldens), with
    the cache named in the gateway spec rather than the one it would inherit, and relative
    `--option=path` values resolve in DIR."""
    deeplab.pytester.makeconftest(LOAD_LOG)
    remote = tmp_path_factory.mktemp("remote-host") / "checkout"
    shutil.copytree(deeplab.path, remote)  # the CI step that syncs the checkout
    alter_golden(remote / "golden")  # only there: a failure shows the worker read DIR's goldens
    inherited = tmp_path_factory.mktemp("inherited-cache")
    cache = tmp_path_factory.mktemp("remote-cache")
    monkeypatch.setenv("PYTEST_DEEPLAB_CACHE", str(inherited))

    result = deeplab.pytester.runpytest_subprocess(
        *COMMON, "-p", "no:cacheprovider", "--deeplab-golden-dir=golden",
        "--dist", "loadgroup", "--tx", f"2*popen//chdir={remote}//env:PYTEST_DEEPLAB_CACHE={cache}",
        f"--junitxml={deeplab.path / 'tx.xml'}",
    )

    result.assert_outcomes(passed=ITEMS - 1, failed=1)
    cases = junit_cases(deeplab.path / "tx.xml")
    failed = [name for name, case in cases.items() if case["outcome"] == "failure"]
    assert failed == [f"deeplab.{MODELS[0]}.{ALTERED}.mask"]
    assert loads(deeplab.path) == {}  # the controller loaded nothing ...
    load_log = loads(remote)  # ... and the workers wrote their logs into their rootdir, DIR
    by_model = workers_of(load_log)
    assert sorted(by_model) == sorted(MODELS)
    assert all(len(processes) == 1 for processes in by_model.values()), by_model
    cached = [p.name for p in cache.iterdir()]
    assert all(model in cached for model in MODELS), cached
    assert list(inherited.iterdir()) == []  # the gateway's env: setting won over the inherited one
    # pytest-xdist copies the controller's own pytest into DIR for such gateways (and for ssh);
    # when a release stops doing so, docs/xdist.md must say what replaces it
    assert (remote / "_pytest").is_dir() and (remote / "pytest").exists()
