"""pytest-benchmark glue: the first call reported apart, then steady-state wall and CPU time.

Timing the first `session.run` mixes graph warm-up into the figure (the seed question's 1.71 s
vs 0.65 s); here it is measured once and kept out of the statistics.

`extra_info` carries what makes a figure explainable and comparable: image size, multiply-adds
(from the bundled manifest, else counted from the graph by `runtime.inspect`) and the achieved
GMAC/s, CPU time, the noise of the median (bootstrap CV) and the rounds' CV, the TensorFlow
build, oneDNN flag and thread settings.
"""

from __future__ import annotations

import statistics
import time

import pytest

from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.session import DeepLabSession
from pytest_deeplab.suite.benchmark_adapter import close_benchmark, measured_rounds, open_benchmark

TARGET_SECONDS = 3.0
UNMEASURED_HINT = (
    "benchmarks are off (--benchmark-disable, or pytest-xdist, whose parallel workers would "
    "disturb the timings); measure in a separate serial pass: "
    "pytest --deeplab-models=... -m deeplab_latency (without -n)"
)
MIN_ROUNDS, MAX_ROUNDS, WARMUP_ROUNDS = 5, 100, 2



def run_latency_benchmark(item: pytest.Item, deeplab: DeepLabSession, model: ModelSpec) -> None:
    from pytest_deeplab.suite.inputs import first_image

    fixture = open_benchmark(item, group="deeplab")  # skips before any model is loaded
    fixture.name = f"{model.name}::latency"  # the table's row label; item.name alone is ambiguous
    image_id, image = first_image(deeplab, model)
    predictor = deeplab.predictor(model)
    predictor.predict(image)  # the model's first call, if no other item made it, is timed apart
    first_call = deeplab.results[model.name].first_call_s or 0.0
    steady_calls = []
    for _ in range(3):  # one call can be slowed by the machine: the median of three sizes rounds
        start = time.perf_counter()
        predictor.predict(image)
        steady_calls.append(time.perf_counter() - start)
    steady = max(statistics.median(steady_calls), 1e-6)
    rounds = min(MAX_ROUNDS, max(MIN_ROUNDS, int(TARGET_SECONDS / steady)))
    cpu_times: list[float] = []

    def infer() -> None:
        cpu = time.process_time()
        predictor.predict(image)
        cpu_times.append(time.process_time() - cpu)

    try:
        fixture.pedantic(infer, rounds=rounds, iterations=1, warmup_rounds=WARMUP_ROUNDS)
        measured = cpu_times[WARMUP_ROUNDS:] or cpu_times
        cpu_median = statistics.median(measured)
        ident = deeplab.identity
        results = deeplab.results[model.name]
        fixture.extra_info.update(
            model=model.name,
            image=image_id,
            image_size=[int(image.shape[1]), int(image.shape[0])],
            first_call_s=first_call,
            cpu_time_median_s=cpu_median,
            tensorflow=ident["tensorflow"],
            tensorflow_git=ident["tensorflow_git"],
            onednn=ident["onednn"],
            onednn_source=ident["onednn_source"],
            threads=deeplab.options.threads,
            intra_op_threads=ident["intra_op_threads"],
            inter_op_threads=ident["inter_op_threads"],
        )
        tflite = deeplab.runtime_record(model)
        if tflite is not None:  # interpreter, XNNPACK, threads, resize: they change the timing
            fixture.extra_info["tflite"] = tflite
        if results.miou is not None:  # the mIOU item ran first: keep the figures together
            fixture.extra_info["miou"] = results.miou
        results.cpu_median_s = cpu_median
        timed = measured_rounds(fixture)
        if timed:
            results.latency_median_s = statistics.median(timed)
            fixture.extra_info.update(noise_figures(timed))
            fixture.extra_info.update(
                work_figures(multiply_adds(deeplab, model), results.latency_median_s)
            )
        else:
            results.latency_unmeasured = UNMEASURED_HINT
            item.user_properties.append(("deeplab_latency_measured", False))
        item.user_properties.append(("deeplab_latency_median_s", results.latency_median_s))
        item.user_properties.append(("deeplab_first_call_s", first_call))
        item.user_properties.append(("deeplab_cpu_time_median_s", cpu_median))
    finally:
        close_benchmark(fixture)


def noise_figures(rounds: list[float]) -> dict[str, float]:
    """How much the reported median can be trusted: the bootstrap CV of the median, and the
    spread of the rounds themselves (CV and its outlier-robust MAD version)."""
    from pytest_deeplab.gate.stats import coefficient_of_variation, median_cv, robust_cv

    return {
        "median_cv": median_cv(rounds),
        "cv": coefficient_of_variation(rounds),
        "robust_cv": robust_cv(rounds),
        "rounds": len(rounds),
    }


def work_figures(madds: float | None, median_s: float | None) -> dict[str, float]:
    if not madds or not median_s:
        return {}
    return {"multiply_adds": madds, "gmacs_per_s": madds / median_s / 1e9}


_MADDS: dict[str, float | None] = {}


def multiply_adds(deeplab: DeepLabSession, model: ModelSpec) -> float | None:
    """Multiply-adds per inference: the bundled manifest's figure, else counted from the graph
    by `runtime.inspect` when that module is available (None when neither can say)."""
    if model.name in _MADDS:
        return _MADDS[model.name]
    value = _manifest_madds(model.name) if model.source == "bundled" else None
    if value is None:
        value = _inspected_madds(deeplab, model)
    _MADDS[model.name] = value
    return value


def _manifest_madds(name: str) -> float | None:
    import json

    from pytest_deeplab.catalogue.bundled import fixtures_dir

    path = fixtures_dir() / "minizoo.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    for entry in manifest.get("models", []):
        if entry.get("name") == name and isinstance(entry.get("multiply_adds"), (int, float)):
            return float(entry["multiply_adds"])
    return None


def _inspected_madds(deeplab: DeepLabSession, model: ModelSpec) -> float | None:
    try:
        from pytest_deeplab.runtime.inspection import inspect_model
    except ImportError:
        return None
    try:
        inspection = inspect_model(
            deeplab.model_file(model), model.format, input_tensor=model.input_tensor,
            output_tensor=model.output_tensor, default_size=model.input_size,
            allow_ops=model.allow_ops,
        )
    except Exception:  # a figure for extra_info must never fail the benchmark
        return None
    value = getattr(inspection, "multiply_adds", None)
    return float(value) if value else None
