"""What the checks found per model: the figures the terminal summary, the reports, xdist and
shard results files carry (plain data: no numpy, no TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ModelResults:
    """What the terminal summary and reports show per model."""

    miou: float | None = None
    miou_threshold: float | None = None
    miou_passed: bool | None = None
    agreements: dict[str, float] = field(default_factory=dict)
    golden_written: list[str] = field(default_factory=list)
    latency_median_s: float | None = None
    cpu_median_s: float | None = None
    first_call_s: float | None = None
    skipped: str | None = None
    latency_unmeasured: str | None = None

    @property
    def worst_agreement(self) -> float | None:
        return min(self.agreements.values()) if self.agreements else None

    def merge(self, other: dict[str, Any]) -> None:
        """Fold in what an xdist worker measured for this model."""
        for key, value in other.items():
            if key == "agreements":
                self.agreements.update(value)
            elif key == "golden_written":
                self.golden_written.extend(value)
            elif value is not None:
                setattr(self, key, value)
