"""`pytest-deeplab bisect`: the search with stand-in steps, the candidate listing, the answer,
and the whole command over stand-in environments (the gate's fake workers, no TensorFlow).
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from packaging.version import Version
from test_gate import FAKE_WORKER

from pytest_deeplab.bisect.candidates import (
    CandidateError,
    between,
    build_order,
    index_versions,
    pick,
)
from pytest_deeplab.bisect.changes import compare_url, git_ref
from pytest_deeplab.bisect.search import (
    BAD,
    EXIT_FOUND,
    EXIT_NO_DIFFERENCE,
    EXIT_RANGE,
    GOOD,
    INCONCLUSIVE,
    SKIP,
    StepResult,
    bisect,
    steps_left,
)
from pytest_deeplab.cli.main import main
from pytest_deeplab.envs.installer import IndexOptions


class StandIn:
    """Points named "p0".."pN"; verdicts by rule; remembers every call."""

    def __init__(self, first_bad: int, undecided: frozenset[int] = frozenset(),
                 unbuildable: frozenset[int] = frozenset(), always_good: bool = False) -> None:
        self.first_bad, self.undecided, self.unbuildable = first_bad, undecided, unbuildable
        self.always_good = always_good
        self.calls: list[tuple[int, float]] = []
        self.retained: list[set[str]] = []

    def run(self, point: str, budget_scale: float) -> StepResult:
        i = int(point[1:])
        self.calls.append((i, budget_scale))
        if i in self.unbuildable:
            return StepResult(SKIP, reason="no wheel")
        if i in self.undecided:
            return StepResult(INCONCLUSIVE)
        bad = not self.always_good and i >= self.first_bad
        return StepResult(BAD if bad else GOOD, git=f"v0-{i}-g{i:07x}")

    def retain(self, points: set[str]) -> None:
        self.retained.append(set(points))


def points(n: int) -> list[str]:
    return [f"p{i}" for i in range(n)]


def quiet(message: str) -> None:
    pass


@given(st.integers(2, 300), st.data())
def test_bisect_finds_the_first_bad_point_in_log_steps(n: int, data: st.DataObject) -> None:
    first_bad = data.draw(st.integers(1, n - 1))
    runner = StandIn(first_bad)
    result = bisect(points(n), runner, quiet)
    assert result.exit_code == EXIT_FOUND
    assert (result.last_good, result.first_bad) == (first_bad - 1, first_bad)
    assert runner.calls[0] == (n - 1, 1.0)  # the bad end is confirmed first
    assert len(runner.calls) <= 1 + steps_left(n - 2)
    assert all(r >= {"p0", f"p{n - 1}"} for r in runner.retained)  # the ends are kept


def test_a_bad_end_that_passes_is_no_difference() -> None:
    runner = StandIn(first_bad=5, always_good=True)
    result = bisect(points(8), runner, quiet)
    assert result.exit_code == EXIT_NO_DIFFERENCE
    assert runner.calls == [(7, 1.0)]
    assert "do not differ" in result.message


def test_an_inconclusive_step_is_rerun_at_twice_the_budget_then_skipped() -> None:
    runner = StandIn(first_bad=6, undecided=frozenset({4}))
    result = bisect(points(9), runner, quiet)  # p0 good, p8 bad: the middle p4 first
    assert runner.calls[1:3] == [(4, 1.0), (4, 2.0)]
    assert result.exit_code == EXIT_FOUND and result.first_bad == 6
    assert [s.result.verdict for s in result.steps if s.index == 4] == [INCONCLUSIVE] * 2


def test_skips_next_to_the_change_leave_a_range() -> None:
    runner = StandIn(first_bad=5, undecided=frozenset({4}), unbuildable=frozenset({5}))
    result = bisect(points(9), runner, quiet)
    assert result.exit_code == EXIT_RANGE
    assert (result.last_good, result.first_bad, result.skipped) == (3, 6, [4, 5])
    assert (5, 2.0) not in runner.calls  # a build that failed is not rerun
    assert "p4, p5" in result.message


def test_a_bad_end_that_stays_inconclusive_is_a_range_over_everything() -> None:
    runner = StandIn(first_bad=1, undecided=frozenset({4}))
    result = bisect(points(5), runner, quiet)
    assert result.exit_code == EXIT_RANGE and runner.calls == [(4, 1.0), (4, 2.0)]


# -- candidates -------------------------------------------------------------------------------

RELEASES = [Version(v) for v in ("2.15.1", "2.16.1", "2.16.2", "2.17.0rc1", "2.17.0",
                                 "2.18.0", "2.19.0", "2.20.0", "2.21.0rc0", "2.21.0")]
NIGHTLIES = [Version(v) for v in ("2.22.0.dev20260601", "2.21.0.dev20260105",
                                  "2.23.0.dev20261026", "2.22.0.dev20260301")]


def test_releases_between_are_final_unless_pre() -> None:
    good = pick("tensorflow-cpu==2.16.*", RELEASES, pre=False)
    bad = pick("tensorflow-cpu==2.21.*", RELEASES, pre=False)
    assert (str(good.version), str(bad.version)) == ("2.16.2", "2.21.0")
    assert [str(v) for v in between(good.version, bad.version, RELEASES, "tensorflow-cpu",
                                     pre=False)] == ["2.17.0", "2.18.0", "2.19.0", "2.20.0"]
    with_pre = between(good.version, bad.version, RELEASES, "tensorflow-cpu", pre=True)
    assert [str(v) for v in with_pre] == ["2.17.0rc1", "2.17.0", "2.18.0", "2.19.0", "2.20.0",
                                          "2.21.0rc0"]


def test_a_good_end_newer_than_bad_lists_from_good_to_bad() -> None:
    listed = between(Version("2.21.0"), Version("2.16.2"), RELEASES, "tensorflow-cpu", False)
    assert [str(v) for v in listed] == ["2.20.0", "2.19.0", "2.18.0", "2.17.0"]


def test_nightlies_are_ordered_by_build_date_and_always_listed() -> None:
    newest = pick("tf-nightly", NIGHTLIES, pre=False)
    assert str(newest.version) == "2.23.0.dev20261026"
    listed = between(Version("2.21.0.dev20260105"), newest.version, NIGHTLIES, "tf-nightly",
                     pre=False)
    assert [str(v) for v in listed] == ["2.22.0.dev20260301", "2.22.0.dev20260601"]
    assert build_order(Version("2.21.0")) < build_order(Version("2.22.0.dev20260301"))


def test_from_a_release_to_the_nightlies_only_later_builds_are_candidates() -> None:
    """tensorflow-cpu 2.21.0 (good) .. tf-nightly (bad): the 2.21.0.dev nightlies predate the
    release, so only the 2.22 and 2.23 nightlies lie between."""
    listed = between(Version("2.21.0"), Version("2.23.0.dev20261026"), NIGHTLIES,
                     "tf-nightly", pre=False)
    assert [str(v) for v in listed] == ["2.22.0.dev20260301", "2.22.0.dev20260601"]


def test_a_spec_that_matches_nothing_names_what_exists() -> None:
    with pytest.raises(CandidateError, match=r"matches 'tensorflow-cpu==3\.\*'.*2\.21\.0"):
        pick("tensorflow-cpu==3.*", RELEASES, pre=False)


@pytest.fixture
def wheel_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A find-links folder of (empty) wheels; pip lists them by file name only."""
    for name in ("tensorflow_cpu-2.16.2", "tensorflow_cpu-2.17.0", "tensorflow_cpu-2.18.0rc0",
                 "tensorflow_cpu-2.18.0", "tf_nightly-2.23.0.dev20260201",
                 "tf_nightly-2.22.0.dev20260301"):
        (tmp_path / f"{name}-py3-none-any.whl").write_bytes(b"")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(tmp_path / "no-pip.conf"))
    for var in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def test_index_versions_asks_pip_with_the_given_index_options(wheel_dir: Path) -> None:
    index = IndexOptions(find_links=(str(wheel_dir),), no_index=True)
    assert [str(v) for v in index_versions("tensorflow-cpu", index)] == [
        "2.16.2", "2.17.0", "2.18.0rc0", "2.18.0"]
    # by build date, not by version number
    assert [str(v) for v in index_versions("tf-nightly", index)] == [
        "2.23.0.dev20260201", "2.22.0.dev20260301"]
    with pytest.raises(CandidateError, match="offers no tensorflow"):
        index_versions("tensorflow", index)


def test_the_command_lists_candidates_from_the_index_first(
    wheel_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The list is printed before anything is built; an unbuildable end then stops it (2)."""
    code = main(["bisect", "--rootdir", str(tmp_path), "--good", "tensorflow-cpu==2.16.*",
                 "--bad", "tensorflow-cpu==2.18.*", "--no-index", "--find-links",
                 str(wheel_dir), "--installer", "pip", "--pre"])
    captured = capsys.readouterr()
    assert captured.out.startswith("2 candidate(s) between 2.16.2 (good) and 2.18.0 (bad):\n"
                                   "  2.17.0\n  2.18.0rc0\n")
    assert code == 2 and "pytest-deeplab bisect:" in captured.err


# -- the answer -------------------------------------------------------------------------------

@pytest.mark.parametrize(("git", "version", "ref"), [
    ("v2.21.0-rc1-5-ga481b10260d", "2.21.0", "v2.21.0"),  # a release: its tag
    ("v2.15.0-2-g0b15fdfcb3f", "2.15.0.post1", "v2.15.0"),
    ("v1.12.1-130613-g3e6f4a1c", "2.23.0.dev20261026", "3e6f4a1c"),  # a nightly: its commit
    ("v2.20.0", None, "v2.20.0"),
    ("unknown", "2.23.0.dev20261026", None),
])
def test_git_ref(git: str, version: str | None, ref: str | None) -> None:
    assert git_ref(git, version) == ref


def test_compare_url_runs_from_the_older_build() -> None:
    good, bad = ("v2.16.1-0-g5bc9d26649c", "2.16.2"), ("v2.18.0-rc2-1-gabcdef0", "2.18.0")
    assert compare_url(good, bad) == \
        "https://github.com/tensorflow/tensorflow/compare/v2.16.2...v2.18.0"
    assert compare_url(bad, good, good_is_newer=True) == \
        "https://github.com/tensorflow/tensorflow/compare/v2.16.2...v2.18.0"
    assert compare_url(("x", "local"), bad) is None


# -- the command over stand-in environments ------------------------------------------------------

WORKER = FAKE_WORKER.replace('"tensorflow_git": "fake"',
                             '"tensorflow_git": env.get("FAKE_GIT", "fake"), '
                             '"keras": env.get("FAKE_KERAS", "3.15.1")')


@pytest.fixture
def project(tmp_path: Path) -> Path:
    import numpy as np
    from PIL import Image

    (tmp_path / "images").mkdir()
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(tmp_path / "images" / "scene.png")
    (tmp_path / "model.pb").write_bytes(b"not read by the stand-in workers")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest-deeplab.models.toy]\npath = "model.pb"\n'
        'golden_images = "images"\nmin_agreement = 0.99\n')
    worker = tmp_path / "fake-worker"
    worker.write_text(WORKER)
    worker.chmod(worker.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def stand_in_env(project: Path, version: str, scale: float, **extra: str) -> str:
    """An "environment": an interpreter whose worker reports TF `version`, `scale` x slower."""
    path = project / f"tf-{version}"
    commit = f"{abs(hash(version)) % 16**10:010x}"
    env = {"FAKE_TF": version, "FAKE_SCALE": str(scale), "FAKE_GIT": f"v1.12.1-9-g{commit}",
           **extra}
    path.write_text("#!/bin/sh\n" + "".join(f"export {k}={v}\n" for k, v in env.items())
                    + f'exec "{project / "fake-worker"}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def run_bisect(project: Path, good: str, bad: str, middle: list[str], *extra: str) -> int:
    return main(["bisect", "--rootdir", str(project), "--models", "toy", "--warmup", "1",
                 "--max-seconds", "3", "--good", good, "--bad", bad,
                 "--candidates", ",".join(middle), *extra])


def test_the_command_finds_the_first_slower_build(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    nightly = "2.22.0.dev2026030{}".format
    scales = {nightly(1): 1.0, nightly(2): 1.0, nightly(3): 1.3, nightly(4): 1.3, nightly(5): 1.3}
    envs = [stand_in_env(project, v, s) for v, s in scales.items()]
    out_json, out_md = project / "b.json", project / "b.md"
    code = run_bisect(project, envs[0], envs[4], envs[1:4],
                      "--json", str(out_json), "--markdown", str(out_md))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.startswith("3 candidate(s) between")
    report = json.loads(out_json.read_text())
    # an interpreter is shown by the TensorFlow its worker ran, by its path when it never ran
    assert report["candidates"] == [nightly(2), nightly(3), envs[3]]
    assert report["last_good"]["version"] == nightly(2)
    assert report["first_bad"]["version"] == nightly(3)
    assert report["first_bad"]["git"].startswith("v1.12.1-9-g")
    assert report["compare_url"] == (  # nightlies: the commits after the last "g"
        "https://github.com/tensorflow/tensorflow/compare/"
        f"{report['last_good']['git'][-10:]}...{report['first_bad']['git'][-10:]}")
    verdicts = [(s["version"], s["verdict"]) for s in report["steps"]]
    assert verdicts[0] == (nightly(5), BAD) and (nightly(3), BAD) in verdicts
    assert (nightly(2), GOOD) in verdicts and len(verdicts) <= 3
    assert all(m["latency"]["ratio"] > 1.2 for s in report["steps"] if s["verdict"] == BAD
               for m in s["models"])
    deciding = next(s for s in report["steps"] if s["step"] == report["deciding_step"])
    assert deciding["version"] == nightly(3)
    markdown = out_md.read_text()
    assert f"**Last good: {nightly(2)}" in markdown and "#### The deciding step" in markdown
    assert "| toy | scene 64x48 |" in markdown  # the deciding step's gate table
    # three candidates: the bad end and two halvings share the 5 %, each gate at 98.33 %
    assert report["settings"]["step_confidence"] == pytest.approx(1 - 0.05 / 3)
    assert "Each step's gate ran at 98.33% confidence" in markdown


def test_the_answer_says_what_else_differs_between_last_good_and_first_bad(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every tf-nightly after 2.21 came with keras-nightly 3.16: a change there would be
    blamed on the first nightly unless the answer says Keras changed too."""
    envs = [stand_in_env(project, "2.21.0", 1.0),
            stand_in_env(project, "2.22.0.dev20260204", 1.3, FAKE_KERAS="3.16.0.dev2026102704"),
            stand_in_env(project, "2.23.0.dev20261026", 1.3, FAKE_KERAS="3.16.0.dev2026102704")]
    out_json = project / "b.json"
    assert run_bisect(project, envs[0], envs[2], [envs[1]], "--json", str(out_json)) == 0
    out = capsys.readouterr().out
    report = json.loads(out_json.read_text())
    assert report["first_bad"]["version"] == "2.22.0.dev20260204"
    assert report["also_different"] == [{"field": "keras", "name": "Keras",
                                         "last_good": "3.15.1",
                                         "first_bad": "3.16.0.dev2026102704"}]
    assert "also differ in: Keras 3.15.1 -> 3.16.0.dev2026102704" in out


def test_what_else_differs_reads_as_a_person_would_say_it() -> None:
    from pytest_deeplab.bisect.changes import also_different

    release = {"tensorflow": "2.21.0", "keras": "3.15.1",
               "tflite_runtime": "tf.lite (TensorFlow 2.21.0)", "numpy": "2.4.6"}
    nightly = {"tensorflow": "2.22.0-dev20260204", "keras": "",
               "tflite_runtime": "tf.lite (TensorFlow 2.22.0-dev20260204)", "numpy": "2.4.6"}
    assert also_different("tf-nightly", release, nightly) == [
        {"field": "keras", "name": "Keras", "last_good": "3.15.1",
         "first_bad": "not installed"}]  # TF's own interpreter follows TF: not listed
    litert = {**nightly, "keras": "3.15.1", "tflite_runtime": "ai_edge_litert 2.3.0"}
    assert [d["field"] for d in also_different("tf-nightly", release, litert)] == [
        "tflite_runtime"]


@pytest.mark.parametrize(("good", "bad", "says"), [
    ("tensorflow-cpu==2.21.*", "tf-nightly", "--good 'tensorflow==X'"),
    ("tensorflow==2.21.*", "tf-nightly-cpu", "--good 'tensorflow-cpu==X'"),
    ("tensorflow-cpu==2.16.*", "tensorflow==2.21.*", "built differently"),
    ("tensorflow==2.21.*", "tf-nightly", None),  # the build tf-nightly matches
    ("tensorflow-cpu==2.16.*", "tensorflow-cpu==2.21.*", None),
    ("python", "tf-nightly", None),  # an interpreter: its distribution is not known here
])
def test_ends_of_different_builds_are_flagged(good: str, bad: str, says: str | None) -> None:
    from pytest_deeplab.bisect.changes import distribution_note

    note = distribution_note(good, bad)
    assert (note is None) if says is None else (note is not None and says in note)


def test_the_same_stack_but_tensorflow_adds_nothing(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envs = [stand_in_env(project, v, s) for v, s in (("2.19.0", 1.0), ("2.20.0", 1.3),
                                                     ("2.21.0", 1.3))]
    out_json = project / "b.json"
    assert run_bisect(project, envs[0], envs[2], [envs[1]], "--json", str(out_json)) == 0
    assert json.loads(out_json.read_text())["also_different"] == []
    assert "also differ" not in capsys.readouterr().out


@pytest.mark.parametrize(("distribution", "good", "bad", "url"), [
    ("keras", "3.15.0", "3.15.1", "https://github.com/keras-team/keras/compare/v3.15.0...v3.15.1"),
    ("keras-nightly", "3.16.0.dev2026071004", "3.16.0.dev2026071104",
     "https://github.com/keras-team/keras/commits/master/?since=2026-07-10&until=2026-07-11"),
    ("keras-nightly", "3.16.0.dev2026071104", "3.16.0.dev2026071004",  # good is newer
     "https://github.com/keras-team/keras/commits/master/?since=2026-07-10&until=2026-07-11"),
    ("numpy", "1.26.4", "2.0.0", None),  # no repository known: no link rather than a wrong one
])
def test_the_link_follows_the_distribution_bisected(
    distribution: str, good: str, bad: str, url: str | None
) -> None:
    from pytest_deeplab.bisect.changes import changes_url

    newer = Version(good) > Version(bad)
    assert changes_url(distribution, {"version": good, "git": "v2.21.0"},
                       {"version": bad, "git": "v2.21.0"}, good_is_newer=newer) == url


def test_keras_nightlies_are_ordered_by_their_build_hour() -> None:
    builds = [Version(v) for v in ("3.16.0.dev2026102704", "3.15.0.dev2026062405",
                                   "3.16.0.dev2026062505", "3.16.0.dev2026102604")]
    listed = between(Version("3.15.0.dev2026062405"), Version("3.16.0.dev2026102704"), builds,
                     "keras-nightly", pre=False)
    assert [str(v) for v in listed] == ["3.16.0.dev2026062505", "3.16.0.dev2026102604"]
    assert build_order(Version("2.22.0.dev20260204")) < build_order(
        Version("3.16.0.dev2026020500"))  # a day and a day-and-hour compare as times


def test_a_bad_end_that_is_not_slower_exits_1(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    envs = [stand_in_env(project, v, 1.0) for v in ("2.16", "2.17", "2.18")]
    assert run_bisect(project, envs[0], envs[2], [envs[1]]) == 1
    assert "do not differ" in capsys.readouterr().out


def test_a_good_end_that_fails_on_its_own_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = stand_in_env(project, "2.16", 1.0, FAKE_FAIL_LOAD="1")
    envs = [stand_in_env(project, v, 1.3) for v in ("2.17", "2.18")]
    assert run_bisect(project, good, envs[1], [envs[0]]) == 2
    err = capsys.readouterr().err
    assert "fails on its own" in err and "FancyConv" in err


def test_undecided_builds_beside_the_change_exit_3_with_the_range(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = stand_in_env(project, "2.16", 1.0)
    edge = stand_in_env(project, "2.17", 1.10, FAKE_SEED="1")  # at the threshold: undecidable
    bad = stand_in_env(project, "2.18", 1.3)
    code = run_bisect(project, good, bad, [edge], "--max-seconds", "1",
                      "--json", str(project / "b.json"))
    assert code == 3, capsys.readouterr().err
    report = json.loads((project / "b.json").read_text())
    assert [(s["version"], s["verdict"], s["budget_scale"]) for s in report["steps"]] == [
        ("2.18", BAD, 1.0), ("2.17", INCONCLUSIVE, 1.0), ("2.17", INCONCLUSIVE, 2.0)]
    assert report["skipped"] == ["2.17"]
    assert (report["last_good"]["version"], report["first_bad"]["version"]) == ("2.16", "2.18")


def test_each_step_runs_at_a_share_of_the_answers_error() -> None:
    """One wrong step sends the search the wrong way: the steps share the answer's 5 %."""
    from pytest_deeplab.bisect.search import step_confidence

    assert step_confidence(0.95, 0) == pytest.approx(0.95)  # one step: the bad end alone
    assert step_confidence(0.95, 1) == pytest.approx(1 - 0.05 / 2)
    assert step_confidence(0.95, 163) == pytest.approx(1 - 0.05 / 9)  # 1 + ceil(log2(164))
    assert step_confidence(0.95, 1000) > step_confidence(0.95, 163)  # more steps, stricter
