"""The only code that touches pytest-benchmark's internals.

pytest-benchmark offers its `benchmark` fixture to test functions only; the suite's latency item is
not a function, so it builds the fixture the way pytest-benchmark's own fixture function does,
from the session object the plugin keeps on `config._benchmarksession`, and calls the fixture's
`_cleanup` (which adds its statistics to the run) when done. Neither is public API, so both are
kept here, and `incompatibilities()` names whatever of them a pytest-benchmark release no longer
has; tests/test_benchmark_adapter.py fails on it, loudly, before a run silently loses its timings.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest

FIXTURE_PARAMETERS = ("node", "add_stats", "logger", "warner", "disabled", "group")
SESSION_ATTRIBUTES = ("skip", "disabled", "benchmarks", "logger", "options")


def open_benchmark(item: pytest.Item, group: str) -> Any:
    """pytest-benchmark's fixture for an item that is not a test function (skips the item when
    benchmarks are off for the whole run)."""
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


def close_benchmark(fixture: Any) -> None:
    """Hand the measurements to pytest-benchmark's table and saved runs."""
    fixture._cleanup()


def measured_rounds(fixture: Any) -> list[float] | None:
    """The timed rounds in seconds, or None when benchmarks were disabled."""
    stats = getattr(fixture, "stats", None)
    if stats is None or fixture.disabled:
        return None
    return [float(x) for x in stats.stats.data]


def incompatibilities(config: pytest.Config | None = None) -> list[str]:
    """What this module relies on that the installed pytest-benchmark lacks ([] when all is
    there). With a pytest config, its benchmark session is checked too."""
    from pytest_benchmark.fixture import BenchmarkFixture

    problems = []
    parameters = inspect.signature(BenchmarkFixture.__init__).parameters
    problems += [f"BenchmarkFixture() takes no {name!r}" for name in FIXTURE_PARAMETERS
                 if name not in parameters]
    problems += [f"BenchmarkFixture has no {name}()" for name in ("_cleanup", "pedantic")
                 if not hasattr(BenchmarkFixture, name)]
    if config is not None:
        session = getattr(config, "_benchmarksession", None)
        if session is None:
            problems.append("config._benchmarksession is gone")
        else:
            problems += [f"config._benchmarksession has no {name!r}"
                         for name in SESSION_ATTRIBUTES if not hasattr(session, name)]
            problems += [f"config._benchmarksession.options[{key!r}] is no BenchmarkFixture "
                         "parameter" for key in getattr(session, "options", {})
                         if key not in parameters]
    return problems
