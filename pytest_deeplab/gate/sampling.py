"""Measuring one model: load on both sides, warm up, alternate rounds until decided, masks.

Rounds alternate A B, B A, ... so neither side always goes first; after every round the
sequential tests (gate_sequential) are updated and sampling stops as soon as every gated metric
is decided, or one is decided against the candidate, or the time budget is spent. Both sides
must return a mask for every image: one that is missing is an error, never a smaller sample.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence

import numpy as np

from pytest_deeplab.constants import Log
from pytest_deeplab.gate.process import WorkerCommandError, WorkerProcess, call_both
from pytest_deeplab.gate.results import ModelOutcome
from pytest_deeplab.gate.sequential import RunningBounds, SequentialTest, min_detectable
from pytest_deeplab.gate.settings import GateSettings
from pytest_deeplab.gate.worker import decode_mask

PROGRESS_EVERY_S = 15.0


class MaskMismatch(RuntimeError):
    """One side returned masks for other images than the other side."""


def measure_model(
    workers: Sequence[WorkerProcess], name: str, min_agreement: float, settings: GateSettings,
    alpha_each: float, log: Log,
) -> ModelOutcome:
    """Everything the verdict needs about model `name`; errors end up in `outcome.error`."""
    a, b = workers
    outcome = ModelOutcome(name, min_agreement)
    started = time.perf_counter()
    samples = {a.side.label: outcome.a, b.side.label: outcome.b}
    tests = {"latency": SequentialTest(settings.threshold, alpha_each),
             "cpu": SequentialTest(settings.cpu_threshold or settings.threshold, alpha_each)}
    gated = [tests[m] for m in settings.gated_metrics]
    shown = {"latency": RunningBounds(alpha_each), "cpu": RunningBounds(alpha_each)}
    try:
        for worker in (a, b):  # one after the other: a first call must not share the CPU
            reply = worker.call("load", timeout=settings.load_timeout, model=name)
            s = samples[worker.side.label]
            s.load_s, s.first_call_s = reply["load_s"], reply["first_call_s"]
            outcome.image = reply["image"]
            outcome.image_size = (int(reply["image_size"][0]), int(reply["image_size"][1]))
        steady = []
        for worker in (a, b):
            warm = worker.call("infer", timeout=settings.load_timeout, model=name,
                               n=settings.warmup)
            steady.append(float(np.median(warm["wall"])) if warm["wall"] else 1.0)
        plan = (f"{settings.rounds} rounds" if settings.rounds else
                f"rounds until decided, at most {settings.max_seconds:.0f} s")
        log(f"gate: {name}: first call A {outcome.a.first_call_s:.3f} s, "
            f"B {outcome.b.first_call_s:.3f} s; {plan} ...")
        timeout = max(60.0, 50 * max(steady))
        sampling_start = time.perf_counter()
        next_progress = sampling_start + PROGRESS_EVERY_S
        k = outcome.calls_per_round = settings.calls_per_round
        while True:
            i = outcome.rounds
            for j in range(k):  # pairs alternate AB, BA: each side as often first as second
                for worker in (a, b) if (i * k + j) % 2 == 0 else (b, a):
                    if settings.settle:
                        time.sleep(settings.settle)
                    reply = worker.call("infer", timeout=timeout, model=name, n=1)
                    s = samples[worker.side.label]
                    s.wall.append(float(reply["wall"][0]))
                    s.cpu.append(max(float(reply["cpu"][0]), 1e-9))
            for metric, d in (("latency", round_log_ratio(outcome.a.wall, outcome.b.wall, k)),
                              ("cpu", round_log_ratio(outcome.a.cpu, outcome.b.cpu, k))):
                tests[metric].add(d)
                shown[metric].add(d)
                outcome.round_log_ratios.setdefault(metric, []).append(d)
            rounds, now = i + 1, time.perf_counter()
            stop = _stop_reason(settings, gated, rounds, now - sampling_start)
            if stop:
                outcome.stopped = stop
                break
            if now >= next_progress:
                next_progress = now + PROGRESS_EVERY_S
                bound = shown["latency"].bounds()
                log(f"gate: {name}: {rounds} rounds, latency B/A {bound.ratio:.3f} "
                    f"[{bound.low:.3f}, {bound.high:.3f}] ...")
        outcome.sampling_seconds = time.perf_counter() - sampling_start
        with contextlib.suppress(OSError, AttributeError):  # not on every platform
            outcome.load_average = os.getloadavg()[0]
        masks_a, masks_b = call_both(workers, "masks", settings.load_timeout, model=name,
                                     limit=settings.max_images)
        outcome.agreement = agreement_by_image(masks_a["masks"], masks_b["masks"])
    except (WorkerCommandError, MaskMismatch) as exc:
        outcome.error = str(exc)
        outcome.error_side = exc.side if isinstance(exc, WorkerCommandError) else None
    finally:
        for worker in (a, b):
            with contextlib.suppress(WorkerCommandError):
                worker.call("unload", timeout=60, model=name)
    if outcome.rounds >= 1:  # the running intersection: what decided, never contradicting it
        lat = np.asarray(outcome.round_log_ratios["latency"])
        outcome.ratio, outcome.cpu_ratio = shown["latency"].bounds(), shown["cpu"].bounds()
        outcome.min_detectable = min_detectable(lat, settings.threshold, alpha_each)
    for metric in settings.gated_metrics:
        outcome.p_fail[metric] = tests[metric].p_fail
        outcome.cleared[metric] = tests[metric].cleared
        decided_at = tests[metric].decided_at
        if decided_at is not None:
            outcome.decided_round[metric] = decided_at
    outcome.seconds = time.perf_counter() - started
    return outcome


def round_log_ratio(a: Sequence[float], b: Sequence[float], calls: int) -> float:
    """log(B/A) of one round: the fastest of its `calls` calls on each side.

    On a busy machine a call's time is its own cost plus whatever preempted it; the fastest
    of a few calls made side by side is the least disturbed, and under "B takes r times as
    long as A" the fastest of B over the fastest of A still has median r, so the sign test
    stays valid. One call per side (calls=1) is the plain per-round ratio.
    """
    return math.log(min(b[-calls:]) / min(a[-calls:]))


def _stop_reason(settings: GateSettings, gated: Sequence[SequentialTest], rounds: int,
                 elapsed: float) -> str:
    if settings.rounds:
        return "rounds" if rounds >= settings.rounds else ""
    if any(t.failed for t in gated) or all(t.cleared for t in gated):
        return "decided"
    if elapsed >= settings.max_seconds:
        return "budget"
    return "max rounds" if rounds >= settings.max_rounds else ""


def agreement_by_image(a: list[dict[str, str]], b: list[dict[str, str]]) -> dict[str, float]:
    """Pixel agreement per image; an image only one side returned is a MaskMismatch."""
    from pytest_deeplab.verdicts.metrics import pixel_agreement

    a_by_id = {m["id"]: m["png"] for m in a}
    b_by_id = {m["id"]: m["png"] for m in b}
    for side, mine, theirs in (("B", a_by_id, b_by_id), ("A", b_by_id, a_by_id)):
        missing = sorted(set(mine) - set(theirs))
        if missing:
            other = "A" if side == "B" else "B"
            raise MaskMismatch(f"[{side}] returned no mask for {', '.join(missing)} "
                               f"({other} did): the environments see different images")
    result = {}
    for image_id, png in a_by_id.items():
        mask_a, mask_b = decode_mask(png), decode_mask(b_by_id[image_id])
        result[image_id] = (
            pixel_agreement(mask_a, mask_b) if mask_a.shape == mask_b.shape else 0.0
        )
    return result
