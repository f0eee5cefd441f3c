"""Run identity for saved benchmark runs (`pytest_benchmark_update_machine_info`).

pytest-benchmark's machine_info says which computer and Python ran a benchmark, not which
TensorFlow: two runs under TF 2.15 and 2.21 on one machine look alike. This adds a `deeplab`
block — TensorFlow version and git build, the oneDNN flag and where it came from, thread
settings, CPU model and the SIMD flags oneDNN dispatches on, numpy and Python — and a top-level
`tensorflow` version so pytest-benchmark's own comparison warns when versions differ.

Written only when models are selected (plugin.py), and then it describes the TensorFlow that
runs the selection, asked directly: whoever loaded a model (this process or an xdist worker)
answers, else this process imports TensorFlow to answer. Never what the process happens to have
imported: a project whose own tests import TensorFlow first gets the same block, so two runs on
one machine compare as one machine.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.identity import (
    IDENTITY_KEYS,
    onednn_setting,
    tensorflow_distribution,
)

if TYPE_CHECKING:
    from pytest_deeplab.session import DeepLabSession

THREAD_ENV = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS")
# What oneDNN and Eigen choose kernels by; the full flag list is long and mostly irrelevant.
SIMD_PREFIXES = ("sse4", "avx", "fma", "amx", "f16c", "vnni", "bf16")


def thread_settings(threads: int | None) -> dict[str, Any]:
    """What the suite asked for (0 = TensorFlow's default) and the environment that also counts."""
    settings: dict[str, Any] = {
        "intra_op": threads or 0,
        "inter_op": 1 if threads else 0,
        "cpus_usable": _usable_cpus(),
    }
    settings.update({k: os.environ[k] for k in THREAD_ENV if k in os.environ})
    return settings


def _usable_cpus() -> int | None:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count()


def cpu_description(machine_info: dict[str, Any] | None = None,
                    cpuinfo_path: Path = Path("/proc/cpuinfo")) -> dict[str, Any]:
    """CPU model and SIMD flags: py-cpuinfo's answer when pytest-benchmark got one, else
    /proc/cpuinfo, else the platform module."""
    cpu = (machine_info or {}).get("cpu")
    model, flags = None, None
    if isinstance(cpu, dict) and cpu.get("flags"):
        model = cpu.get("brand_raw") or cpu.get("brand")
        flags = list(cpu["flags"])
    if model is None or flags is None:
        parsed = _parse_cpuinfo(cpuinfo_path)
        model = model or parsed.get("model name")
        if flags is None and "flags" in parsed:
            flags = parsed["flags"].split()
    simd = sorted({f for f in flags or [] if f.startswith(SIMD_PREFIXES)})
    return {
        "model": model or platform.processor() or platform.machine(),
        "simd_flags": simd,
        "count": os.cpu_count(),
    }


def _parse_cpuinfo(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in ("model name", "flags") and key not in found:
            found[key] = value.strip()
        if not line.strip() and found:
            break  # the first processor's block is enough
    return found


def selection_runtime(session: DeepLabSession, threads: int | None = None) -> dict[str, Any]:
    """`RuntimeIdentity`'s keys and the installed distribution, for the TensorFlow that runs
    the session's models; without an importable TensorFlow the version and build stay None."""
    distribution, version = tensorflow_distribution()
    try:
        ident = session.run_identity() if session.any_model_loaded else session.identity
    except ModelLoadError:  # TensorFlow is not importable: nothing can run the selection
        onednn, source = onednn_setting()
        ident = {"tensorflow": version, "onednn": onednn, "onednn_source": source,
                 "intra_op_threads": threads or 0, "inter_op_threads": 1 if threads else 0,
                 "tflite_xnnpack": session.options.xnnpack}
    record = {key: ident.get(key) for key in IDENTITY_KEYS}
    record["distribution"] = distribution
    return record


def deeplab_identity(
    session: DeepLabSession, threads: int | None = None,
    machine_info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    import numpy

    from pytest_deeplab import __version__

    return {
        "plugin_version": __version__,
        "tensorflow": selection_runtime(session, threads),
        "threads": thread_settings(threads),
        "cpu": cpu_description(machine_info),
        "numpy": numpy.__version__,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "models_loaded": session.loaded_models(),
        "tflite_models": _tflite_records(session),
    }


def _tflite_records(session: DeepLabSession) -> dict[str, Any]:
    """Per TF Lite model loaded here: interpreter, XNNPACK applied or not, threads, resize."""
    records = {}
    for model in session.selected:
        record = session.runtime_record(model)
        if record is not None:
            records[model.name] = record
    return records


def update_machine_info(
    machine_info: dict[str, Any], session: DeepLabSession, threads: int | None = None
) -> None:
    """Fill pytest-benchmark's machine_info in place (the hook's body, with models selected)."""
    if threads is None:
        threads = session.options.threads
    block = deeplab_identity(session, threads, machine_info)
    machine_info["deeplab"] = block
    machine_info["tensorflow"] = block["tensorflow"]["tensorflow"]
