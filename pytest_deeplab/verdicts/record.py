"""The one record of a run: each test's final outcome, derived once, and the fail-closed rule.

`ItemLog` is a tiny plugin object: registered with pytest's plugin manager it sees every test
report (on an xdist controller, the workers' too) and every failed or skipped collector, and
folds the phases of one test into one `ItemResult`, as pytest's own JUnit XML does: a setup
failure is an error, a call failure a failure, a teardown failure after a pass an error, and
xfail / xpass are kept apart from skips and passes. It reads only report attributes, so it
imports nothing from pytest.

Everything that reports a run is a view of these results: the live summary and the HTML report
(`ItemResult.shown`), the results file and its JUnit XML, and `pytest-deeplab merge`, which also
applies the same `fail_closed` rule to the merged items as a live run applies to its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_deeplab.constants import SUITE_PREFIX

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
SHOWN_AS = {"passed": "passed", "xpassed": "passed", "failed": "failed", "error": "error",
            "skipped": "skipped", "xfailed": "skipped"}
"""How a report shows an outcome: a non-strict xpass passed, an xfail was skipped (pytest's
terminal summary counts them apart; a strict xpass is already a failure)."""
UNMEASURED = ("deeplab_latency_measured", False)  # a latency item with benchmarks off


@dataclass
class ItemResult:
    """One test's final outcome over its setup, call and teardown."""

    nodeid: str
    outcome: str
    """passed | failed | error | skipped | xfailed | xpassed"""
    duration: float = 0.0
    longrepr: str = ""
    """The failure text, or the skip / xfail reason."""
    message: str = ""
    """One-line headline of a failure (JUnit's message attribute)."""
    when: str = ""
    """The phase that decided a non-passing outcome: collect | setup | call | teardown."""
    user_properties: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def shown(self) -> str:
        return SHOWN_AS.get(self.outcome, self.outcome)

    @property
    def in_suite(self) -> bool:
        return self.nodeid.startswith(SUITE_PREFIX)

    @property
    def uses_deeplab(self) -> bool:
        """The built-in suite's items, and a project's own tests using the plugin's fixtures."""
        return self.in_suite or any(str(n).startswith("deeplab_") for n, _ in self.user_properties)


def fail_closed(items: Iterable[ItemResult]) -> str | None:
    """Why a run of these items checked nothing ("all skipped" / "nothing checked"), or None.

    The one rule for a live run and a merged one: when the built-in suite's items all skipped,
    or the only ones that ran measured nothing, the run fails rather than pass vacuously."""
    suite = [item for item in items if item.in_suite and item.when != "collect"]
    if not suite:
        return None
    shown = Counter(item.shown for item in suite)
    if shown["skipped"] == len(suite):
        return "all skipped"
    unmeasured = sum(1 for item in suite if item.shown == "passed"
                     and UNMEASURED in item.user_properties)
    if shown["passed"] + shown["failed"] + shown["error"] - unmeasured <= 0:
        return "nothing checked"
    return None

MESSAGE_BUDGET = 500
"""Longest headline kept for JUnit's message attribute (the full text goes in the element)."""


def headline(text: str, budget: int = MESSAGE_BUDGET) -> str:
    """Whole lines of `text` while they fit the budget (at least the first line, cut)."""
    kept: list[str] = []
    size = 0
    for line in text.strip().splitlines():
        if kept and size + len(line) + 1 > budget:
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)[:budget]


def _text(report: Any) -> str:
    text = getattr(report, "longreprtext", None)
    return str(text) if text is not None else str(getattr(report, "longrepr", "") or "")


def _reason(report: Any) -> str:
    """A skip's reason without pytest's 'Skipped: ' prefix, or an xfail's reason."""
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail).removeprefix("reason: ")
    longrepr = getattr(report, "longrepr", None)
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return _text(report).removeprefix("Skipped: ")


def _crash_message(report: Any) -> str:
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    message = getattr(crash, "message", None)
    return headline(str(message) if message else _text(report))


class ItemLog:
    """Plugin object: `pytest_runtest_logreport` and `pytest_collectreport` feed it."""

    def __init__(self) -> None:
        self.items: dict[str, ItemResult] = {}

    def results(self) -> list[ItemResult]:
        """Items in the order they were first reported."""
        return list(self.items.values())

    def suite_ran(self) -> int:
        """How many of the built-in suite's items reached an outcome."""
        return sum(1 for item in self.items.values() if item.in_suite and item.when != "collect")

    def fail_closed(self) -> str | None:
        return fail_closed(self.items.values())

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.items[report.nodeid] = ItemResult(
                report.nodeid, "error", longrepr=_text(report), message="collection failure",
                when="collect")
        elif report.skipped:
            self.items[report.nodeid] = ItemResult(
                report.nodeid, "skipped", longrepr=_reason(report), message=_reason(report),
                when="collect")

    def pytest_runtest_logreport(self, report: Any) -> None:
        entry = self.items.get(report.nodeid)
        if entry is None:
            entry = self.items[report.nodeid] = ItemResult(report.nodeid, "passed")
        entry.duration += float(getattr(report, "duration", 0.0) or 0.0)
        entry.user_properties = [(str(n), v) for n, v in getattr(report, "user_properties", [])]
        when, outcome = report.when, report.outcome
        xfail = hasattr(report, "wasxfail")
        if when == "call":
            if outcome == "passed":
                entry.outcome = "xpassed" if xfail else "passed"
            elif outcome == "skipped":
                entry.outcome = "xfailed" if xfail else "skipped"
                entry.longrepr = entry.message = _reason(report)
                entry.when = when
            else:
                self._fail(entry, report, "failed")
        elif outcome == "failed":  # setup or teardown
            self._fail(entry, report, "error")
        elif outcome == "skipped" and when == "setup":
            entry.outcome = "xfailed" if xfail else "skipped"
            entry.longrepr = entry.message = _reason(report)
            entry.when = when

    @staticmethod
    def _fail(entry: ItemResult, report: Any, outcome: str) -> None:
        text = _text(report)
        if entry.outcome in ("failed", "error"):  # e.g. a teardown error after a failure
            entry.longrepr += f"\n\n[{report.when}]\n{text}"
            return
        entry.outcome = outcome
        entry.longrepr = text
        entry.when = report.when
        reason = _crash_message(report)
        entry.message = reason if outcome == "failed" else (
            headline(f'failed on {report.when} with "{reason}"'))
