"""The worker protocol with a real worker subprocess (this interpreter, real TensorFlow).

It runs on the smallest bundled model when the mini-zoo is built, else on the real dm05 graph
through ci/real-zoo.toml, and is skipped (with the reason) when neither is on this machine.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pytest_deeplab.gate.controller import (
    GateSettings,
    Side,
    WorkerCommandError,
    WorkerProcess,
    render,
    run_gate,
)
from pytest_deeplab.gate.worker import PROTOCOL, decode_mask

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "fixtures" / "minizoo.json"
REAL_CONFIG = REPO / "ci" / "real-zoo.toml"
REAL_DM05 = (REPO.parent / "shared" / "real-zoo" / "models"
             / "mnv2_dm05_pascal_reexport_frozen_inference_graph.pb")


def _target() -> tuple[str, Path | None] | None:
    if MANIFEST.is_file() and "mini_mnv2_os16" in MANIFEST.read_text():
        return "mini_mnv2_os16", None
    if REAL_DM05.is_file():
        return "real-mnv2-dm05", REAL_CONFIG
    return None


TARGET = _target()
pytestmark = [
    pytest.mark.needs_tf,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                       reason="TensorFlow is not installed in this environment"),
    pytest.mark.skipif(TARGET is None, reason="neither the bundled mini-zoo "
                       "(fixtures/minizoo.json) nor ../shared/real-zoo is on this machine"),
]


@pytest.fixture(scope="module")
def worker() -> Iterator[WorkerProcess]:
    assert TARGET is not None
    process = WorkerProcess(Side("A", sys.executable, threads=1), REPO)
    yield process
    process.close()


def setup_message() -> dict[str, object]:
    assert TARGET is not None
    name, config = TARGET
    options = {"rootdir": str(REPO), "config_file": str(config) if config else None,
               "threads": 1}
    return {"options": options, "models": [name]}


def test_protocol_round_trip(worker: WorkerProcess) -> None:
    assert TARGET is not None
    name = TARGET[0]
    hello = worker.call("hello")
    assert hello["protocol"] == PROTOCOL
    assert hello["executable"] == sys.executable
    assert worker.call("setup", **setup_message())["models"] == [name]
    identity = worker.call("identity", timeout=300)["identity"]
    assert identity["intra_op_threads"] == 1 and identity["inter_op_threads"] == 1
    assert identity["tensorflow"].startswith("2.")

    loaded = worker.call("load", timeout=300, model=name)
    assert loaded["first_call_s"] > 0 and loaded["load_s"] > 0
    width, height = loaded["image_size"]
    assert max(width, height) > 0

    timed = worker.call("infer", model=name, n=3)
    assert len(timed["wall"]) == len(timed["cpu"]) == 3
    assert all(t > 0 for t in timed["wall"])

    masks = worker.call("masks", timeout=300, model=name, limit=2)["masks"]
    assert 1 <= len(masks) <= 2
    mask = decode_mask(masks[0]["png"])
    assert mask.dtype == np.uint8 and mask.ndim == 2


def test_errors_come_back_as_replies(worker: WorkerProcess) -> None:
    with pytest.raises(WorkerCommandError, match="was not selected"):
        worker.call("load", model="no-such-model")
    with pytest.raises(WorkerCommandError, match="unknown command"):
        worker.call("dance")
    assert worker.call("hello")["protocol"] == PROTOCOL  # still serving


def test_stray_output_does_not_corrupt_the_protocol() -> None:
    """fd 1 is pointed at stderr inside the worker: prints from libraries land there."""
    code = ("import atexit, os; atexit.register(lambda: print('noise from a library')); "
            "from pytest_deeplab.gate.worker import main; main(); os.write(1, b'C noise\\n')")
    done = subprocess.run(
        [sys.executable, "-c", code], input='{"cmd": "hello"}\n\n{"cmd": "quit"}\n',
        capture_output=True, text=True, timeout=60, check=True,
    )
    lines = done.stdout.splitlines()
    assert [json.loads(line)["ok"] for line in lines] == [True, True]
    assert "noise from a library" in done.stderr and "C noise" in done.stderr


def test_a_real_same_environment_gate_passes(tmp_path: Path) -> None:
    assert TARGET is not None
    name, config = TARGET
    settings = GateSettings(
        baseline=Side("A", sys.executable, threads=1),
        candidate=Side("B", sys.executable, threads=1),
        models=name, rootdir=REPO, config_file=config, rounds=12, warmup=2, max_images=1,
    )
    report = run_gate(settings, log=lambda message: None)
    (outcome,) = report.models
    assert outcome.error is None
    assert outcome.agreement and min(outcome.agreement.values()) == 1.0
    assert len(outcome.a.wall) == len(outcome.b.wall) == 12
    assert outcome.ratio is not None and outcome.ratio.low < outcome.ratio.high
    text = render(report)
    assert name in text
    json.dumps(report.as_dict(), default=str)
