"""What a gate run was asked to do: the two sides, the models, thresholds and budgets."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deeplab.gate.process import Side


@dataclass
class GateSettings:
    baseline: Side
    candidate: Side
    models: str
    rootdir: Path
    config_file: Path | None = None
    cache_dir: Path | None = None
    mirrors: list[str] = field(default_factory=list)
    offline: bool = False
    require_pins: bool | None = None  # None: the project's deeplab_require_pins ini key
    threshold: float = 1.10
    cpu_threshold: float | None = 1.10  # None: CPU time is reported, not gated
    rounds: int | None = None  # a fixed number of rounds; None: sequential (stop when decided)
    max_seconds: float = 60.0  # per model, alternating rounds only: then INCONCLUSIVE
    max_rounds: int = 20000
    warmup: int = 5
    settle: float = 0.0  # pause before each timed call: lets the other side's threads sleep
    calls_per_round: int = 1  # calls per side per round; the fastest of each side is compared
    confidence: float = 0.95  # family-wise: P(any false FAIL in the whole run) <= 1 - this
    max_images: int | None = None
    load_timeout: float = 900.0

    def worker_options(self, side: Side) -> dict[str, Any]:
        return {
            "rootdir": str(self.rootdir),
            "config_file": str(self.config_file) if self.config_file else None,
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "mirrors": list(self.mirrors),
            "offline": self.offline,
            "require_pins": self.require_pins,
            "threads": side.threads,
        }

    @property
    def gated_metrics(self) -> tuple[str, ...]:
        return ("latency", "cpu") if self.cpu_threshold is not None else ("latency",)
