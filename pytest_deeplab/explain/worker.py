"""The explain worker: `python -m pytest_deeplab.explain.worker`, run in each environment.

It is the gate's worker (same JSON-lines protocol, same guarded stdout, same `hello` and
`identity`) with the commands explain needs; TensorFlow is reached only through
`pytest_deeplab.runtime`:

  explain_compat  path, format           pre-flight: ops, attributes, GraphDef versions
  explain_open    path, format, image, input_tensor, output_tensor, threads, xnnpack, unfused,
                  allow_ops (the op allowlist is checked in the worker, before anything loads)
                                         load, run on the image (.npy), list its float tensors
  explain_dump    names, folder          write those tensors as .npy files (one pass)
  explain_mask    file                   write the final mask (.npy)
  explain_close                          release the model; report this process's peak RSS
  latency_open    path, format, image, input_tensor, output_tensor, threads, xnnpack, warmup,
                  allow_ops, settings (the model's own keys of its format: normalize, resize)
                                         load the latency probe, warm up; how the model runs
  latency_rounds  n, traced              n rounds: an untraced run, then (traced) a probed one
  latency_nodes                          what each probed op is (index, name, type, shape)
  latency_close                          release the model
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pytest_deeplab.gate import worker as gate_worker


def peak_rss_mb() -> float | None:
    """This process's peak resident set size in MiB (None where `resource` is missing)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class ExplainWorker(gate_worker.Worker):
    """The gate worker plus one model's intermediates."""

    def __init__(self) -> None:
        super().__init__()
        self.run: Any = None

    def cmd_explain_compat(self, request: dict[str, Any]) -> dict[str, Any]:
        from pytest_deeplab.runtime.formats import get_format

        return {"compat": get_format(request["format"]).preflight(Path(request["path"]))}

    def cmd_explain_open(self, request: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        from pytest_deeplab.runtime.identity import onednn_active
        from pytest_deeplab.runtime.intermediates import open_intermediates

        image = np.load(request["image"], allow_pickle=False)
        self.run = open_intermediates(
            Path(request["path"]), request["format"],
            input_tensor=request.get("input_tensor"),
            output_tensor=request.get("output_tensor"),
            threads=request.get("threads"), image=image,
            xnnpack=bool(request.get("xnnpack", True)),
            unfused=bool(request.get("unfused", False)),
            allow_ops=tuple(request.get("allow_ops", ())),
            settings=request.get("settings") or {},
        )
        return {"tensors": [r.as_dict() for r in self.run.records],
                "describe": {**self.run.describe(), "onednn_active": onednn_active()}}

    def _opened(self) -> Any:
        if self.run is None:
            raise RuntimeError("explain_open must come before explain_dump / explain_mask")
        return self.run

    def cmd_explain_dump(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"files": self._opened().dump(list(request["names"]), Path(request["folder"]))}

    def cmd_explain_mask(self, request: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        mask = self._opened().mask()
        np.save(request["file"], mask, allow_pickle=False)
        return {"shape": list(mask.shape)}

    def cmd_explain_close(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.run is not None:
            self.run.close()
            self.run = None
        return {"peak_rss_mb": peak_rss_mb()}


class LatencyWorker(ExplainWorker):
    """The explain worker plus the latency probe (`explain --latency`)."""

    def __init__(self) -> None:
        super().__init__()
        self.probe: Any = None

    def cmd_latency_open(self, request: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        from pytest_deeplab.runtime.latency_registry import open_latency_probe

        self.probe = open_latency_probe(
            Path(request["path"]), request["format"],
            input_tensor=request.get("input_tensor"),
            output_tensor=request.get("output_tensor"),
            threads=request.get("threads"),
            image=np.load(request["image"], allow_pickle=False),
            xnnpack=bool(request.get("xnnpack", True)),
            allow_ops=tuple(request.get("allow_ops", ())),
            settings=request.get("settings") or {})
        for _ in range(int(request.get("warmup", 3))):
            self.probe.untraced()
            if self.probe.available:
                self.probe.traced()
        return {"how": self.probe.how_it_runs(), "available": self.probe.available,
                "unavailable": self.probe.unavailable, "probe": self.probe.probe_kind}

    def _probe(self) -> Any:
        if self.probe is None:
            raise RuntimeError("latency_open must come before latency_rounds / latency_nodes")
        return self.probe

    def cmd_latency_rounds(self, request: dict[str, Any]) -> dict[str, Any]:
        probe = self._probe()
        traced = bool(request.get("traced", True)) and probe.available
        untraced_s, traced_s, ops = [], [], []
        for _ in range(int(request["n"])):
            untraced_s.append(probe.untraced())
            if traced:
                wall, times = probe.traced()
                traced_s.append(wall)
                ops.append({k: round(v, 6) for k, v in times.items()})
        return {"untraced": untraced_s, "traced_wall": traced_s, "traced": ops}

    def cmd_latency_nodes(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"nodes": {k: v.as_dict() for k, v in self._probe().nodes().items()}}

    def cmd_latency_close(self, request: dict[str, Any]) -> dict[str, Any]:
        if self.probe is not None:
            self.probe.close()
            self.probe = None
        return {"peak_rss_mb": peak_rss_mb()}


def main() -> None:
    """The gate worker's loop (one reply per request, errors as replies, stdout kept for the
    protocol), serving this worker's commands."""
    gate_worker.main(LatencyWorker)


if __name__ == "__main__":
    main()
