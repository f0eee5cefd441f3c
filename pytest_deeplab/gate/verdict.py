"""Verdicts: pass / slower within threshold / FAIL / INCONCLUSIVE, with the family-wise error held.

Every (model, gated metric) pair is one hypothesis "B/A is at most the threshold". Sampling
stops each one at the Bonferroni level alpha/m (gate_sampling); at the end Holm's step-down
procedure runs over all m anytime-valid p-values, so the chance that a run raises *any* false
FAIL stays at most alpha = 1 - confidence, whatever the dependence between models. A metric
that is neither shown above nor below its threshold when the budget runs out is INCONCLUSIVE:
the run could not tell, and says so instead of passing.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

from pytest_deeplab.gate.results import ERROR, FAIL, INCONCLUSIVE, ModelOutcome
from pytest_deeplab.gate.sequential import Bounds, RunningBounds, holm, rounds_to_decide
from pytest_deeplab.gate.settings import GateSettings

METRIC_LABEL = {"latency": "latency B/A", "cpu": "CPU time B/A"}


def family_size(settings: GateSettings, models: int) -> int:
    return max(1, models * len(settings.gated_metrics))


def decide(outcomes: Sequence[ModelOutcome], settings: GateSettings) -> None:
    """Holm across every tested hypothesis, then each model's verdict."""
    alpha = 1 - settings.confidence
    tested = [(m, metric) for m in outcomes if m.error is None for metric in m.p_fail]
    p_values = [m.p_fail[metric] for m, metric in tested]
    rejected = holm(p_values, alpha)
    above: dict[str, set[str]] = {m.name: set() for m in outcomes}
    order = sorted(range(len(tested)), key=lambda i: p_values[i])
    for rank, i in enumerate(order):
        if rejected[i]:
            m, metric = tested[i]
            above[m.name].add(metric)
            _bounds_at_holm_level(m, metric, alpha / (len(tested) - rank))
    for m in outcomes:
        judge(m, settings, above[m.name])


def _bounds_at_holm_level(outcome: ModelOutcome, metric: str, level: float) -> None:
    """Holm may reject a metric at a wider level than the one sampling stopped at; its bounds
    are then shown at that level, where they clear the threshold as its FAIL says (the same
    rounds, the same running intersection), not at the narrower one that still straddles."""
    shown = outcome.ratio if metric == "latency" else outcome.cpu_ratio
    rounds = outcome.round_log_ratios.get(metric, [])
    if shown is None or not rounds or level <= shown.alpha * (1 + 1e-9):  # 1 - 0.95 != 0.05
        return
    running = RunningBounds(level)
    for d in rounds:
        running.add(d)
    outcome.holm_widened.add(metric)
    if metric == "latency":
        outcome.ratio = running.bounds()
    else:
        outcome.cpu_ratio = running.bounds()


def _bounds_text(b: Bounds | None) -> str:
    return "-" if b is None else f"{b.ratio:.3f} [{b.low:.3f}, {b.high:.3f}]"


def _load(outcome: ModelOutcome) -> str:
    load, cores = outcome.load_average, os.cpu_count() or 1
    if load is None:
        return ""
    if load < cores:
        return f"; load average {load:.1f}"
    return (f"; load average {load:.1f} on {cores} cores: preempted intra-op threads make each "
            "call's time its own, so pairing cancels little (--threads 1 pairs far better, "
            "docs/gate-under-load.md)")


def _needed(outcome: ModelOutcome, undecided: list[str], thresholds: dict[str, float]) -> str:
    """How long the rounds' own spread says a decision would take (the slowest metric)."""
    if outcome.rounds < 2 or outcome.ratio is None:
        return ""
    alpha = outcome.ratio.alpha  # the level each metric of this model stops at
    worst = 0
    for metric in undecided:
        d = outcome.round_log_ratios.get(metric, [])
        cut = math.log(thresholds[metric])
        share = max(sum(x > cut for x in d), sum(x < cut for x in d)) / max(len(d), 1)
        need = rounds_to_decide(share, alpha)
        if need is None:
            return "; at the split seen between rounds above and below, no budget would do"
        worst = max(worst, need)
    per_round = outcome.sampling_seconds / outcome.rounds
    return (f"; at the split seen, about {worst} rounds (~{worst * per_round:.0f} s) would "
            "decide it")


def judge(outcome: ModelOutcome, settings: GateSettings, above: set[str]) -> None:
    """Set the verdict; `above` holds the metrics Holm declared above their threshold.

    The reasons are rebuilt, not appended to: judging an outcome again repeats nothing.
    """
    reasons = outcome.reasons = []
    outcome.failed = outcome.inconclusive = False
    if outcome.error is not None:
        reasons.append(f"could not run: {outcome.error}")
        outcome.verdict, outcome.failed = ERROR, True
        return
    worst = outcome.worst_agreement
    if worst is None:
        reasons.append("no images to compare masks on")
    elif worst < outcome.min_agreement:
        bad = [k for k, v in outcome.agreement.items() if v < outcome.min_agreement]
        shown_images = ", ".join(bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
        reasons.append(f"masks agree {worst:.4%} < min_agreement {outcome.min_agreement:.4%} "
                       f"on {len(bad)} of {len(outcome.agreement)} images ({shown_images})")
    thresholds = {"latency": settings.threshold,
                  "cpu": settings.cpu_threshold or settings.threshold}
    shown = {"latency": outcome.ratio, "cpu": outcome.cpu_ratio}
    for metric in settings.gated_metrics:
        if metric in above:
            b = shown[metric]
            level = (f"; bounds at {1 - b.alpha:.2%}, the level Holm rejected it at"
                     if b is not None and metric in outcome.holm_widened else "")
            reasons.append(f"{METRIC_LABEL[metric]} {_bounds_text(b)} lies above "
                           f"{thresholds[metric]:.2f} (p = {outcome.p_fail[metric]:.2g}, Holm "
                           f"over the run at {1 - settings.confidence:.0%}{level})")
    outcome.failed = bool(reasons)  # no images to compare on fails closed too
    undecided = [m for m in settings.gated_metrics
                 if m not in above and not outcome.cleared.get(m, False)]
    if outcome.failed:
        outcome.verdict = FAIL
    elif undecided:
        outcome.inconclusive = True
        outcome.verdict = INCONCLUSIVE
        straddling = [f"{METRIC_LABEL[m]} {_bounds_text(shown[m])} still straddles "
                      f"{thresholds[m]:.2f}" for m in undecided]
        reasons.append(
            f"{' and '.join(straddling)} after {outcome.rounds} rounds "
            f"({outcome.sampling_seconds:.0f} s; stopped: {outcome.stopped}){_load(outcome)}"
            f"{_needed(outcome, undecided, thresholds)}: rerun with a larger "
            "--max-seconds on a quieter machine")
    else:
        ratio = outcome.ratio
        assert ratio is not None
        if ratio.low > 1.0:
            outcome.verdict = "pass (slower, within threshold)"
        elif ratio.high < 1.0:
            outcome.verdict = "pass (faster)"
        else:
            outcome.verdict = "pass (no significant change)"
    reasons += _drift_notes(outcome, settings)


def _drift_notes(outcome: ModelOutcome, settings: GateSettings) -> list[str]:
    """The bounds shown are those that decided, kept since their round; when the median of all
    rounds has since left them, the ratio moved during the run (warm-up, a load that hit one
    side, a build whose speed changes as it runs) and the row must not read as one steady
    figure. A note, not a verdict: the test holds round by round whatever the drift."""
    notes = []
    shown = {"latency": outcome.ratio, "cpu": outcome.cpu_ratio}
    for metric in settings.gated_metrics:
        b = shown[metric]
        if b is not None and b.rounds and not b.low <= b.ratio <= b.high:
            notes.append(f"{METRIC_LABEL[metric]} moved during the run: the median of all "
                         f"{b.rounds} rounds, {b.ratio:.3f}, lies outside the bounds reached "
                         f"earlier, [{b.low:.3f}, {b.high:.3f}]; it is not one steady ratio "
                         "(warm-up, load on one side, or a build that slows as it runs)")
    return notes
