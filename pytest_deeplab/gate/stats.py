"""Noise figures for the gate and the latency benchmark.

numpy only. The gate's verdicts come from `gate.sequential` (a sequential sign test on the pairs'
log-ratios); this module says how far a reported median can be trusted (bootstrap CV of the
median, robust CV of the rounds).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

DEFAULT_CONFIDENCE = 0.95


def sign_test_rank(n: int, confidence: float) -> int:
    """The 1-based rank k with [x_(k), x_(n-k+1)] covering the median with >= `confidence`
    (1 when n is too small for that confidence: the interval is then the whole range). Used by
    `explain --latency` for the interval of its per-round ratios."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    n = int(n)  # a numpy integer would overflow 2**n
    alpha_half, cumulative, k = (1 - confidence) / 2, 0, 0
    while k < n // 2:
        cumulative += math.comb(n, k)  # P(B <= k) * 2**n for B ~ Binomial(n, 1/2)
        if cumulative / 2**n > alpha_half:
            break
        k += 1
    return max(k, 1)


def _resample_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, n, size=(resamples, n))


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
