"""What the gate measured: per side timings, per model outcome, the whole report (and its JSON)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_deeplab.gate.sequential import Bounds
from pytest_deeplab.gate.settings import GateSettings
from pytest_deeplab.gate.stats import coefficient_of_variation, median_cv

EXIT_PASS, EXIT_FAIL, EXIT_ERROR, EXIT_INCONCLUSIVE = 0, 1, 2, 3

FAIL, ERROR, INCONCLUSIVE = "FAIL", "ERROR", "INCONCLUSIVE"


@dataclass
class SideSamples:
    load_s: float = float("nan")
    first_call_s: float = float("nan")
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {
            "load_s": self.load_s,
            "first_call_s": self.first_call_s,
            "median_s": float(np.median(self.wall)) if self.wall else float("nan"),
            "cpu_median_s": float(np.median(self.cpu)) if self.cpu else float("nan"),
            "cv": coefficient_of_variation(self.wall),
            "median_cv": median_cv(self.wall),
        }


@dataclass
class ModelOutcome:
    name: str
    min_agreement: float
    a: SideSamples = field(default_factory=SideSamples)
    b: SideSamples = field(default_factory=SideSamples)
    image: str = ""
    image_size: tuple[int, int] = (0, 0)
    ratio: Bounds | None = None  # latency B/A, anytime-valid bounds at the stopping level
    cpu_ratio: Bounds | None = None
    min_detectable: float = float("inf")  # smallest latency B/A these rounds would FAIL
    p_fail: dict[str, float] = field(default_factory=dict)  # metric -> anytime p-value
    cleared: dict[str, bool] = field(default_factory=dict)  # metric -> decisively below
    decided_round: dict[str, int] = field(default_factory=dict)  # metric -> round it decided
    stopped: str = ""  # decided | budget | rounds | max rounds
    agreement: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    error_side: str | None = None  # "A" or "B" when one worker could not load or run it
    verdict: str = ""
    failed: bool = False
    inconclusive: bool = False
    reasons: list[str] = field(default_factory=list)
    holm_widened: set[str] = field(default_factory=set)  # metrics shown at Holm's level
    seconds: float = 0.0  # load, warm-up, rounds and masks
    sampling_seconds: float = 0.0  # the alternating rounds alone

    load_average: float | None = None  # the machine's 1-minute load when sampling ended
    calls_per_round: int = 1  # calls per side in one round (its fastest gives the ratio)
    round_log_ratios: dict[str, list[float]] = field(default_factory=dict)  # metric -> per round

    @property
    def rounds(self) -> int:
        """Complete rounds: every side made all its calls."""
        return min(len(self.a.wall), len(self.b.wall)) // max(self.calls_per_round, 1)

    @property
    def worst_agreement(self) -> float | None:
        return min(self.agreement.values()) if self.agreement else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "verdict": self.verdict,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "reasons": self.reasons,
            "error": self.error,
            "error_side": self.error_side,
            "image": self.image,
            "image_size": list(self.image_size),
            "rounds": self.rounds,
            "calls_per_round": self.calls_per_round,
            "load_average": self.load_average,
            "round_log_ratios": self.round_log_ratios,
            "stopped": self.stopped,
            "ratio": self.ratio.as_dict() if self.ratio else None,
            "cpu_ratio": self.cpu_ratio.as_dict() if self.cpu_ratio else None,
            "min_detectable": self.min_detectable,
            "p_fail": self.p_fail,
            "decided_round": self.decided_round,
            "agreement": self.agreement,
            "min_agreement": self.min_agreement,
            "a": {**self.a.summary(), "wall": self.a.wall, "cpu": self.a.cpu},
            "b": {**self.b.summary(), "wall": self.b.wall, "cpu": self.b.cpu},
            "seconds": self.seconds,
            "sampling_seconds": self.sampling_seconds,
        }


@dataclass
class GateReport:
    settings: GateSettings
    identities: dict[str, dict[str, Any]]
    models: list[ModelOutcome]
    seconds: float = 0.0
    hypotheses: int = 0  # how many (model, metric) tests share the family-wise error

    @property
    def failed(self) -> bool:
        return any(m.failed for m in self.models)

    @property
    def inconclusive(self) -> bool:
        return any(m.inconclusive for m in self.models)

    @property
    def exit_code(self) -> int:
        if self.failed:
            return EXIT_FAIL
        return EXIT_INCONCLUSIVE if self.inconclusive else EXIT_PASS

    def as_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "threshold": s.threshold,
            "cpu_threshold": s.cpu_threshold,
            "confidence": s.confidence,
            "max_seconds": s.max_seconds,
            "hypotheses": self.hypotheses,
            "method": "sequential sign test (anytime-valid), Holm across models and metrics",
            "sides": {
                side.label: {"python": side.python, "env": side.env, "threads": side.threads,
                             "asked": side.asked, "origin": side.origin,
                             "expected": side.expected,
                             **self.identities.get(side.label, {})}
                for side in (s.baseline, s.candidate)
            },
            "models": [m.as_dict() for m in self.models],
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "exit_code": self.exit_code,
            "seconds": self.seconds,
        }
