"""One real two-step bisection: real TensorFlow, the bundled mini model, real gate workers.

The three "builds" are this interpreter (good) and two wrappers of it whose workers load
benchmarks/gate/slow5's sitecustomize, which makes every inference busy-wait to 1.5 times its
own duration (a candidate and the bad end). Step 1 shows the bad end bad, step 2 the candidate:
the answer is first bad = the candidate, last good = this interpreter, exit 0.
"""

from __future__ import annotations

import importlib.util
import json
import os
import stat
import sys
from pathlib import Path

import pytest

from pytest_deeplab.cli.main import main

REPO = Path(__file__).resolve().parent.parent
SLOW5 = REPO / "benchmarks" / "gate" / "slow5"
MANIFEST = REPO / "fixtures" / "minizoo.json"

pytestmark = [
    pytest.mark.needs_tf,
    pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                       reason="TensorFlow is not installed in this environment"),
    pytest.mark.skipif(not MANIFEST.is_file(),
                       reason="the bundled mini-zoo (fixtures/minizoo.json) is not built"),
]


def slower_python(tmp_path: Path, name: str, factor: float) -> str:
    path = tmp_path / name
    pythonpath = os.pathsep.join(p for p in (str(SLOW5), str(REPO),
                                             os.environ.get("PYTHONPATH", "")) if p)
    path.write_text(f"#!/bin/sh\nexport PYTHONPATH='{pythonpath}' DEEPLAB_SLOWDOWN={factor}\n"
                    f'exec "{sys.executable}" "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_a_real_two_step_bisection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    candidate = slower_python(tmp_path, "candidate-python", 1.5)
    bad = slower_python(tmp_path, "bad-python", 1.5)
    out = tmp_path / "bisect.json"
    code = main(["bisect", "--rootdir", str(REPO), "--models", "mini_mnv2_os16",
                 "--threads", "1", "--warmup", "2", "--max-seconds", "30", "--max-images", "2",
                 "--good", sys.executable, "--bad", bad, "--candidates", candidate,
                 "--json", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    report = json.loads(out.read_text())
    assert [(s["spec"], s["verdict"]) for s in report["steps"]] == [(bad, "bad"),
                                                                   (candidate, "bad")]
    assert report["first_bad"]["spec"] == candidate
    assert report["last_good"]["spec"] == sys.executable
    # each step FAILed on a ratio shown above the 1.10 threshold (latency or CPU time: under
    # load the busy-wait's CPU time is the steadier of the two)
    for step in report["steps"]:
        (model,) = step["models"]
        assert model["verdict"] == "FAIL"
        assert max(model["latency"]["low"], model["cpu"]["low"]) > 1.10, model
    assert report["first_bad"]["git"] and report["first_bad"]["git"] == report["last_good"]["git"]
    assert "#### The deciding step (2)" in captured.out
