"""Statistics for the gate and the latency benchmark: paired ratio intervals, noise of a median.

numpy only. The gate measures A and B alternately, so each round gives a *pair* of timings taken
a fraction of a second apart; a shared machine's drift (another job starting, frequency scaling)
moves both members of a pair together. The ratio is therefore estimated on the pairs' log-ratios,
whose median is robust to outliers, and its interval is a bootstrap over pairs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_CONFIDENCE = 0.95
DEFAULT_RESAMPLES = 4000


@dataclass(frozen=True)
class RatioEstimate:
    """B/A with a confidence interval; `method` says how it was estimated."""

    ratio: float
    low: float
    high: float
    confidence: float
    pairs: int
    method: str

    def above(self, threshold: float) -> bool:
        """The whole interval lies above `threshold` (a regression beyond noise)."""
        return self.low > threshold

    def below(self, threshold: float) -> bool:
        return self.high < threshold

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "ratio": self.ratio, "low": self.low, "high": self.high,
            "confidence": self.confidence, "pairs": self.pairs, "method": self.method,
        }


def _check_pairs(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"paired samples must be two 1-D sequences of one length: "
                         f"{x.shape} vs {y.shape}")
    if x.size < 2:
        raise ValueError("at least two pairs are needed for an interval")
    if not (np.all(x > 0) and np.all(y > 0)):
        raise ValueError("timings must be positive")
    return x, y


def _resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(resamples, n))


def paired_ratio(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> RatioEstimate:
    """exp(median(log(b_i / a_i))) with a distribution-free interval for that median.

    Each pair's ratio cancels what the machine did during that pair, so the interval is much
    tighter than one built from the two marginal medians when the load drifts. The interval is
    the sign-test one (order statistics of the log-ratios chosen from the binomial
    distribution): exact coverage of at least `confidence` whatever the timings' distribution,
    where a percentile bootstrap of a median is liberal with few pairs. (`resamples` and `seed`
    are accepted for the signature shared with `median_ratio`.)
    """
    x, y = _check_pairs(a, b)
    d = np.sort(np.log(y) - np.log(x))
    k = sign_test_rank(d.size, confidence)
    return RatioEstimate(
        float(math.exp(np.median(d))), math.exp(d[k - 1]), math.exp(d[d.size - k]), confidence,
        int(d.size), "paired log-ratio median, sign-test interval",
    )


def sign_test_rank(n: int, confidence: float) -> int:
    """The 1-based rank k with [x_(k), x_(n-k+1)] covering the median with >= `confidence`
    (1 when n is too small for that confidence: the interval is then the whole range)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    n = int(n)  # a numpy integer would overflow 2**n
    alpha_half = (1 - confidence) / 2
    total, cumulative, k = 2**n, 0, 0
    while k < n // 2:
        cumulative += math.comb(n, k)  # P(B <= k) * 2**n for B ~ Binomial(n, 1/2)
        if cumulative / total > alpha_half:
            break
        k += 1
    return max(k, 1)


def median_ratio(
    a: Sequence[float],
    b: Sequence[float],
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> RatioEstimate:
    """median(b) / median(a), the interval from a bootstrap that resamples whole pairs."""
    x, y = _check_pairs(a, b)
    idx = _resample_indices(x.size, resamples, seed)
    boot = np.log(np.median(y[idx], axis=1)) - np.log(np.median(x[idx], axis=1))
    lo, hi = _percentiles(boot, confidence)
    return RatioEstimate(
        float(np.median(y) / np.median(x)), math.exp(lo), math.exp(hi), confidence,
        int(x.size), "ratio of medians, bootstrap over pairs",
    )


def _percentiles(values: np.ndarray, confidence: float) -> tuple[float, float]:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    tail = (1 - confidence) / 2 * 100
    lo, hi = np.percentile(values, [tail, 100 - tail])
    return float(lo), float(hi)


def coefficient_of_variation(values: Sequence[float]) -> float:
    """stdev / mean of the rounds (sample stdev); NaN with fewer than two values."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2 or x.mean() == 0:
        return float("nan")
    return float(x.std(ddof=1) / x.mean())


def median_cv(values: Sequence[float], *, resamples: int = 2000, seed: int = 0) -> float:
    """Noise of the reported median: bootstrap standard error of the median / the median."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return float("nan")
    idx = _resample_indices(x.size, resamples, seed)
    boot = np.median(x[idx], axis=1)
    med = float(np.median(x))
    return float(boot.std(ddof=1) / med) if med else float("nan")


def robust_cv(values: Sequence[float]) -> float:
    """1.4826 * MAD / median: the spread of the rounds, insensitive to a few outliers."""
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return float("nan")
    med = float(np.median(x))
    return float(1.4826 * np.median(np.abs(x - med)) / med) if med else float("nan")
