"""The bisection itself, over opaque points, with a small protocol for "run one step".

Points run from the good end (index 0) to the bad end (last). The bad end is tested first:
when it passes against good there is nothing to find. Then the middle of the open range is
tested until last good and first bad are neighbours. A step that stays INCONCLUSIVE is rerun
once with twice the budget, then skipped like `git bisect skip` (the next point tried is the
untested one nearest the middle); a candidate that cannot be built is skipped at once. When
skips are all that is left between last good and first bad, the answer is that range.
Knowing nothing of environments or TensorFlow, it is tested with stand-in steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from pytest_deeplab.constants import Log

GOOD, BAD, INCONCLUSIVE, SKIP = "good", "bad", "inconclusive", "skip"

EXIT_FOUND, EXIT_NO_DIFFERENCE, EXIT_ERROR, EXIT_RANGE = 0, 1, 2, 3



class BisectError(RuntimeError):
    """The bisection cannot go on (the good end fails on its own, the bad end cannot be built)."""


@dataclass
class StepResult:
    """What one gate of a point against the good end said."""

    verdict: str  # GOOD | BAD | INCONCLUSIVE | SKIP (could not be tested, e.g. no wheel)
    reason: str = ""
    git: str | None = None  # the point's tf.version.GIT_VERSION, when it ran
    good_git: str | None = None  # the good end's, seen in the same run
    tensorflow: str | None = None  # the TensorFlow version the point's worker imported
    good_tensorflow: str | None = None
    identity: dict[str, Any] = field(default_factory=dict)  # the point's worker, as the gate saw it
    good_identity: dict[str, Any] = field(default_factory=dict)  # the good end's, same run
    models: list[dict[str, Any]] = field(default_factory=list)  # per-model ratios and verdicts
    table: str = ""  # the gate's Markdown table
    seconds: float = 0.0


@dataclass
class Step:
    """One step as recorded: which point, which attempt, and its result."""

    number: int
    index: int
    point: str
    budget_scale: float
    result: StepResult


class StepRunner(Protocol):
    """Runs a point against the good end; told which points must stay available."""

    def run(self, point: str, budget_scale: float) -> StepResult: ...

    def retain(self, points: set[str]) -> None: ...


@dataclass
class Bisection:
    """Where the search ended: indices into `points`, and every step in order."""

    points: list[str]
    steps: list[Step]
    exit_code: int
    last_good: int
    first_bad: int
    skipped: list[int] = field(default_factory=list)  # skipped points between the two
    message: str = ""

    @property
    def deciding(self) -> Step | None:
        """The step that showed the first bad point bad."""
        for step in reversed(self.steps):
            if step.index == self.first_bad and step.result.verdict == BAD:
                return step
        return None

    def git_of(self, index: int) -> str | None:
        """The point's tf.version.GIT_VERSION, as its worker (or the good side's) reported."""
        for step in self.steps:
            found = step.result.good_git if index == 0 else (
                step.result.git if step.index == index else None)
            if found:
                return found
        return None

    def identity_of(self, index: int) -> dict[str, Any]:
        """What the point's worker reported of itself (versions of Python, numpy, Keras...)."""
        for step in self.steps:
            found = step.result.good_identity if index == 0 else (
                step.result.identity if step.index == index else None)
            if found:
                return found
        return {}

    def tensorflow_of(self, index: int) -> str | None:
        for step in self.steps:
            found = step.result.good_tensorflow if index == 0 else (
                step.result.tensorflow if step.index == index else None)
            if found:
                return found
        return None


def steps_left(open_points: int) -> int:
    """Steps a bisection of this many untested points still needs, without skips."""
    return math.ceil(math.log2(open_points + 1)) if open_points > 0 else 0


def step_confidence(confidence: float, candidates: int) -> float:
    """The confidence each step's gate runs at, so that the whole answer holds at `confidence`.

    An answer is wrong when any one step is: a step that FAILs by chance sends the search the
    wrong way and nothing later corrects it. Bonferroni over the steps a bisection of this many
    candidates plans (the bad end first, then halving) keeps the chance of any wrong step at
    most 1 - confidence. A rerun or a skip adds a step beyond the plan; the answer says so.
    """
    planned = 1 + steps_left(candidates)
    return 1 - (1 - confidence) / planned


def bisect(points: Sequence[str], runner: StepRunner, log: Log) -> Bisection:
    """Search points[1:-1] for the first bad one; points[0] good, points[-1] claimed bad."""
    if len(points) < 2:
        raise BisectError("a bisection needs a good and a bad end")
    points = list(points)
    steps: list[Step] = []

    def test(index: int) -> str:
        for scale in (1.0, 2.0):
            left = steps_left(len(open_between(lo, hi)))
            log(f"bisect: step {len(steps) + 1}: {points[index]} against the good end "
                f"{points[0]}" + (f" (about {left} step(s) left)" if index != last else "")
                + (" (rerun at twice the budget)" if scale > 1 else "") + " ...")
            result = runner.run(points[index], scale)
            steps.append(Step(len(steps) + 1, index, points[index], scale, result))
            log(f"bisect: step {len(steps)}: {points[index]} is {result.verdict.upper()}"
                + (f" ({result.reason})" if result.reason else ""))
            if result.verdict != INCONCLUSIVE:
                return result.verdict
        return SKIP

    def open_between(low: int, high: int) -> list[int]:
        return [i for i in range(low + 1, high) if i not in skipped]

    skipped: set[int] = set()
    last = len(points) - 1
    lo, hi = 0, last
    verdict = test(last)
    if verdict == GOOD:
        return Bisection(points, steps, EXIT_NO_DIFFERENCE, 0, last, message=(
            f"the bad end {points[last]} passes against the good end {points[0]}: "
            "they do not differ at this threshold, nothing to bisect"))
    if verdict != BAD:
        return Bisection(points, steps, EXIT_RANGE, 0, last, list(range(1, last)), message=(
            f"the bad end {points[last]} could not be shown bad against {points[0]} "
            "(INCONCLUSIVE twice): rerun with a larger --max-seconds or a higher --threshold"))
    runner.retain({points[0], points[last]})
    while True:
        candidates = open_between(lo, hi)
        if not candidates:
            break
        middle = (lo + hi) / 2
        index = min(candidates, key=lambda i: (abs(i - middle), i))
        verdict = test(index)
        if verdict == GOOD:
            lo = index
        elif verdict == BAD:
            hi = index
        else:
            skipped.add(index)
        runner.retain({points[0], points[last], points[lo], points[hi]})
    inside = sorted(i for i in skipped if lo < i < hi)
    if inside:
        return Bisection(points, steps, EXIT_RANGE, lo, hi, inside, message=(
            f"the change lies after {points[lo]} and at or before {points[hi]}; "
            f"{len(inside)} build(s) between could not be decided: "
            + ", ".join(points[i] for i in inside)))
    return Bisection(points, steps, EXIT_FOUND, lo, hi, message=(
        f"first bad: {points[hi]} (last good: {points[lo]})"))
