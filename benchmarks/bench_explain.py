"""What `pytest-deeplab explain` costs against plain inference: peak memory and wall time.

Run with `pytest benchmarks/bench_explain.py -s` (outside `testpaths`). Issue 11: peak RSS of
explain on the real dm05 graph at 513 px at most twice that of plain inference; explain on a
bundled model in seconds, on the real dm05 graph in under a minute.

Per round, side by side and in alternating order (a noisy shared machine hits both alike):
- plain: a fresh interpreter imports TensorFlow, loads the model (`load_predictor`), predicts
  the image twice; its peak RSS and wall time;
- explain: `pytest-deeplab explain MODEL` (same interpreter on both sides, so it compares the
  model with itself: the full work of writing and comparing every tensor). Its workers run one
  after the other, so the most memory alive at once is the explain process plus its larger
  worker: that sum is the figure held against plain inference.
Figures are medians over DEEPLAB_BENCH_ROUNDS rounds (default 3).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROUNDS = int(os.environ.get("DEEPLAB_BENCH_ROUNDS", "3"))
REPO = Path(__file__).resolve().parents[1]
REAL_ZOO = REPO.parent / "shared" / "real-zoo"
DM05 = REAL_ZOO / "models" / "mnv2_dm05_pascal_reexport_frozen_inference_graph.pb"
BUNDLED_GRAPH = "mini_mnv2_os16"
BUNDLED_IMAGE = REPO / "fixtures" / "scenes" / "golden" / "golden_00_200x150.png"

PLAIN = """
import json, resource, sys, time
from pathlib import Path
started = time.perf_counter()
from pytest_deeplab.data.images import demo_resize, load_rgb
from pytest_deeplab.runtime import load_predictor
path, image, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
predictor = load_predictor("m", Path(path), "frozen_graph", input_tensor="ImageTensor:0",
                           output_tensor="SemanticPredictions:0")
rgb = demo_resize(load_rgb(image), size)
predictor.predict(rgb)
predictor.predict(rgb)
print(json.dumps({"seconds": time.perf_counter() - started,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def _env() -> dict[str, str]:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTEST_ADDOPTS", None)
    return env


def plain(graph: Path, image: Path, size: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", PLAIN, str(graph), str(image), str(size)],
                          capture_output=True, text=True, env=_env(), timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def explain(model: str, image: Path, size: int, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest_deeplab.cli", "explain", model, "--image", str(image),
         "--input-size", str(size), "--json", str(out)],
        capture_output=True, text=True, env=_env(), timeout=900)
    seconds = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-2000:]
    data = json.loads(out.read_text())
    peaks = data["memory"]["peak_rss_mb"]
    workers = [v for k, v in peaks.items() if k != "explain"]
    return {
        "seconds": seconds,
        "startup_seconds": sum(s["startup_seconds"] for s in data["sides"].values()),
        "parent_mb": peaks["explain"], "worker_mb": max(workers),
        "peak_rss_mb": peaks["explain"] + max(workers),
        "tensors": data["compared"],
        "bytes_mb": data["sides"]["A"]["bytes"] / 2**20,
        "chunks": data["sides"]["A"]["chunks"],
    }


def measure(model: str, graph: Path, image: Path, size: int, tmp: Path) -> dict[str, Any]:
    plains, explains = [], []
    for i in range(ROUNDS):
        for step in ("plain", "explain") if i % 2 == 0 else ("explain", "plain"):
            if step == "plain":
                plains.append(plain(graph, image, size))
            else:
                explains.append(explain(model, image, size, tmp / f"{i}.json"))

    def median(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(float(r[key]) for r in rows)

    ratio = statistics.median(e["peak_rss_mb"] / p["peak_rss_mb"]
                              for e, p in zip(explains, plains))
    summary = {
        "rounds": ROUNDS, "model": model, "size": size,
        "plain_peak_rss_mb": median(plains, "peak_rss_mb"),
        "plain_seconds": median(plains, "seconds"),
        "explain_peak_rss_mb": median(explains, "peak_rss_mb"),
        "explain_worker_peak_rss_mb": median(explains, "worker_mb"),
        "explain_parent_peak_rss_mb": median(explains, "parent_mb"),
        "explain_seconds": median(explains, "seconds"),
        "explain_tf_startup_seconds": median(explains, "startup_seconds"),
        "rss_ratio_paired_median": ratio,
        "tensors": explains[0]["tensors"], "tensor_mb_per_side": explains[0]["bytes_mb"],
        "chunks": explains[0]["chunks"],
    }
    print(json.dumps(summary, indent=2))
    return summary


def test_bundled_model(tmp_path: Path) -> None:
    import tarfile

    from pytest_deeplab.catalogue.bundled import fixtures_dir

    archive = fixtures_dir() / "models" / f"{BUNDLED_GRAPH}.tar.gz"
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"{BUNDLED_GRAPH}/frozen_inference_graph.pb")
        assert member is not None
        graph = tmp_path / "frozen_inference_graph.pb"
        graph.write_bytes(member.read())
    summary = measure(BUNDLED_GRAPH, graph, BUNDLED_IMAGE, 257, tmp_path)
    assert summary["rss_ratio_paired_median"] <= 2.0


@pytest.mark.skipif(not DM05.is_file(), reason=f"{DM05} is not on this machine")
def test_real_dm05_at_513(tmp_path: Path) -> None:
    summary = measure(str(DM05), DM05, REAL_ZOO / "images" / "image1.jpg", 513, tmp_path)
    assert summary["rss_ratio_paired_median"] <= 2.0
    assert summary["explain_seconds"] < 60.0
