"""pytest-benchmark's internals the latency item relies on are still there.

The item builds pytest-benchmark's fixture itself (it is not a test function), which needs
`config._benchmarksession` and `BenchmarkFixture._cleanup`. A pytest-benchmark release that
changes them fails here, naming what changed, instead of a run quietly losing its timings.
"""

from __future__ import annotations

import json

import pytest
from conftest import DeepLabPytester

from pytest_deeplab.suite.benchmark_adapter import incompatibilities


def test_the_installed_pytest_benchmark_has_what_the_adapter_uses() -> None:
    assert incompatibilities() == []


def test_a_live_benchmark_session_has_what_the_adapter_uses(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_deeplab.suite.benchmark_adapter import incompatibilities

        def test_session(request):
            assert incompatibilities(request.config) == []
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_a_missing_session_is_named(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from pytest_deeplab.suite.benchmark_adapter import incompatibilities

        def test_session(request):
            assert incompatibilities(request.config) == ["config._benchmarksession is gone"]
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:benchmark")
    result.assert_outcomes(passed=1)


def test_the_latency_item_still_measures(deeplab: DeepLabPytester) -> None:
    """End to end: one bundled model's latency item puts its rounds into pytest-benchmark."""
    out = deeplab.path / "bench.json"
    result = deeplab.run_subprocess(
        "--deeplab-models=mini_mnv2_os16", "-m", "deeplab_latency", f"--benchmark-json={out}",
        "--benchmark-min-rounds=1",
    )
    result.assert_outcomes(passed=1)
    saved = json.loads(out.read_text())
    (bench,) = saved["benchmarks"]
    assert bench["stats"]["rounds"] >= 5 and bench["stats"]["median"] > 0
    assert bench["extra_info"]["model"] == "mini_mnv2_os16"
