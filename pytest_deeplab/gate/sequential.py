"""Sequential evidence for the gate: when may it stop sampling, and what may it then claim?

The gate looks at its data after every round and stops as soon as the answer is clear. A
fixed-sample interval checked after every round would be wrong far more often than its level
says, so the gate uses an *anytime-valid* test instead: an e-process (a test martingale), which
Ville's inequality bounds at every round at once, so stopping whenever it likes keeps the error
rate.

The test is a sequential sign test on the per-round log-ratios d_i = log(b_i / a_i) against a
cut c (log of the threshold): under "the median ratio is at most the threshold", each round
exceeds c with probability at most 1/2 *given the past*; so it stays valid when the machine's
load drifts during the run, as long as no round's own median ratio is above the threshold.
Evidence is a mixture of likelihood ratios over alternatives theta = P(d > c) in (1/2, 1):

    E_n = mean_j (2 theta_j)^S_n (2 (1 - theta_j))^(n - S_n),   S_n = #{i <= n : d_i > c}

a non-negative supermartingale with E_0 = 1 under the null, so P(E_n >= 1/alpha for some n)
<= alpha. The same counts, inverted over c, give a confidence sequence for the median ratio.
"""

from __future__ import annotations

import bisect as sorted_insert
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Alternatives theta = P(one round exceeds the cut): dense near 1/2 (small effects over many
# rounds), sparse near 1 (large effects seen in a few rounds). Equal weights. The grid starts at
# 0.52: a share closer to 1/2 needs about 7,000 rounds or more, beyond what a budget holds (the
# gate stops at 20,000), so weight there only delays every other decision. Against a grid from
# 0.504 (32 points) this one decides in 4-10 % fewer rounds for shares 0.53-1.0 at the same
# level (tests/test_gate_stats.py), and its error bound is the same: any fixed mixture is one.
THETAS = 0.5 + np.geomspace(0.02, 0.496, 20)
_LOG_UP, _LOG_DOWN = np.log(2 * THETAS), np.log(2 * (1 - THETAS))


def log_evidence(successes: int | np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """log E_n for S_n = `successes` of n rounds (both broadcast)."""
    s = np.asarray(successes, dtype=np.float64)[..., None]
    terms = s * _LOG_UP + (np.asarray(n, dtype=np.float64)[..., None] - s) * _LOG_DOWN
    top = terms.max(axis=-1)
    return np.asarray(top + np.log(np.exp(terms - top[..., None]).mean(axis=-1)))


def log_evidence_path(exceeds: np.ndarray) -> np.ndarray:
    """log E_1 .. log E_N along the last axis, for rounds that did (True) or did not exceed."""
    counts = np.cumsum(np.asarray(exceeds, dtype=np.int64), axis=-1)
    return log_evidence(counts, np.arange(1, counts.shape[-1] + 1))


def critical_count(n: int, alpha: float) -> int:
    """Fewest of n rounds above a cut that reject "median <= cut" at level alpha (n+1: none)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    if n <= 0:
        return 1
    ok = np.nonzero(log_evidence(np.arange(n + 1), n) >= math.log(1 / alpha))[0]
    return int(ok[0]) if ok.size else n + 1


@dataclass(frozen=True)
class Bounds:
    """A confidence sequence for the median of B/A, each bound at level alpha."""

    ratio: float
    low: float  # 0.0 when no lower bound is reached yet
    high: float  # inf when no upper bound is reached yet
    rounds: int
    alpha: float

    def as_dict(self) -> dict[str, float | int | str]:
        return {"ratio": self.ratio, "low": self.low, "high": self.high,
                "confidence": 1 - self.alpha, "pairs": self.rounds,
                "method": "sequential sign test, anytime-valid confidence sequence"}


def log_ratios(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples must be two 1-D sequences of one length: "
                         f"{x.shape} vs {y.shape}")
    if not (np.all(x > 0) and np.all(y > 0)):
        raise ValueError("timings must be positive")
    return np.asarray(np.log(y) - np.log(x))


def bounds(d: np.ndarray, alpha: float) -> Bounds:
    """Median of exp(d) with anytime-valid bounds: each holds at every n with prob >= 1-alpha."""
    n = int(d.size)
    if n == 0:
        return Bounds(float("nan"), 0.0, math.inf, 0, alpha)
    s = np.sort(d)
    k = critical_count(n, alpha)
    low = math.exp(s[n - k]) if k <= n else 0.0
    high = math.exp(s[k - 1]) if k <= n else math.inf
    return Bounds(math.exp(float(np.median(s))), low, high, n, alpha)


def min_detectable(d: np.ndarray, threshold: float, alpha: float) -> float:
    """Smallest true B/A these rounds would have shown above `threshold` (inf: none).

    The observed log-ratios, shifted so that their median is log r, exceed log(threshold) in
    at least critical_count rounds once r reaches threshold * exp(-e_k), e_k the k-th largest
    of the centred log-ratios: the spread actually seen, not an assumed one.
    """
    n = int(d.size)
    k = critical_count(n, alpha) if n else 1
    if n == 0 or k > n:
        return math.inf
    centred = np.sort(d - np.median(d))
    return float(threshold * math.exp(-centred[n - k]))


class RunningBounds:
    """The confidence sequence intersected over every round so far: what the table shows.

    Each round's bounds hold at every round at once, so their running intersection (the
    highest lower bound and the lowest upper bound seen) is anytime-valid too, and it agrees
    with the tests: a metric cleared at some round keeps an upper bound below its threshold
    however long sampling goes on for another metric. The critical count grows by 0 or 1 per
    round, so each round costs one sorted insert and an evidence evaluation or two.
    """

    def __init__(self, alpha: float) -> None:
        self.alpha, self._level = alpha, math.log(1 / alpha)
        self.sorted: list[float] = []
        self.k = 1
        self.low, self.high = -math.inf, math.inf  # log space

    def add(self, log_ratio: float) -> None:
        sorted_insert.insort(self.sorted, log_ratio)
        n = len(self.sorted)
        while self.k <= n and float(log_evidence(self.k, n)) < self._level:
            self.k += 1
        if self.k <= n:
            self.low = max(self.low, self.sorted[n - self.k])
            self.high = min(self.high, self.sorted[self.k - 1])

    def bounds(self) -> Bounds:
        n = len(self.sorted)
        if n == 0:
            return Bounds(float("nan"), 0.0, math.inf, 0, self.alpha)
        return Bounds(math.exp(float(np.median(self.sorted))),
                      math.exp(self.low) if self.low > -math.inf else 0.0,
                      math.exp(self.high) if self.high < math.inf else math.inf,
                      n, self.alpha)


@dataclass
class SequentialTest:
    """Running evidence about one metric of one model against its threshold.

    `fail` is evidence that the median ratio is above the threshold, `clear` that it is below;
    both keep their running maximum, whose inverse is an anytime-valid p-value.
    """

    threshold: float
    alpha: float  # per-side level used to stop (family level / number of hypotheses)
    above: int = 0
    below: int = 0
    rounds: int = 0
    max_log_fail: float = 0.0
    max_log_clear: float = 0.0
    decided_at: int | None = None  # the round at which it first failed or cleared

    def add(self, log_ratio: float) -> None:
        cut = math.log(self.threshold)
        self.rounds += 1
        self.above += log_ratio > cut
        self.below += log_ratio < cut
        self.max_log_fail = max(self.max_log_fail, float(log_evidence(self.above, self.rounds)))
        self.max_log_clear = max(self.max_log_clear,
                                 float(log_evidence(self.below, self.rounds)))
        if self.decided_at is None and self.decided:
            self.decided_at = self.rounds

    @property
    def failed(self) -> bool:
        return self.max_log_fail >= math.log(1 / self.alpha)

    @property
    def cleared(self) -> bool:
        return self.max_log_clear >= math.log(1 / self.alpha)

    @property
    def decided(self) -> bool:
        return self.failed or self.cleared

    @property
    def p_fail(self) -> float:
        """Anytime-valid p-value of "not above the threshold" (for Holm across models)."""
        return min(1.0, math.exp(-self.max_log_fail))


def rounds_to_decide(share: float, alpha: float, limit: int = 100_000) -> int | None:
    """Rounds the test would need if `share` of them fell on one side of the cut (the share
    seen so far): what an INCONCLUSIVE row says a rerun would take. None: beyond `limit`."""
    if not 0.5 < share <= 1.0:
        return None
    n = np.arange(1, limit + 1)
    reached = np.nonzero(log_evidence(np.floor(share * n), n) >= math.log(1 / alpha))[0]
    return int(reached[0]) + 1 if reached.size else None


def holm(p_values: Sequence[float], alpha: float) -> list[bool]:
    """Holm's step-down: which hypotheses are rejected, family-wise error <= alpha."""
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = [False] * len(p_values)
    m = len(p_values)
    for step, i in enumerate(order):
        if p_values[i] > alpha / (m - step):
            break
        rejected[i] = True
    return rejected
