"""The gate end to end through `pytest-deeplab gate`, with stand-in workers (no TensorFlow).

The stand-in "interpreter" is a script that speaks the worker protocol and answers with
synthetic timings and masks set by environment variables (passed with --env-a / --env-b), so
verdicts and exit codes can be checked in well under a second each.
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

from pytest_deeplab.cli import main
from pytest_deeplab.gate import ModelOutcome, judge
from pytest_deeplab.gate_stats import RatioEstimate
from pytest_deeplab.gate_worker import PROTOCOL

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
        reply(protocol=int(env.get("FAKE_PROTOCOL", {PROTOCOL})), plugin_version="fake",
              python="3.x", numpy=np.__version__, pid=os.getpid())
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
        reply(masks=[{{"id": "scene", "png": base64.b64encode(buf.getvalue()).decode()}}])
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
                 "--models", "toy", "--rounds", "40", "--warmup", "1", *extra])


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
    assert len(model["a"]["wall"]) == len(model["b"]["wall"]) == 40
    assert model["agreement"] == {"scene": 1.0}
    assert report["sides"]["B"]["env"] == {"FAKE_SEED": "1"}
    assert (project / "g.md").read_text().startswith("### pytest-deeplab gate")


def test_a_slower_candidate_fails(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(project, "--env-b", "FAKE_SCALE=1.3") == 1
    out = capsys.readouterr().out
    assert "FAIL: 1 of 1 models" in out
    assert "latency B/A 1.3" in out


def test_slower_within_threshold_passes(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(project, "--env-b", "FAKE_SCALE=1.05") == 0
    assert "pass (slower, within threshold)" in capsys.readouterr().out


def test_cpu_time_is_gated_unless_told_not_to(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gate(project, "--env-b", "FAKE_CPU_SCALE=1.5") == 1
    assert "CPU time B/A 1.5" in capsys.readouterr().out
    assert gate(project, "--env-b", "FAKE_CPU_SCALE=1.5", "--no-cpu-gate") == 0


def test_masks_that_differ_fail(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gate(project, "--env-b", "FAKE_FLIP=0.05") == 1
    out = capsys.readouterr().out
    assert "masks agree 95.0195% < min_agreement 99.0000% on scene" in out


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


def _outcome(ratio: tuple[float, float, float], agreement: float = 1.0) -> ModelOutcome:
    outcome = ModelOutcome("m", min_agreement=0.999)
    outcome.ratio = RatioEstimate(*ratio, 0.95, 100, "test")
    outcome.cpu_ratio = RatioEstimate(1.0, 0.99, 1.01, 0.95, 100, "test")
    outcome.agreement = {"img": agreement}
    return outcome


@pytest.mark.parametrize(
    ("ratio", "agreement", "failed", "verdict"),
    [
        ((1.0, 0.98, 1.02), 1.0, False, "pass (no significant change)"),
        ((1.12, 1.08, 1.16), 1.0, False, "pass (slower, within threshold)"),
        ((1.20, 1.15, 1.25), 1.0, True, "FAIL"),
        ((0.80, 0.78, 0.82), 1.0, False, "pass (faster)"),
        ((1.0, 0.98, 1.02), 0.99, True, "FAIL"),
    ],
)
def test_judge(
    ratio: tuple[float, float, float], agreement: float, failed: bool, verdict: str
) -> None:
    outcome = _outcome(ratio, agreement)
    judge(outcome, threshold=1.10, cpu_threshold=None)
    assert (outcome.failed, outcome.verdict) == (failed, verdict)


def test_no_images_to_compare_fails_closed() -> None:
    outcome = _outcome((1.0, 0.98, 1.02))
    outcome.agreement = {}
    judge(outcome, threshold=1.10, cpu_threshold=None)
    assert outcome.failed
    assert outcome.reasons == ["no images to compare masks on"]
