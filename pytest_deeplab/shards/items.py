"""Each test's final outcome, kept as plain data for the results file.

`ItemLog` is a tiny plugin object: registered with pytest's plugin manager it sees every test
report (on an xdist controller, the workers' too) and every failed or skipped collector, and
folds the phases of one test into one `ItemResult`, as pytest's own JUnit XML does: a setup
failure is an error, a call failure a failure, a teardown failure after a pass an error, and
xfail / xpass are kept apart from skips and passes. It reads only report attributes, so it
imports nothing from pytest.
"""

from __future__ import annotations

from typing import Any

from pytest_deeplab.shards.results import ItemResult

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
