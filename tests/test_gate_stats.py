"""The gate's statistics on synthetic timings whose truth is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_deeplab.gate.stats import (
    coefficient_of_variation,
    median_cv,
    robust_cv,
    sign_test_rank,
)


def timings(rng: np.random.Generator, n: int, median: float, cv: float) -> np.ndarray:
    """Latency-like samples: log-normal with a long right tail (occasional stalls)."""
    x = median * np.exp(rng.normal(0.0, cv, n))
    stalls = rng.random(n) < 0.03
    x[stalls] *= rng.uniform(1.5, 3.0, stalls.sum())
    return x


def test_sign_test_ranks_match_the_binomial_tables() -> None:
    """Published sign-test confidence intervals for the median at 95 %: n = 5, 10, 20, 30, 100
    give ranks 1, 2, 6, 10, 40 (explain --latency uses these for its ratio interval)."""
    assert [sign_test_rank(n, 0.95) for n in (5, 10, 20, 30, 100)] == [1, 2, 6, 10, 40]
    assert sign_test_rank(20, 0.99) == 4
    with pytest.raises(ValueError):
        sign_test_rank(10, 1.0)


def test_noise_figures() -> None:
    rng = np.random.default_rng(7)
    x = 0.05 * np.exp(rng.normal(0, 0.05, 400))
    assert coefficient_of_variation(x) == pytest.approx(0.05, rel=0.15)
    assert robust_cv(x) == pytest.approx(0.05, rel=0.15)
    # the median of 400 rounds is ~ 1.25 * 5 % / sqrt(400) noisy
    assert median_cv(x) == pytest.approx(1.2533 * 0.05 / 20, rel=0.3)
    assert np.isnan(coefficient_of_variation([1.0]))
    assert np.isnan(median_cv([1.0]))


# -- the sequential test: simulations where the truth is known ---------------------------------
#
# Each simulated gate run draws per-round timings for A and B (log-normal with occasional
# stalls, as on a shared machine), forms the log-ratios and asks what the gate would have done
# had it looked after every round. Everything is seeded, and
# `test_the_error_rate_holds_whatever_the_seed` shows the guarantee does not rest on one seed.

from pytest_deeplab.gate.sequential import (  # noqa: E402
    RunningBounds,
    SequentialTest,
    bounds,
    critical_count,
    holm,
    log_evidence,
    log_evidence_path,
    min_detectable,
)


def log_ratio_runs(seed: int, runs: int, rounds: int, ratio: float, cv: float) -> np.ndarray:
    """(runs, rounds) per-round log(B/A) for a candidate whose true median ratio is `ratio`."""
    rng = np.random.default_rng(seed)
    a = timings(rng, runs * rounds, 0.05, cv).reshape(runs, rounds)
    b = timings(rng, runs * rounds, 0.05 * ratio, cv).reshape(runs, rounds)
    return np.asarray(np.log(b) - np.log(a))


def sup_log_evidence(d: np.ndarray, threshold: float) -> np.ndarray:
    """Per run: the largest evidence for "above the threshold" seen at any round."""
    return np.asarray(log_evidence_path(d > math.log(threshold)).max(axis=-1))


def test_the_evidence_is_a_fair_bet_under_the_null() -> None:
    """E[E_n] = 1 exactly when a round exceeds the cut with probability 1/2 (a martingale),
    and < 1 when it does so less often: what Ville's inequality needs."""
    for n in (1, 7, 40, 200):
        weights = np.array([math.comb(n, s) for s in range(n + 1)], dtype=float)
        values = np.exp(log_evidence(np.arange(n + 1), n))
        assert float(weights @ values) / 2**n == pytest.approx(1.0, rel=1e-9)
        p = 0.4
        probs = weights * p ** np.arange(n + 1) * (1 - p) ** (n - np.arange(n + 1))
        assert float(probs @ values) < 1.0


def test_looking_after_every_round_keeps_the_error_rate() -> None:
    """Worst case of the null: B/A exactly at the threshold, 2000 runs of 400 rounds, the test
    consulted after every round. The sequential test alarms in at most alpha = 5 % of runs; the
    fixed-sample sign interval (one-sided 2.5 %), consulted the same way, alarms far more often."""
    threshold, alpha, runs, rounds = 1.05, 0.05, 2000, 400
    d = log_ratio_runs(11, runs, rounds, threshold, 0.04)
    sequential = float(np.mean(sup_log_evidence(d, threshold) >= math.log(1 / alpha)))
    assert sequential <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / runs)

    above = np.cumsum(d > math.log(threshold), axis=1)
    n = np.arange(1, rounds + 1)
    need = np.array([k - sign_test_rank(k, 0.95) + 1 for k in n])  # low bound above the cut
    naive = float(np.mean(np.any((above >= need) & (n >= 10), axis=1)))
    assert naive > 3 * 0.025  # repeated looks inflate the fixed interval's 2.5 % several-fold
    assert naive > 2 * sequential


def test_holm_holds_the_family_wise_rate_over_five_models() -> None:
    """Five models, each exactly at the threshold (the worst null), 1000 runs: Holm over their
    anytime p-values alarms somewhere in at most ~5 % of runs; testing each at 5 % does not."""
    threshold, alpha, runs, models, rounds = 1.05, 0.05, 1000, 5, 300
    d = log_ratio_runs(12, runs * models, rounds, threshold, 0.04).reshape(runs, models, rounds)
    p = np.minimum(1.0, np.exp(-sup_log_evidence(d, threshold)))
    with_holm = np.mean([any(holm(list(p_run), alpha)) for p_run in p])
    uncorrected = np.mean(np.any(p <= alpha, axis=1))
    assert with_holm <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / runs)
    assert uncorrected > alpha + 2 * math.sqrt(alpha * (1 - alpha) / runs)


def test_holm_step_down_by_hand() -> None:
    # sorted: 0.005 <= 0.05/4, 0.01 <= 0.05/3, 0.03 > 0.05/2: stop there
    assert holm([0.01, 0.04, 0.03, 0.005], 0.05) == [True, False, False, True]
    # Bonferroni (0.05/2 each) would reject only the first of these; Holm rejects both
    assert holm([0.02, 0.03], 0.05) == [True, True]
    assert holm([], 0.05) == []


def test_a_five_percent_slowdown_fails_at_1_02_within_a_few_hundred_rounds() -> None:
    """Five models' worth of family (alpha/10 per side: latency and CPU), 300 runs of a
    candidate truly 5 % slower: the FAIL boundary is crossed in (nearly) every run, and the
    median run needs well under 200 rounds (about 20 s for a 50 ms model)."""
    threshold, alpha_each, runs, rounds = 1.02, 0.05 / 10, 300, 600
    d = log_ratio_runs(13, runs, rounds, 1.05, 0.035)
    path = log_evidence_path(d > math.log(threshold))
    crossed = path >= math.log(1 / alpha_each)
    assert crossed.any(axis=1).mean() >= 0.98
    first = np.argmax(crossed, axis=1)[crossed.any(axis=1)] + 1
    assert float(np.median(first)) < 200


def test_the_confidence_sequence_covers_at_every_look() -> None:
    """300 runs of 300 rounds with true median ratio 1.03, bounds read every 10 rounds: in at
    most alpha of the runs does any look exclude the truth (each side at alpha/2)."""
    truth, alpha, runs = 1.03, 0.05, 300
    d = log_ratio_runs(14, runs, 300, truth, 0.05)
    missed = 0
    for run in d:
        for n in range(10, 301, 10):
            b = bounds(run[:n], alpha / 2)
            if not b.low <= truth <= b.high:
                missed += 1
                break
    assert missed <= alpha * runs + 2 * math.sqrt(alpha * (1 - alpha) * runs)


def test_bounds_and_the_test_agree() -> None:
    """The lower bound lies above the threshold exactly when the FAIL evidence crossed."""
    d = log_ratio_runs(15, 1, 120, 1.06, 0.04)[0]
    test = SequentialTest(1.02, 0.005)
    for i, value in enumerate(d, 1):
        test.add(float(value))
        b = bounds(d[:i], 0.005)
        assert (b.low > 1.02) == (float(log_evidence(test.above, i)) >= math.log(200))
    assert test.failed and test.p_fail <= 0.005


def test_the_detectable_ratio_is_what_the_rounds_can_see() -> None:
    """From one A/A run of 150 rounds: candidates 3 % beyond the detectable ratio FAIL at 150
    rounds in most fresh runs; candidates at the threshold almost never."""
    threshold, alpha_each, n = 1.02, 0.005, 150
    detectable = min_detectable(log_ratio_runs(16, 1, n, 1.0, 0.035)[0], threshold, alpha_each)
    assert threshold < detectable < 1.2
    need = critical_count(n, alpha_each)
    for ratio, low, high in ((detectable * 1.03, 0.6, 1.0), (threshold, 0.0, 0.02)):
        d = log_ratio_runs(17, 300, n, ratio, 0.035)
        fails = float(np.mean((d > math.log(threshold)).sum(axis=1) >= need))
        assert low <= fails <= high, (ratio, fails)


def test_a_clear_a_a_run_is_decided_quickly_and_passes() -> None:
    d = log_ratio_runs(18, 1, 2000, 1.0, 0.035)[0]
    test = SequentialTest(1.05, 0.005)
    for value in d:
        test.add(float(value))
        if test.decided:
            break
    assert test.cleared and not test.failed
    assert test.rounds < 100


@pytest.mark.parametrize("seed", [21, 22, 23, 24, 25])
def test_the_error_rate_holds_whatever_the_seed(seed: int) -> None:
    """The guarantee is not one lucky draw: at the worst null (B/A exactly at the threshold),
    each of five independently seeded sets of 400 runs alarms in at most alpha = 5 % of runs
    (plus two binomial standard errors)."""
    runs, alpha = 400, 0.05
    d = log_ratio_runs(seed, runs, 200, 1.05, 0.04)
    rate = float(np.mean(sup_log_evidence(d, 1.05) >= math.log(1 / alpha)))
    assert rate <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / runs)


def test_critical_counts_grow_like_a_sign_test_with_a_price_for_peeking() -> None:
    for n in (50, 200, 1000):
        k_fixed = n - sign_test_rank(n, 0.99) + 1  # fixed-n one-sided 0.5 %
        k_any = critical_count(n, 0.005)
        assert k_fixed <= k_any <= k_fixed + 0.1 * n
    assert critical_count(5, 0.005) == 6  # too few rounds: no count can decide


# -- the bounds shown: the running intersection, which agrees with the verdict ----------------

def test_running_bounds_are_the_intersection_of_every_rounds_bounds() -> None:
    d = log_ratio_runs(21, 1, 400, 1.01, 0.06)[0]
    running = RunningBounds(0.01)
    low, high = 0.0, math.inf
    for n, value in enumerate(d, 1):
        running.add(float(value))
        b = bounds(d[:n], 0.01)  # the confidence sequence at round n, computed afresh
        low, high = max(low, b.low), min(high, b.high)
        shown = running.bounds()
        assert (shown.low, shown.high, shown.rounds) == pytest.approx((low, high, n))
    assert shown.ratio == pytest.approx(math.exp(float(np.median(d))))


@pytest.mark.parametrize("seed", range(6))
def test_a_metric_cleared_early_keeps_bounds_below_its_threshold(seed: int) -> None:
    """Issue 20's row: latency cleared on its running evidence, sampling went on (for CPU
    time), and the last round's bounds straddled the threshold beside a pass. The running
    intersection cannot: cleared <=> its upper bound lies below, failed <=> its lower above,
    undecided <=> it straddles, at every round."""
    threshold, alpha = 1.02, 0.0125
    d = log_ratio_runs(30 + seed, 1, 600, 0.99 + 0.01 * seed, 0.05)[0]
    test, running = SequentialTest(threshold, alpha), RunningBounds(alpha)
    for value in d:
        test.add(float(value))
        running.add(float(value))
        b = running.bounds()
        assert test.cleared == (b.high < threshold)
        assert test.failed == (b.low > threshold)
    last = bounds(d, alpha)  # what the table showed before: the last round's bounds alone
    if test.cleared:
        assert test.decided_at is not None and test.decided_at <= len(d)
        assert running.bounds().high <= last.high


# -- rounds of several calls per side: the fastest of each side is compared -------------------

def loaded_calls(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """Calls on a busy machine: the call's own cost (2 % noise) plus, in most calls, time lost
    to preemption (up to 1.5 times the cost): what one busy core does to a 2-thread model."""
    lost = np.where(rng.random(n) < 0.6, rng.uniform(0.0, 1.5, n), 0.0)
    return 0.2 * scale * np.exp(rng.normal(0, 0.02, n)) * (1 + lost)


def rounds_of(a: np.ndarray, b: np.ndarray, calls: int) -> list[float]:
    from pytest_deeplab.gate.sampling import round_log_ratio

    return [round_log_ratio(a[: i + calls], b[: i + calls], calls)
            for i in range(0, len(a) - calls + 1, calls)]


def test_rounds_of_several_calls_keep_the_false_alarm_rate() -> None:
    """A/A against the threshold 1.0 itself (the worst case of the null), every round looked
    at: the fastest-of-4 ratio is as often above as below, so false FAILs stay <= alpha."""
    calls, rng, alpha, runs = 4, np.random.default_rng(44), 0.05, 200
    alarms = 0
    for _ in range(runs):
        a, b = loaded_calls(rng, 240, 1.0), loaded_calls(rng, 240, 1.0)
        test = SequentialTest(1.0, alpha)
        for d in rounds_of(a, b, calls):
            test.add(d)
        alarms += test.failed
    assert alarms <= alpha * runs + 2 * math.sqrt(alpha * (1 - alpha) * runs)


def test_rounds_to_decide_follows_the_split_between_rounds() -> None:
    from pytest_deeplab.gate.sequential import rounds_to_decide

    alpha = 0.0125
    fewest = min(n for n in range(1, 200) if critical_count(n, alpha) <= n)
    assert rounds_to_decide(1.0, alpha) == fewest  # every round on one side
    needs = [rounds_to_decide(share, alpha) for share in (0.9, 0.75, 0.6, 0.55)]
    assert all(isinstance(n, int) for n in needs) and needs == sorted(needs)
    n = needs[2]
    assert n is not None and critical_count(n, alpha) <= int(0.6 * n)  # n rounds at 60 % do
    assert critical_count(n - 1, alpha) > int(0.6 * (n - 1))  # and one fewer does not
    assert rounds_to_decide(0.5, alpha) is None


def test_the_mixture_decides_sooner_than_one_spread_down_to_half() -> None:
    """The alternatives start at 0.52: weight on shares a budget can never resolve would only
    delay the decisions it can. Compared with a mixture of 32 points from 0.504, written out
    here from the definition, at the same level."""
    from pytest_deeplab.gate.sequential import log_evidence, rounds_to_decide

    thetas = 0.5 + np.geomspace(0.004, 0.496, 32)

    def wide(share: float, alpha: float) -> int:
        for n in range(1, 5000):
            s = math.floor(share * n)
            terms = s * np.log(2 * thetas) + (n - s) * np.log(2 * (1 - thetas))
            if math.log(np.mean(np.exp(terms))) >= math.log(1 / alpha):
                return n
        raise AssertionError("undecided")

    for share in (0.55, 0.6, 0.67, 0.75, 0.9):
        ours, theirs = rounds_to_decide(share, 0.025), wide(share, 0.025)
        assert ours is not None and ours <= 0.97 * theirs, (share, ours, theirs)
    assert float(log_evidence(0, 10)) < 0  # rounds all below the cut are evidence against
