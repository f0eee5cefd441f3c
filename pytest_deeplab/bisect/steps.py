"""The real step: build (or reuse) the point's environment, gate it against the good end.

A step is bad when any model FAILs (slower beyond the threshold, masks below min_agreement,
fails to load in the point's environment), good when every model passes, INCONCLUSIVE when
the gate could not decide. A point whose environment cannot be built or started is skipped;
the good end failing on its own (a model its worker cannot load) stops the bisection, since
every step is measured against it. Environments this bisection built are removed as soon as
they are neither an end nor the current last good / first bad, unless --keep-envs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_deeplab.bisect.search import BAD, GOOD, INCONCLUSIVE, SKIP, BisectError, StepResult
from pytest_deeplab.constants import Log
from pytest_deeplab.envs.installer import InstallError
from pytest_deeplab.envs.spec import EnvSpecError
from pytest_deeplab.envs.store import EnvStore, size_on_disk
from pytest_deeplab.gate.controller import GateError, GateReport, Side, render, run_gate
from pytest_deeplab.gate.settings import GateSettings

MakeSide = Callable[[str], Side]


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _blames_candidate(exc: GateError) -> bool:
    """Gate errors name the side they concern: "[B] ..." or "the B interpreter"."""
    head = _first_line(exc)
    return head.startswith("[B]") or "the B interpreter" in head


def model_rows(report: GateReport) -> list[dict[str, Any]]:
    """Per model: verdict, latency and CPU ratios with their bounds, masks, rounds."""
    return [{
        "model": m.name,
        "verdict": m.verdict,
        "latency": m.ratio.as_dict() if m.ratio else None,
        "cpu": m.cpu_ratio.as_dict() if m.cpu_ratio else None,
        "worst_agreement": m.worst_agreement,
        "rounds": m.rounds,
        "stopped": m.stopped,
        "error": m.error,
    } for m in report.models]


def step_verdict(report: GateReport) -> tuple[str, str]:
    """(verdict, why) from one gate report."""
    if report.failed:
        failed = [m for m in report.models if m.failed]
        return BAD, "; ".join(f"{m.name}: {m.reasons[0] if m.reasons else m.verdict}"
                              for m in failed)
    if report.inconclusive:
        return INCONCLUSIVE, ", ".join(m.name for m in report.models if m.inconclusive)
    return GOOD, ""


class GateSteps:
    """A StepRunner over real environments and the real gate."""

    def __init__(self, base: GateSettings, make_side: MakeSide, good_point: str, bad_point: str,
                 store: EnvStore | None, keep_envs: bool, log: Log,
                 gate: Callable[[GateSettings, Log], GateReport] = run_gate) -> None:
        self.base, self.make_side, self.log, self.gate = base, make_side, log, gate
        self.good_point, self.bad_point = good_point, bad_point
        self.store, self.keep_envs = store, keep_envs
        self.sides: dict[str, Side] = {good_point: base.baseline}
        self.disk_peak = 0
        self.removed: list[str] = []
        self._measure_disk()

    def _measure_disk(self) -> None:
        dirs = {s.env_dir for s in self.sides.values() if s.env_dir}
        total = sum(size_on_disk(Path(d)) for d in dirs if Path(d).is_dir())
        self.disk_peak = max(self.disk_peak, total)

    def _side(self, point: str) -> Side:
        if point not in self.sides:
            side = self.make_side(point)
            self.sides[point] = side
            self._measure_disk()
        return self.sides[point]

    def run(self, point: str, budget_scale: float) -> StepResult:
        try:
            side = self._side(point)
        except (InstallError, EnvSpecError, GateError) as exc:
            if point == self.bad_point:
                raise BisectError(f"the bad end {point} cannot be set up: {exc}") from None
            return StepResult(SKIP, reason=f"cannot set up its environment: {_first_line(exc)}")
        settings = dataclasses.replace(
            self.base, candidate=side, max_seconds=self.base.max_seconds * budget_scale,
            rounds=int(self.base.rounds * budget_scale) if self.base.rounds else None)
        try:
            report = self.gate(settings, self.log)
        except GateError as exc:
            if not _blames_candidate(exc):
                raise BisectError(f"the good end {self.good_point} cannot run: {exc}") from None
            if point == self.bad_point:
                raise BisectError(f"the bad end {point} cannot run: {exc}") from None
            return StepResult(SKIP, reason=f"the gate could not run it: {_first_line(exc)}")
        broken = [m for m in report.models if m.error_side == "A"]
        if broken:
            raise BisectError(
                f"the good end {self.good_point} fails on its own, so no step can be judged "
                "against it: " + "; ".join(f"{m.name}: {m.error}" for m in broken))
        verdict, reason = step_verdict(report)
        a, b = report.identities.get("A", {}), report.identities.get("B", {})
        return StepResult(
            verdict, reason=reason, git=b.get("tensorflow_git"), good_git=a.get("tensorflow_git"),
            tensorflow=b.get("tensorflow"), good_tensorflow=a.get("tensorflow"),
            identity=dict(b), good_identity=dict(a),
            models=model_rows(report), table=render(report, markdown=True),
            seconds=report.seconds)

    def retain(self, points: set[str]) -> None:
        """Remove the environments this bisection built that are no longer needed."""
        keep = points | {self.good_point, self.bad_point}
        for point in [p for p in self.sides if p not in keep]:
            side = self.sides[point]
            if self.keep_envs or not side.built_now or not side.env_dir or self.store is None:
                continue
            if self.store.remove(Path(side.env_dir)):
                self.removed.append(side.env_dir)
                self.log(f"bisect: removed the environment of {point} ({side.env_dir})")
            del self.sides[point]
