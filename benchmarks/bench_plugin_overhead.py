"""Plugin overhead per inference against a bare `session.run` loop on the same frozen graph.

Run with `pytest benchmarks/bench_plugin_overhead.py` (outside `testpaths`, never part of the
normal test run). Issue 3's target: the plugin adds <= 2 % per inference.

What is compared, on the same frozen graph, the same demo-resized uint8 image and the same
ConfigProto (TF's default thread pools unless DEEPLAB_BENCH_THREADS is set):

- bare:    what the DeepLab demo does, `sess.run(OUTPUT, feed_dict={INPUT: [image]})[0]`,
           in a session of its own;
- predict: the plugin's `load_predictor(...).predict(image)` (what mask and mIOU items call);
- latency: the callable the latency item hands to pytest-benchmark (predict plus the CPU-time
           bookkeeping around it).

The three run interleaved, round after round, with the order rotated every round, so drift on a
shared machine (other jobs, thermal state) hits all of them alike; the medians and the ratios to
bare go into `extra_info` (see `--benchmark-json`) and are printed. pytest-benchmark's own table
shows the time of one whole round (all three variants).

The bundled smallest model is always measured; the real dm05 graph too when
../shared/real-zoo is present.
"""

from __future__ import annotations

import json
import os
import statistics
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_deeplab.catalogue.bundled import fixtures_dir
from pytest_deeplab.data.images import demo_resize, load_rgb
from pytest_deeplab.data.listing import list_images
from pytest_deeplab.runtime import load_predictor
from pytest_deeplab.runtime.frozen_graph import read_graph_def
from pytest_deeplab.runtime.tf import import_tensorflow, session_config

REPO = Path(__file__).resolve().parents[1]
REAL_ZOO = REPO.parent / "shared" / "real-zoo"
REAL_DM05 = REAL_ZOO / "models" / "mnv2_dm05_pascal_reexport_frozen_inference_graph.pb"
SMALL = "mini_mnv2_os16"
THREADS = int(os.environ.get("DEEPLAB_BENCH_THREADS", "0")) or None
TARGET = 1.02  # issue 3: <= 2 % overhead per inference
WARMUP = 5


def bundled_graph(tmp: Path) -> tuple[Path, int, Path]:
    """The smallest bundled model's graph (extracted), its input size and a golden image."""
    root = fixtures_dir()
    manifest = json.loads((root / "minizoo.json").read_text())
    entry = next(m for m in manifest["models"] if m["name"] == SMALL)
    with tarfile.open(root / entry["archive"]) as archive:
        data = archive.extractfile(archive.getmember(entry["member"]))
        assert data is not None
        graph = tmp / "frozen_inference_graph.pb"
        graph.write_bytes(data.read())
    image = list_images(root / manifest["golden_images"])[0].path
    return graph, int(entry["input_size"]), image


def real_graph() -> tuple[Path, int, Path]:
    if not REAL_DM05.is_file():
        pytest.skip(f"the real DeepLab artefacts are not on this machine ({REAL_ZOO} is absent)")
    return REAL_DM05, 513, REAL_ZOO / "images" / "image1.jpg"


@pytest.fixture(scope="module", params=["bundled-mini_mnv2_os16", "real-dm05"])
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
    if request.param == "real-dm05":
        graph, input_size, image_path = real_graph()
    else:
        graph, input_size, image_path = bundled_graph(tmp_path_factory.mktemp("graph"))
    image = demo_resize(load_rgb(image_path), input_size)
    return request.param, graph, image


def bare_runner(graph_path: Path) -> tuple[Callable[[np.ndarray], np.ndarray], Any]:
    """The DeepLab demo's loop: its own graph and session, `sess.run` with a feed_dict."""
    tf = import_tensorflow()
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(read_graph_def(graph_path), name="")
    session = tf.compat.v1.Session(graph=graph, config=session_config(THREADS))
    output = graph.get_tensor_by_name("SemanticPredictions:0")
    feed = graph.get_tensor_by_name("ImageTensor:0")

    def run(image: np.ndarray) -> np.ndarray:
        result: np.ndarray = session.run(output, feed_dict={feed: [image]})[0]
        return result

    return run, session


def latency_callable(predictor: Any) -> Callable[[np.ndarray], None]:
    """The same wrapper as `bench.run_latency_benchmark`'s `infer`."""
    cpu_times: list[float] = []

    def infer(image: np.ndarray) -> None:
        cpu = time.process_time()
        predictor.predict(image)
        cpu_times.append(time.process_time() - cpu)

    return infer


def rounds_for(seconds_per_call: float, variants: int, budget_s: float = 20.0) -> int:
    return int(min(300, max(30, budget_s / (variants * seconds_per_call))))


def test_plugin_overhead_per_inference(benchmark: Any, case: Any) -> None:
    name, graph, image = case
    bare, bare_session = bare_runner(graph)
    predictor = load_predictor(name, graph, "frozen_graph", input_tensor="ImageTensor:0",
                               output_tensor="SemanticPredictions:0", threads=THREADS)
    variants: dict[str, Callable[[np.ndarray], Any]] = {
        "bare": bare,
        "predict": predictor.predict,
        "latency": latency_callable(predictor),
    }
    # same graph, same input: the same mask
    np.testing.assert_array_equal(bare(image).astype(np.uint8), predictor.predict(image))
    for _ in range(WARMUP):
        for run in variants.values():
            run(image)
    start = time.perf_counter()
    bare(image)
    rounds = rounds_for(time.perf_counter() - start, len(variants))

    times: dict[str, list[float]] = {key: [] for key in variants}
    order = list(variants)

    def one_round() -> None:
        order.append(order.pop(0))  # rotate: bare, predict, latency / predict, latency, bare / ...
        for key in order:
            run = variants[key]
            t0 = time.perf_counter()
            run(image)
            times[key].append(time.perf_counter() - t0)

    benchmark.pedantic(one_round, rounds=rounds, iterations=1)
    bare_session.close()
    predictor.close()

    medians = {key: statistics.median(values) for key, values in times.items()}
    ratios = {key: medians[key] / medians["bare"] for key in medians}
    # paired ratios (same round) are less sensitive to drift than a ratio of medians
    paired = {
        key: statistics.median(a / b for a, b in zip(times[key], times["bare"]))
        for key in times
    }
    benchmark.extra_info.update(
        model=name,
        image_shape=list(image.shape),
        rounds=rounds,
        threads=THREADS,
        median_s=medians,
        ratio_of_medians=ratios,
        median_paired_ratio=paired,
        target_ratio=TARGET,
    )
    print(
        f"\n{name}: {rounds} interleaved rounds, image {image.shape[1]}x{image.shape[0]}\n"
        + "\n".join(
            f"  {key:<8} median {1000 * medians[key]:8.3f} ms   ratio {ratios[key]:.4f}   "
            f"paired {paired[key]:.4f}"
            for key in variants
        )
    )
    assert paired["predict"] <= TARGET, (
        f"plugin predict is {100 * (paired['predict'] - 1):.2f} % slower than bare session.run "
        f"(target <= {100 * (TARGET - 1):.0f} %)"
    )
