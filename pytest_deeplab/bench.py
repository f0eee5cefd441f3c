"""pytest-benchmark glue: the first call reported apart, then steady-state wall and CPU time.

Timing the first `session.run` mixes graph warm-up into the figure (the seed question's 1.71 s
vs 0.65 s); here it is measured once and kept out of the statistics.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from pytest_deeplab.catalogue import ModelSpec
from pytest_deeplab.session import DeepLabSession

TARGET_SECONDS = 3.0
UNMEASURED_HINT = (
    "benchmarks are off (--benchmark-disable, or pytest-xdist, whose parallel workers would "
    "disturb the timings); measure in a separate serial pass: "
    "pytest --deeplab-models=... -m deeplab_latency (without -n)"
)
MIN_ROUNDS, MAX_ROUNDS, WARMUP_ROUNDS = 5, 50, 2


def benchmark_fixture(item: pytest.Item, group: str) -> Any:
    """Build pytest-benchmark's fixture for an item that is not a test function."""
    bs = getattr(item.config, "_benchmarksession", None)
    if bs is None:
        pytest.skip("pytest-benchmark is not active (was it disabled with -p no:benchmark?)")
    if bs.skip:
        pytest.skip("benchmarks are skipped (--benchmark-skip)")
    from pytest_benchmark.fixture import BenchmarkFixture

    return BenchmarkFixture(  # type: ignore[no-untyped-call]
        item, add_stats=bs.benchmarks.append, logger=bs.logger, warner=item.warn,
        disabled=bs.disabled, group=group, **bs.options,
    )


def run_latency_benchmark(item: pytest.Item, deeplab: DeepLabSession, model: ModelSpec) -> None:
    from pytest_deeplab.suite import first_image

    image_id, image = first_image(deeplab, model)
    predictor = deeplab.predictor(model)
    start = time.perf_counter()
    predictor.predict(image)
    first_call = time.perf_counter() - start
    start = time.perf_counter()
    predictor.predict(image)
    steady = max(time.perf_counter() - start, 1e-6)
    rounds = min(MAX_ROUNDS, max(MIN_ROUNDS, int(TARGET_SECONDS / steady)))
    cpu_times: list[float] = []

    def infer() -> None:
        cpu = time.process_time()
        predictor.predict(image)
        cpu_times.append(time.process_time() - cpu)

    fixture = benchmark_fixture(item, group="deeplab")
    fixture.name = f"{model.name}::latency"  # the table's row label; item.name alone is ambiguous
    try:
        fixture.pedantic(infer, rounds=rounds, iterations=1, warmup_rounds=WARMUP_ROUNDS)
        measured = cpu_times[WARMUP_ROUNDS:] or cpu_times
        cpu_median = statistics.median(measured)
        ident = deeplab.identity
        fixture.extra_info.update(
            model=model.name,
            image=image_id,
            image_size=[int(image.shape[1]), int(image.shape[0])],
            first_call_s=first_call,
            cpu_time_median_s=cpu_median,
            tensorflow=ident["tensorflow"],
            onednn=ident["onednn"],
            threads=deeplab.options.threads,
        )
        results = deeplab.results[model.name]
        results.first_call_s, results.cpu_median_s = first_call, cpu_median
        stats = getattr(fixture, "stats", None)
        if stats is not None and not fixture.disabled:
            results.latency_median_s = float(stats.stats.median)
        else:
            results.latency_unmeasured = UNMEASURED_HINT
        item.user_properties.append(("deeplab_latency_median_s", results.latency_median_s))
        item.user_properties.append(("deeplab_first_call_s", first_call))
    finally:
        fixture._cleanup()
