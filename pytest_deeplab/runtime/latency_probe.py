"""Where a model's inference time goes, per format: untraced timings and a per-op probe.

`explain --latency` asks each build for two kinds of run, alternated so that machine noise hits
both alike: an untraced run (exactly what the suite times; the verdict comes from these alone)
and a traced run, in which a format-specific probe reports each op's time. A probe reports:

- `how_it_runs()`: delegation (node count, ops outside the delegate, partitions), the kernels
  chosen per node, thread settings: compared first, since a change there explains everything;
- `untraced()`: one inference, its wall time in seconds;
- `traced()`: one inference, its wall time and the ops' times ({node key: ms});
- `nodes()`: what each node key is (index, name, type, shape, kernel), once, after tracing.

A format adds its probe with `ModelFormat.latency_probe` (runtime.formats). A probe
that cannot run in a build says why (`available = False`, `unavailable`): the untraced runs
still happen and still decide the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class NodeInfo:
    """One timed unit of a model as its probe names it."""

    index: int
    name: str
    type: str  # what ran: a TF op type, a TF Lite builtin, an XNNPACK operator
    shape: list[int] = field(default_factory=list)  # its (first) output's shape
    kernel: str = ""  # the kernel that ran, where it says more than the type
    layer: str = ""  # the model-level unit it belongs to, where the format has one (Keras)

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "name": self.name, "type": self.type,
                "shape": list(self.shape), "kernel": self.kernel, "layer": self.layer}


class LatencyProbe(Protocol):
    available: bool
    unavailable: str  # why the per-op probe cannot run here ("" when it can)
    probe_kind: str  # "step_stats (FULL_TRACE)", "TF Lite profiler (ctypes)", ...

    def how_it_runs(self) -> dict[str, Any]: ...

    def untraced(self) -> float: ...

    def traced(self) -> tuple[float, dict[str, float]]: ...

    def nodes(self) -> dict[str, NodeInfo]: ...

    def close(self) -> None: ...
