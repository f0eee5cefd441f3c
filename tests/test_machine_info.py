"""Run identity in saved benchmark runs: TF version, oneDNN, threads, CPU, numpy, Python."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import deeplab_toml

from pytest_deeplab.options import build_options
from pytest_deeplab.session import DeepLabSession
from pytest_deeplab.suite.machine_info import cpu_description, update_machine_info


def unloaded_session(tmp_path: Path, threads: int | None = None,
                     xnnpack: bool = True) -> DeepLabSession:
    """A real session of one user model whose file is never loaded here."""
    graph = tmp_path / "never-loaded.pb"
    graph.write_bytes(b"not a graph: this test never loads it")
    config = tmp_path / "deeplab.toml"
    config.write_text(deeplab_toml(models={"m": {"path": graph, "format": "frozen_graph",
                                                 "label_set": "pascal", "input_size": 65}}))
    options = build_options(tmp_path, "m", config_file=config, threads=threads)
    options.xnnpack = xnnpack  # --deeplab-no-xnnpack when False
    return DeepLabSession(options)


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


def test_a_session_whose_worker_loaded_a_model_gives_that_identity(tmp_path: Path) -> None:
    identity = {"tensorflow": "2.99.0", "tensorflow_git": "v2.99.0-0-gabc", "onednn": False,
                "onednn_source": "TF_ENABLE_ONEDNN_OPTS", "intra_op_threads": 1,
                "inter_op_threads": 1, "tflite_runtime": "tf.lite (TensorFlow 2.99.0)",
                "tflite_xnnpack": True, "keras": "3.99.0", "plugin_version": "x"}
    session = unloaded_session(tmp_path, threads=1)
    session.merge_worker({"identity": identity, "loads": {"m": 1}})  # an xdist worker ran it
    info: dict[str, object] = {}
    update_machine_info(info, session)
    block = info["deeplab"]
    assert isinstance(block, dict)
    recorded = dict(block["tensorflow"])
    assert recorded.pop("distribution") in ("tensorflow", "tensorflow-cpu", "tensorflow-intel",
                                            "tensorflow-macos", None)
    assert recorded == {k: v for k, v in identity.items() if k != "plugin_version"}
    assert info["tensorflow"] == "2.99.0"
    assert block["threads"]["intra_op"] == 1
    assert block["models_loaded"] == []  # loaded by the worker, not in this process


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


SPEED = """
import os

def test_speed(benchmark):
    if os.environ.get("IMPORT_TF"):
        import tensorflow  # the project's own test imports TensorFlow before the record is made
    benchmark(sum, range(10))
"""


def saved_block(pytester: pytest.Pytester, name: str, *args: str) -> dict[str, object]:
    out = pytester.path / f"{name}.json"
    result = pytester.runpytest_subprocess(
        f"--benchmark-json={out}", "-p", "no:cacheprovider", "-k", "test_speed",
        "--benchmark-max-time=0.05", "--benchmark-min-rounds=1", *args)
    result.assert_outcomes(passed=1, deselected=result.parseoutcomes().get("deselected", 0))
    info: dict[str, object] = json.loads(out.read_text())["machine_info"]
    return info


def test_saved_runs_carry_the_identity_of_the_selections_tensorflow(
        pytester: pytest.Pytester, installed_tf: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With models selected, the block describes the TensorFlow that runs them, asked directly,
    and is the same whether or not the project's own tests imported TensorFlow first."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID",
                 "CI"):
        monkeypatch.delenv(name, raising=False)  # under -n 2 the inner run is no worker
    pytester.makepyfile(test_speed=SPEED)
    cache = f"--deeplab-cache-dir={pytester.path.parent / 'cache'}"
    plain = saved_block(pytester, "plain", "--deeplab-models=mini_mnv2_os16", cache)
    monkeypatch.setenv("IMPORT_TF", "1")
    imported_first = saved_block(pytester, "imported", "--deeplab-models=mini_mnv2_os16", cache)
    assert plain["deeplab"] == imported_first["deeplab"]
    assert plain["tensorflow"] == imported_first["tensorflow"] == installed_tf
    block = plain["deeplab"]
    assert isinstance(block, dict)
    assert block["tensorflow"]["tensorflow"] == installed_tf
    assert block["tensorflow"]["tensorflow_git"]  # only an imported TensorFlow says its build
    assert block["tensorflow"]["tflite_runtime"]
    assert "simd_flags" in block["cpu"] and block["numpy"] == np.__version__


def test_without_an_importable_tensorflow_the_block_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_deeplab.runtime import identity
    from pytest_deeplab.runtime.base import ModelLoadError

    def not_importable(*args: object, **kwargs: object) -> None:
        raise ModelLoadError("TensorFlow is not importable (No module named 'tensorflow')")

    monkeypatch.setattr(identity, "runtime_identity", not_importable)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "1")
    session = unloaded_session(tmp_path, threads=2, xnnpack=False)
    info: dict[str, object] = {}
    update_machine_info(info, session)
    block = info["deeplab"]
    assert isinstance(block, dict)
    recorded = block["tensorflow"]
    assert recorded["tensorflow_git"] is None and recorded["tflite_runtime"] is None
    assert recorded["onednn"] is True and recorded["onednn_source"] == "TF_ENABLE_ONEDNN_OPTS"
    assert (recorded["intra_op_threads"], recorded["inter_op_threads"]) == (2, 1)
    assert recorded["tflite_xnnpack"] is False
    assert block["models_loaded"] == []
