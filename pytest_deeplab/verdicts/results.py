"""What the checks found per model: the figures the terminal summary, the reports, xdist and
shard results files carry (plain data: no numpy, no TensorFlow)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
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
    mirror_pin: dict[str, str] | None = None  # fetching.trust.MirrorPin: pinned on a mirror's word

    @property
    def worst_agreement(self) -> float | None:
        known = [v for v in self.agreements.values() if v is not None]
        return min(known) if known else None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelResults:
        """Rebuilt from its JSON form (an xdist export or a shard's results file)."""
        names = {f.name for f in fields(cls)}
        results = cls()
        results.merge({k: v for k, v in data.items() if k in names})
        return results

    def merge(self, other: dict[str, Any]) -> None:
        """Fold in what an xdist worker measured for this model."""
        for key, value in other.items():
            if key == "agreements":
                self.agreements.update(value)
            elif key == "golden_written":
                self.golden_written.extend(value)
            elif value is not None:
                setattr(self, key, value)
