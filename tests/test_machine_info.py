"""Run identity in saved benchmark runs: TF version, oneDNN, threads, CPU, numpy, Python."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from pytest_deeplab.suite.machine_info import cpu_description, update_machine_info


@pytest.fixture(scope="module")
def installed_tf() -> str:
    """TensorFlow's own word for its version (a separate process imports it)."""
    done = subprocess.run([sys.executable, "-c", "import tensorflow as tf; print(tf.__version__)"],
                          capture_output=True, text=True, timeout=300, check=True)
    return done.stdout.strip().splitlines()[-1]

CPUINFO = """processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) CPU @ 2.20GHz
flags		: fpu sse4_1 sse4_2 avx avx2 fma avx512f avx512_vnni amx_tile ht

processor	: 1
model name	: Other CPU
flags		: fpu
"""


def test_no_tensorflow_import_just_for_the_record(installed_tf: str) -> None:
    code = textwrap.dedent("""
        import json, sys
        from pytest_deeplab.suite.machine_info import update_machine_info
        info = {}
        update_machine_info(info, None, 2)
        print(json.dumps({"info": info, "tf_imported": "tensorflow" in sys.modules}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, check=True)
    result = json.loads(done.stdout)
    assert result["tf_imported"] is False
    block = result["info"]["deeplab"]
    assert block["tensorflow"]["tensorflow"] == installed_tf
    assert block["tensorflow"]["imported"] is False
    if "TF_ENABLE_ONEDNN_OPTS" not in os.environ:  # only an imported TensorFlow can say
        assert block["tensorflow"]["onednn"] is None
        assert block["tensorflow"]["onednn_source"].startswith("default (unknown")
    assert block["threads"]["intra_op"] == 2 and block["threads"]["inter_op"] == 1
    assert block["numpy"] == np.__version__
    assert block["python"] == ".".join(map(str, sys.version_info[:3]))
    assert result["info"]["tensorflow"] == installed_tf


def test_a_session_that_loaded_a_model_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    identity = {"tensorflow": "2.99.0", "tensorflow_git": "v2.99.0-0-gabc",
                "tflite_runtime": "tf.lite"}
    session = SimpleNamespace(
        any_model_loaded=True, options=SimpleNamespace(threads=1), loaded_models=lambda: ["m"],
        run_identity=lambda: identity,  # this process's TF, or an xdist worker's
    )
    info: dict[str, object] = {}
    update_machine_info(info, session)
    block = info["deeplab"]
    assert isinstance(block, dict)
    assert block["tensorflow"]["tensorflow"] == "2.99.0"
    assert block["tensorflow"]["tensorflow_git"] == "v2.99.0-0-gabc"
    assert block["tensorflow"]["onednn"] is False
    assert block["tensorflow"]["onednn_source"] == "TF_ENABLE_ONEDNN_OPTS"
    assert block["threads"]["intra_op"] == 1
    assert block["models_loaded"] == ["m"]


def test_cpu_from_proc_cpuinfo(tmp_path: Path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    cpu = cpu_description({}, path)
    assert cpu["model"] == "Intel(R) Xeon(R) CPU @ 2.20GHz"
    assert cpu["simd_flags"] == ["amx_tile", "avx", "avx2", "avx512_vnni", "avx512f", "fma",
                                 "sse4_1", "sse4_2"]


def test_cpu_from_py_cpuinfo_when_pytest_benchmark_has_it(tmp_path: Path) -> None:
    info = {"cpu": {"brand_raw": "AMD EPYC 7B13", "flags": ["avx2", "fma", "sse2"]}}
    cpu = cpu_description(info, tmp_path / "absent")
    assert cpu["model"] == "AMD EPYC 7B13" and cpu["simd_flags"] == ["avx2", "fma"]


def test_saved_runs_carry_the_identity(pytester: pytest.Pytester, installed_tf: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        monkeypatch.delenv(name, raising=False)  # under -n 2 the inner run is no worker
    pytester.makepyfile("def test_speed(benchmark):\n    benchmark(lambda: None)\n")
    out = pytester.path / "out.json"
    result = pytester.runpytest_subprocess(f"--benchmark-json={out}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    saved = json.loads(out.read_text())
    block = saved["machine_info"]["deeplab"]
    assert block["tensorflow"]["tensorflow"] == installed_tf
    assert block["tensorflow"]["imported"] is False  # nothing was loaded: TF stayed out
    assert "simd_flags" in block["cpu"] and block["numpy"] == np.__version__
