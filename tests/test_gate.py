"""The gate end to end through `pytest-deeplab gate`, with stand-in workers (no TensorFlow).

The stand-in "interpreter" is a script that speaks the worker protocol and answers with
synthetic timings and masks set by environment variables (passed with --env-a / --env-b), so
verdicts and exit codes can be checked in about a second each.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_deeplab.cli.main import main
from pytest_deeplab.gate.controller import (
    GateError,
    GateSettings,
    ModelOutcome,
    Side,
    decide,
    run_gate,
)
from pytest_deeplab.gate.sequential import Bounds
from pytest_deeplab.gate.verdict import judge
from pytest_deeplab.gate.worker import PROTOCOL

FAKE_WORKER = f"""#!{sys.executable}
import base64, io, json, os, sys
import numpy as np
from PIL import Image

env = os.environ
if env.get("FAKE_CRASH"):
    print("Traceback: the fake worker crashed on purpose", file=sys.stderr)
    sys.exit(3)
rng = np.random.default_rng(int(env.get("FAKE_SEED", "0")))
scale = float(env.get("FAKE_SCALE", "1"))
cpu_scale = float(env.get("FAKE_CPU_SCALE", scale))

def reply(**kw):
    sys.stdout.write(json.dumps({{"ok": True, **kw}}) + "\\n")
    sys.stdout.flush()

for line in sys.stdin:
    req = json.loads(line)
    cmd = req["cmd"]
    if cmd == "hello":
        dists = json.loads(env.get("FAKE_DISTS", "{{}}"))
        reply(protocol=int(env.get("FAKE_PROTOCOL", {PROTOCOL})), plugin_version="fake",
              python="3.x", numpy=np.__version__, pid=os.getpid(),
              distributions={{n: dists.get(n) for n in req.get("distributions", [])}})
    elif cmd == "setup":
        reply(models=req["models"])
    elif cmd == "identity":
        reply(identity={{"tensorflow": env.get("FAKE_TF", "9.9.9"), "tensorflow_git": "fake",
                        "onednn": True, "onednn_source": "default", "intra_op_threads": 2,
                        "inter_op_threads": 1, "tflite_runtime": "tf.lite"}})
    elif cmd == "load":
        if env.get("FAKE_FAIL_LOAD"):
            sys.stdout.write(json.dumps({{"ok": False, "error": "op FancyConv is not registered",
                                         "kind": "ModelLoadError"}}) + "\\n")
            sys.stdout.flush()
            continue
        reply(load_s=0.1, first_call_s=0.3 * scale, first_call_cpu_s=0.5, image="scene",
              image_size=[64, 48], describe={{}})
    elif cmd == "infer":
        n = int(req.get("n", 1))
        noise = np.exp(rng.normal(0, 0.03, n))
        reply(wall=list(0.01 * scale * noise), cpu=list(0.02 * cpu_scale * noise))
    elif cmd == "masks":
        mask = np.zeros((48, 64), np.uint8)
        flip = float(env.get("FAKE_FLIP", "0"))
        mask.flat[: int(flip * mask.size)] = 1
        buf = io.BytesIO()
        Image.fromarray(mask).save(buf, format="PNG")
        image_id = env.get("FAKE_MASK_ID", "scene")
        reply(masks=[{{"id": image_id, "png": base64.b64encode(buf.getvalue()).decode()}}])
    elif cmd == "unload":
        reply()
    elif cmd == "quit":
        reply()
        break
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project declaring one user model (the stand-in workers never open its file)."""
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(np.zeros((48, 64, 3), np.uint8)).save(images / "scene.png")
    (tmp_path / "model.pb").write_bytes(b"not read by the stand-in workers")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.pytest-deeplab.models.toy]\npath = "model.pb"\n'
        'golden_images = "images"\nmin_agreement = 0.99\n'
    )
    fake = tmp_path / "fake-python"
    fake.write_text(FAKE_WORKER)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return tmp_path


def gate(project: Path, *extra: str) -> int:
    fake = str(project / "fake-python")
    return main(["gate", "--rootdir", str(project), "--baseline", fake, "--candidate", fake,
                 "--models", "toy", "--warmup", "1", "--max-seconds", "5", *extra])


def test_same_environment_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = gate(project, "--env-b", "FAKE_SEED=1", "--settle", "0.0005",
                "--json", str(project / "g.json"),
                "--markdown", str(project / "g.md"))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS: 1 models" in out
    assert "| toy | scene 64x48 |" in out
    report = json.loads((project / "g.json").read_text())
    model = report["models"][0]
    assert model["ratio"]["low"] <= 1.0 <= model["ratio"]["high"]
    assert model["stopped"] == "decided"  # well before the 5 s budget
    # the verdict's rounds are the rounds shown and the rounds measured
    assert model["calls_per_round"] == 1
    assert model["rounds"] == model["ratio"]["pairs"] == len(model["a"]["wall"]) \
        == len(model["b"]["wall"]) == len(model["round_log_ratios"]["latency"])
    assert 1.0 < model["min_detectable"] < 1.2
    assert model["agreement"] == {"scene": 1.0}
    assert report["sides"]["B"]["env"] == {"FAKE_SEED": "1"}
    assert report["exit_code"] == 0 and report["hypotheses"] == 2
    assert (project / "g.md").read_text().startswith("### pytest-deeplab gate")


def test_a_slower_candidate_fails(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(project, "--env-b", "FAKE_SCALE=1.3") == 1
    out = capsys.readouterr().out
    assert "FAIL: 1 of 1 models" in out
    assert "latency B/A 1.3" in out
    assert "Holm" in out


def test_slower_within_threshold_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(project, "--env-b", "FAKE_SCALE=1.05") == 0
    assert "pass (slower, within threshold)" in capsys.readouterr().out


def test_a_candidate_at_the_threshold_is_inconclusive(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """B/A exactly 1.10 against --threshold 1.10 cannot be decided: exit 3, never a pass."""
    code = gate(project, "--env-b", "FAKE_SCALE=1.10", "--env-b", "FAKE_SEED=1",
                "--max-seconds", "1",
                "--json", str(project / "g.json"))
    out = capsys.readouterr().out
    assert code == 3, out
    assert "INCONCLUSIVE: 1 of 1 models (exit 3)" in out
    assert "still straddles 1.10" in out
    model = json.loads((project / "g.json").read_text())["models"][0]
    assert model["stopped"] == "budget" and model["inconclusive"] and not model["failed"]
    assert model["ratio"]["low"] <= 1.10 <= model["ratio"]["high"]


def test_fixed_rounds_are_exactly_that_many(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rounds of 4 calls per side: 12 rounds are 48 calls on each side, pairs alternating."""
    assert gate(project, "--rounds", "12", "--calls-per-round", "4",
                "--json", str(project / "g.json")) in (0, 3)
    model = json.loads((project / "g.json").read_text())["models"][0]
    assert model["rounds"] == len(model["a"]["wall"]) // 4 == 12 and model["stopped"] == "rounds"
    assert len(model["a"]["wall"]) == len(model["b"]["wall"]) == 48
    a, b = model["a"]["wall"], model["b"]["wall"]  # each round compares its fastest calls
    assert model["round_log_ratios"]["latency"][0] == pytest.approx(
        np.log(min(b[:4]) / min(a[:4])))


def test_cpu_time_is_gated_unless_told_not_to(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(project, "--env-b", "FAKE_CPU_SCALE=1.5") == 1
    assert "CPU time B/A 1.5" in capsys.readouterr().out
    assert gate(project, "--env-b", "FAKE_CPU_SCALE=1.5", "--no-cpu-gate") == 0


def test_masks_that_differ_fail(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(project, "--env-b", "FAKE_FLIP=0.05") == 1
    out = capsys.readouterr().out
    assert "masks agree 95.0195% < min_agreement 99.0000% on 1 of 1 images (scene)" in out


def test_an_image_one_side_did_not_return_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(project, "--env-b", "FAKE_MASK_ID=elsewhere") == 1
    out = capsys.readouterr().out
    assert "ERROR" in out
    assert "[B] returned no mask for scene (A did)" in out


def test_a_side_running_another_tensorflow_is_an_error(project: Path) -> None:
    """A spec resolved tensorflow-cpu 2.15.1, but the worker imports TensorFlow 9.9.9."""
    fake = str(project / "fake-python")
    baseline = Side("A", fake)
    candidate = Side("B", fake, {"FAKE_DISTS": '{"tensorflow-cpu": "2.15.1"}'},
                     asked="tensorflow-cpu==2.15.*", expected={"tensorflow-cpu": "2.15.1"},
                     expected_tensorflow=("tensorflow-cpu", "2.15.1"))
    settings = GateSettings(baseline, candidate, models="toy", rootdir=project, rounds=4)
    with pytest.raises(GateError, match=r"\[B\] 'tensorflow-cpu==2.15.\*' resolved "
                       r"tensorflow-cpu 2.15.1, but the worker imports TensorFlow 9.9.9"):
        run_gate(settings, log=lambda message: None)


def test_a_side_missing_a_resolved_distribution_is_an_error(project: Path) -> None:
    fake = str(project / "fake-python")
    candidate = Side("B", fake, {"FAKE_DISTS": '{"numpy": "2.4.6"}'}, asked="numpy<2",
                     expected={"numpy": "1.26.4"})
    settings = GateSettings(Side("A", fake), candidate, models="toy", rootdir=project)
    with pytest.raises(GateError, match=r"resolved numpy 1\.26\.4, but the worker .* has numpy "
                       r"2\.4\.6"):
        run_gate(settings, log=lambda message: None)


def test_a_model_that_does_not_load_fails(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(project, "--env-b", "FAKE_FAIL_LOAD=1") == 1
    out = capsys.readouterr().out
    assert "ERROR" in out
    assert "[B] ModelLoadError: op FancyConv is not registered" in out


def test_a_worker_that_dies_is_an_error_with_its_stderr(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(project, "--env-b", "FAKE_CRASH=1") == 2
    err = capsys.readouterr().err
    assert "[B] worker" in err and "exited (code 3)" in err
    assert "crashed on purpose" in err


def test_protocol_mismatch_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(project, "--env-a", "FAKE_PROTOCOL=999") == 2
    assert "install the same pytest-deeplab in both" in capsys.readouterr().err


def test_missing_interpreter_is_an_error(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["gate", "--rootdir", str(project), "--baseline", "/nonexistent/python",
                 "--candidate", sys.executable, "--models", "toy"])
    assert code == 2
    assert "/nonexistent/python" in capsys.readouterr().err


def test_nothing_selected_is_an_error(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(project, "--models", "user", "--config", os.devnull) == 2
    assert gate(project, "--models", "toyy") == 2
    assert "Did you mean toy" in capsys.readouterr().err


def test_bad_env_argument_is_a_usage_error(project: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        gate(project, "--env-b", "NOEQUALS")
    assert exc.value.code == 2


def _settings(cpu: bool = False) -> GateSettings:
    side = Side("A", sys.executable)
    return GateSettings(side, side, models="toy", rootdir=Path("."),
                        threshold=1.10, cpu_threshold=1.10 if cpu else None)


def _outcome(ratio: tuple[float, float, float], agreement: float = 1.0, cleared: bool = True,
             p_fail: float = 1.0, name: str = "m") -> ModelOutcome:
    outcome = ModelOutcome(name, min_agreement=0.999)
    outcome.ratio = Bounds(*ratio, 100, 0.05)
    outcome.cpu_ratio = Bounds(1.0, 0.99, 1.01, 100, 0.05)
    outcome.agreement = {"img": agreement}
    outcome.cleared = {"latency": cleared}
    outcome.p_fail = {"latency": p_fail}
    return outcome


@pytest.mark.parametrize(
    ("ratio", "agreement", "above", "cleared", "verdict"),
    [
        ((1.0, 0.98, 1.02), 1.0, False, True, "pass (no significant change)"),
        ((1.05, 1.02, 1.08), 1.0, False, True, "pass (slower, within threshold)"),
        ((1.20, 1.15, 1.25), 1.0, True, False, "FAIL"),
        ((0.80, 0.78, 0.82), 1.0, False, True, "pass (faster)"),
        ((1.0, 0.98, 1.02), 0.99, False, True, "FAIL"),
        ((1.09, 1.02, 1.16), 1.0, False, False, "INCONCLUSIVE"),
    ],
)
def test_judge(ratio: tuple[float, float, float], agreement: float, above: bool,
               cleared: bool, verdict: str) -> None:
    outcome = _outcome(ratio, agreement, cleared)
    judge(outcome, _settings(), {"latency"} if above else set())
    assert outcome.verdict == verdict
    assert outcome.failed == (verdict == "FAIL")
    assert outcome.inconclusive == (verdict == "INCONCLUSIVE")


def test_a_mask_change_on_many_images_names_five_and_counts_the_rest() -> None:
    outcome = _outcome((1.0, 0.98, 1.02))
    outcome.agreement = {f"scene_{i:02d}": 0.8 for i in range(30)} | {"same": 1.0}
    judge(outcome, _settings(), set())
    assert outcome.failed
    assert outcome.reasons[0] == (
        "masks agree 80.0000% < min_agreement 99.9000% on 30 of 31 images "
        "(scene_00, scene_01, scene_02, scene_03, scene_04 and 25 more)")


def test_a_ratio_that_left_its_bounds_is_said_to_have_moved() -> None:
    outcome = _outcome((1.249, 1.021, 1.039), p_fail=0.007, cleared=False)
    judge(outcome, _settings(), {"latency"})
    assert outcome.verdict == "FAIL"
    assert outcome.reasons[-1].startswith(
        "latency B/A moved during the run: the median of all 100 rounds, 1.249, lies outside "
        "the bounds reached earlier, [1.021, 1.039]")
    steady = _outcome((1.03, 1.021, 1.039), p_fail=0.007, cleared=False)
    judge(steady, _settings(), {"latency"})
    assert not any("moved" in r for r in steady.reasons)


def test_no_images_to_compare_fails_closed() -> None:
    outcome = _outcome((1.0, 0.98, 1.02))
    outcome.agreement = {}
    judge(outcome, _settings(), set())
    assert outcome.failed
    assert outcome.reasons == ["no images to compare masks on"]


@pytest.mark.parametrize(("p_values", "verdicts"), [
    ((0.02, 0.03), ("FAIL", "FAIL")),  # Holm: 0.02 <= 0.05/2, then 0.03 <= 0.05/1
    ((0.03, 0.04), ("INCONCLUSIVE", "INCONCLUSIVE")),  # 0.03 > 0.05/2: nothing is shown
    ((0.001, 0.5), ("FAIL", "INCONCLUSIVE")),
])
def test_decide_applies_holm_across_models(p_values: tuple[float, float],
                                           verdicts: tuple[str, str]) -> None:
    outcomes = [_outcome((1.12, 1.05, 1.2), cleared=False, p_fail=p, name=f"m{i}")
                for i, p in enumerate(p_values)]
    decide(outcomes, _settings())
    assert tuple(o.verdict for o in outcomes) == verdicts


def test_a_fail_holm_reached_at_a_wider_level_shows_bounds_that_clear_the_threshold() -> None:
    """Seen in a nightly bisection: 'latency B/A 1.074 [1.016, 1.123] lies above 1.02'. Sampling
    stops at alpha/m; Holm may reject later at alpha/(m - k), and the bounds shown must be the
    ones at that level, from the same rounds."""
    from pytest_deeplab.gate.sequential import RunningBounds, SequentialTest

    rng = np.random.default_rng(7)
    alpha_each = 0.05 / 2

    def measured(name: str, rounds: np.ndarray) -> ModelOutcome:
        test, shown = SequentialTest(1.10, alpha_each), RunningBounds(alpha_each)
        for d in rounds:
            test.add(float(d))
            shown.add(float(d))
        outcome = ModelOutcome(name, min_agreement=0.999)
        outcome.agreement = {"img": 1.0}
        outcome.ratio, outcome.cpu_ratio = shown.bounds(), None
        outcome.round_log_ratios = {"latency": [float(d) for d in rounds]}
        outcome.p_fail, outcome.cleared = {"latency": test.p_fail}, {"latency": test.cleared}
        return outcome

    clear_fail = measured("much", np.log(1.3) + rng.normal(0, 0.02, 60))
    for _ in range(200):  # rounds whose p lies between alpha/2 and alpha
        rounds = np.log(1.10) + np.where(rng.random(40) < 0.72, 0.02, -0.02)
        narrow = measured("some", rounds)
        if 0.025 < narrow.p_fail["latency"] <= 0.05:
            break
    assert narrow.ratio is not None and narrow.ratio.low <= 1.10  # straddles at alpha/2
    decide([clear_fail, narrow], _settings())
    assert narrow.verdict == "FAIL"
    assert narrow.ratio.low > 1.10 and narrow.ratio.alpha == pytest.approx(0.05)
    assert "the level Holm rejected it at" in narrow.reasons[0]
    assert "the level Holm" not in clear_fail.reasons[0]  # rejected at alpha/2: as sampled


def test_the_closing_advice_is_given_once_and_judging_again_repeats_nothing() -> None:
    """Issue 20: the Markdown's closing lines came twice (once per undecided metric, and again
    whenever an outcome was judged a second time)."""
    from pytest_deeplab.gate.controller import GateReport
    from pytest_deeplab.gate.render import render

    settings = _settings(cpu=True)
    outcome = _outcome((1.09, 1.02, 1.16), cleared=False)
    outcome.cleared["cpu"], outcome.p_fail["cpu"] = False, 1.0
    judge(outcome, settings, set())
    judge(outcome, settings, set())
    assert outcome.inconclusive and not outcome.failed and len(outcome.reasons) == 1
    assert "latency B/A" in outcome.reasons[0] and "CPU time B/A" in outcome.reasons[0]
    judge(outcome, settings, {"latency"})  # judged again with other evidence: a FAIL only
    assert outcome.failed and not outcome.inconclusive
    text = render(GateReport(settings, {}, [outcome], 1.0, 2))
    assert text.count("Rounds alternate") == 1
    assert text.count("- m: ") == 1 and "rerun with a larger" not in text
    assert "threshold.\n\n- m: latency B/A" in text  # a list of its own after the paragraph


def test_the_bounds_shown_agree_with_a_pass_decided_early(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Latency is cleared within a few rounds, CPU time (8 % slower, threshold 1.10) takes
    longer: the latency bounds shown are those that decided, below the threshold, with the
    round that decided them, not the last round's alone."""
    code = gate(project, "--env-b", "FAKE_CPU_SCALE=1.08", "--env-b", "FAKE_SEED=3",
                "--max-seconds", "10", "--json", str(project / "g.json"))
    out = capsys.readouterr().out
    assert code == 0, out
    model = json.loads((project / "g.json").read_text())["models"][0]
    decided = model["decided_round"]
    assert decided["latency"] < decided["cpu"] <= model["rounds"]
    assert model["ratio"]["high"] < 1.10 and model["cpu_ratio"]["high"] < 1.10
    assert f"r{decided['latency']} |" in out and "intersected over the rounds" in out


def test_an_inconclusive_row_says_how_long_a_decision_would_take() -> None:
    outcome = _outcome((1.09, 1.02, 1.16), cleared=False)
    outcome.a.wall = outcome.b.wall = [0.1] * 40
    outcome.sampling_seconds, outcome.load_average = 8.0, 0.5
    rng = np.random.default_rng(0)  # 24 of 40 rounds above log(1.10): a 60 % split
    outcome.round_log_ratios = {"latency": list(np.log(1.10) + np.where(
        rng.permutation(40) < 24, 0.05, -0.05))}
    judge(outcome, _settings(), set())
    (reason,) = outcome.reasons
    from pytest_deeplab.gate.sequential import rounds_to_decide

    need = rounds_to_decide(0.6, 0.05)
    assert f"load average 0.5; at the split seen, about {need} rounds (~{need * 0.2:.0f} s)" \
        in reason
    outcome.load_average = 2.0 * (os.cpu_count() or 1)
    judge(outcome, _settings(), set())
    assert "--threads 1 pairs far better" in outcome.reasons[0]
