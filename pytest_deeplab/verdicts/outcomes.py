"""Counts what happened to the built-in suite's items, so a run where nothing was really
checked cannot end green."""

from __future__ import annotations

from collections import Counter

import pytest

from pytest_deeplab.constants import SUITE_PREFIX


class SuiteOutcomes:
    """A tiny plugin object: pytest calls its hook for every report (also xdist's, on the
    controller)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.skip_reasons: dict[str, str] = {}
        self.unchecked = 0  # passed items that measured nothing (latency with benchmarks off)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if not report.nodeid.startswith(SUITE_PREFIX):
            return
        if report.when == "call" or (report.when == "setup" and not report.passed):
            self.counts[report.outcome] += 1
            if report.skipped and isinstance(report.longrepr, tuple):
                self.skip_reasons[report.nodeid] = str(report.longrepr[2])
            if report.passed and ("deeplab_latency_measured", False) in report.user_properties:
                self.unchecked += 1

    @property
    def ran(self) -> int:
        return sum(self.counts.values())

    def all_skipped(self) -> bool:
        return self.ran > 0 and self.counts["skipped"] == self.ran

    def nothing_checked(self) -> bool:
        """Items ran, yet none compared a mask, scored mIOU or measured latency."""
        checked = self.counts["passed"] + self.counts["failed"] - self.unchecked
        return self.ran > 0 and checked <= 0 and not self.all_skipped()
