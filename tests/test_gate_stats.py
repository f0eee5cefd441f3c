"""The gate's statistics on synthetic timings whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from pytest_deeplab.gate_stats import (
    coefficient_of_variation,
    median_cv,
    median_ratio,
    paired_ratio,
    robust_cv,
    sign_test_rank,
)


def timings(rng: np.random.Generator, n: int, median: float, cv: float) -> np.ndarray:
    """Latency-like samples: log-normal with a long right tail (occasional stalls)."""
    x = median * np.exp(rng.normal(0.0, cv, n))
    stalls = rng.random(n) < 0.03
    x[stalls] *= rng.uniform(1.5, 3.0, stalls.sum())
    return x


def test_equal_distributions_give_an_interval_containing_one() -> None:
    rng = np.random.default_rng(1)
    a, b = timings(rng, 200, 0.05, 0.04), timings(rng, 200, 0.05, 0.04)
    est = paired_ratio(a, b)
    assert est.low < 1.0 < est.high
    assert not est.above(1.10)
    assert est.high - est.low < 0.05  # tight enough to see a 10 % change


def test_a_15_percent_slowdown_is_above_the_threshold() -> None:
    rng = np.random.default_rng(2)
    a, b = timings(rng, 150, 0.05, 0.04), timings(rng, 150, 0.05 * 1.15, 0.04)
    est = paired_ratio(a, b)
    assert est.above(1.10)
    assert est.low < 1.15 < est.high
    assert median_ratio(a, b).above(1.10)


def test_a_faster_candidate_is_below_one() -> None:
    rng = np.random.default_rng(3)
    est = paired_ratio(timings(rng, 100, 0.05, 0.04), timings(rng, 100, 0.04, 0.04))
    assert est.below(1.0)
    assert 0.77 < est.ratio < 0.83


def test_coverage_of_equal_distributions_is_near_the_confidence() -> None:
    """Over many A/A experiments a 95 % interval misses 1 about 5 % of the time."""
    rng = np.random.default_rng(4)
    misses = 0
    for seed in range(200):
        a, b = timings(rng, 60, 0.05, 0.05), timings(rng, 60, 0.05, 0.05)
        est = paired_ratio(a, b, resamples=500, seed=seed)
        misses += not (est.low <= 1.0 <= est.high)
    assert misses <= 16  # at most 5 % expected: the sign-test interval is exact or conservative


def test_pairing_cancels_drift_that_the_marginal_medians_do_not() -> None:
    """A shared machine: the load doubles for half of the run, for both environments alike."""
    rng = np.random.default_rng(5)
    n = 200
    load = np.where(np.arange(n) < n // 2, 1.0, 2.0) * np.exp(rng.normal(0, 0.2, n))
    a = 0.05 * load * np.exp(rng.normal(0, 0.02, n))
    b = 0.05 * 1.15 * load * np.exp(rng.normal(0, 0.02, n))
    paired, marginal = paired_ratio(a, b), median_ratio(a, b)
    assert paired.above(1.10)
    assert paired.high - paired.low < (marginal.high - marginal.low) / 3


@pytest.mark.parametrize(("n", "k"), [(5, 1), (10, 2), (20, 6), (100, 40)])
def test_sign_test_ranks_match_the_binomial_tables(n: int, k: int) -> None:
    assert sign_test_rank(n, 0.95) == k


def test_the_interval_is_reproducible_and_seeded() -> None:
    rng = np.random.default_rng(6)
    a, b = timings(rng, 50, 1.0, 0.1), timings(rng, 50, 1.0, 0.1)
    assert paired_ratio(a, b, seed=3) == paired_ratio(a, b, seed=3)
    assert paired_ratio(a, b).as_dict()["pairs"] == 50


@pytest.mark.parametrize(
    ("a", "b", "message"),
    [([1.0], [1.0], "at least two"), ([1.0, 2.0], [1.0], "one length"),
     ([1.0, 0.0], [1.0, 1.0], "positive")],
)
def test_bad_samples_are_refused(a: list[float], b: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        paired_ratio(a, b)


def test_noise_figures() -> None:
    rng = np.random.default_rng(7)
    x = 0.05 * np.exp(rng.normal(0, 0.05, 400))
    assert coefficient_of_variation(x) == pytest.approx(0.05, rel=0.15)
    assert robust_cv(x) == pytest.approx(0.05, rel=0.15)
    # the median of 400 rounds is ~ 1.25 * 5 % / sqrt(400) noisy
    assert median_cv(x) == pytest.approx(1.2533 * 0.05 / 20, rel=0.3)
    assert np.isnan(coefficient_of_variation([1.0]))
    assert np.isnan(median_cv([1.0]))
