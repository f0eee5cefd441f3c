"""`explain --latency`: both builds in fresh worker processes, rounds interleaved, then attribution.

Each side gets a worker of its own, started for this run (a fresh process per build, never one
reused from a tensor comparison). Both load the model and warm up; then blocks of rounds
alternate A, B, B, A, ... so drift of a shared machine falls on both alike. A round is one
untraced inference (the verdict's sample) followed by one traced inference (the probe's), so
traced and untraced runs alternate inside each process too.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.constants import Log
from pytest_deeplab.explain.latency_attribution import (
    COVERAGE_TOLERANCE,
    TOLERANCE,
    SideTimes,
    attribute,
)
from pytest_deeplab.explain.sides import ExplainError, ExplainProcess, ModelRef, _check_hello
from pytest_deeplab.gate.controller import GateError, Side, WorkerCommandError
from pytest_deeplab.runtime.formats import get_format

DEFAULT_RUNS = 30
DEFAULT_WARMUP = 3
BLOCK = 5
OPEN_TIMEOUT = 900.0


@dataclass
class LatencySettings:
    model_a: ModelRef
    model_b: ModelRef
    side_a: Side
    side_b: Side
    image: np.ndarray
    image_path: Path
    runs: int = DEFAULT_RUNS
    warmup: int = DEFAULT_WARMUP
    xnnpack_a: bool | None = None  # None: the model's own `xnnpack` key (on unless it says off)
    xnnpack_b: bool | None = None
    tolerance: float = TOLERANCE
    coverage_tolerance: float = COVERAGE_TOLERANCE
    workdir: Path | None = None


@dataclass
class _Live:
    label: str
    model: ModelRef
    worker: ExplainProcess
    identity: dict[str, Any]
    opened: dict[str, Any]
    times: SideTimes
    xnnpack: bool = True  # TF Lite: whether this side ran with the XNNPACK delegate


def run_latency(settings: LatencySettings, log: Log | None = None) -> dict[str, Any]:
    """The report's data: the sides, the runs, and the `latency` section."""
    log = log or (lambda message: print(message, file=sys.stderr, flush=True))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pytest-deeplab-latency-",
                                     dir=settings.workdir) as tmp, _workers() as live:
        image_file = Path(tmp) / "image.npy"
        np.save(image_file, settings.image, allow_pickle=False)
        for label, model, side, asked in (
                ("A", settings.model_a, settings.side_a, settings.xnnpack_a),
                ("B", settings.model_b, settings.side_b, settings.xnnpack_b)):
            xnnpack = bool(model.settings.get("xnnpack", True)) if asked is None else asked
            live.append(_open(label, model, side, xnnpack, image_file, settings, log))
        _sample(live, settings, log)
        for one in live:
            one.times.nodes = _call(one, "latency_nodes", timeout=120)["nodes"]
        section = attribute(live[0].times, live[1].times, tolerance=settings.tolerance,
                            coverage_tolerance=settings.coverage_tolerance)
        sides = {s.label: _summary(s, settings) for s in live}
        for one in live:
            _call(one, "latency_close", timeout=120)
    s = settings
    section["runs"] = {"warmup": s.warmup, "rounds": s.runs, "block": BLOCK,
                       "untraced_per_side": s.runs,
                       "traced_per_side": {k: len(v.times.traced) for k, v in
                                           zip("AB", live)}}
    return {
        "model": s.model_a.name,
        "against": s.model_b.name if s.model_a.path != s.model_b.path else None,
        "mode": "files" if s.model_a.path != s.model_b.path else "environments",
        "image": {"path": str(s.image_path),
                  "size": [int(s.image.shape[1]), int(s.image.shape[0])]},
        "sides": sides,
        "latency": section,
        "seconds": round(time.perf_counter() - started, 2),
    }


@contextlib.contextmanager
def _workers() -> Iterator[list[_Live]]:
    live: list[_Live] = []
    try:
        yield live
    finally:
        for side in live:
            side.worker.close()


def _call(side: _Live, cmd: str, timeout: float, **kwargs: Any) -> dict[str, Any]:
    try:
        reply: dict[str, Any] = side.worker.call(cmd, timeout=timeout, **kwargs)
    except WorkerCommandError as exc:
        if exc.message.startswith("unknown command"):
            raise ExplainError(
                f"[{side.label}] {side.worker.side.python} has a pytest-deeplab without "
                "`explain --latency`: install this pytest-deeplab in both environments") from None
        raise ExplainError(f"[{side.label}] {side.model.name}: {exc.kind}: {exc.message}"
                           ) from None
    except GateError as exc:
        raise ExplainError(str(exc)) from None
    return reply


def _open(label: str, model: ModelRef, side: Side, xnnpack: bool, image_file: Path,
          settings: LatencySettings, log: Log) -> _Live:
    try:
        worker = ExplainProcess(side, Path.cwd())
    except GateError as exc:
        raise ExplainError(str(exc)) from None
    live = _Live(label, model, worker, {}, {}, SideTimes([]), xnnpack)
    try:
        _check_hello(worker, worker.call("hello", timeout=120))
        live.identity = worker.call("identity", timeout=600)["identity"]
    except (WorkerCommandError, GateError) as exc:
        worker.close()
        raise ExplainError(str(exc)) from None
    live.opened = _call(live, "latency_open", timeout=OPEN_TIMEOUT, path=str(model.path),
                        format=model.format, image=str(image_file),
                        input_tensor=model.input_tensor, output_tensor=model.output_tensor,
                        threads=side.threads, xnnpack=xnnpack, warmup=settings.warmup,
                        allow_ops=list(model.allow_ops), settings=dict(model.settings))
    live.times.how = {"format": model.format, **live.opened["how"]}
    live.times.available = bool(live.opened["available"])
    live.times.unavailable = str(live.opened["unavailable"])
    probe = (live.opened["probe"] if live.times.available
             else f"per-op probe unavailable: {live.times.unavailable}")
    log(f"explain --latency: [{label}] {model.name}: TensorFlow "
        f"{live.identity.get('tensorflow')}, {live.opened['how'].get('runtime')}; {probe}")
    return live


def _sample(live: list[_Live], settings: LatencySettings, log: Log) -> None:
    """Blocks of rounds, A and B alternating (A B, B A, A B ...), until each has `runs`."""
    done, block_number = 0, 0
    while done < settings.runs:
        n = min(BLOCK, settings.runs - done)
        order = live if block_number % 2 == 0 else live[::-1]
        for side in order:
            reply = _call(side, "latency_rounds", timeout=OPEN_TIMEOUT, n=n, traced=True)
            side.times.untraced.extend(reply["untraced"])
            side.times.traced_wall.extend(reply["traced_wall"])
            side.times.traced.extend(reply["traced"])
        done += n
        block_number += 1
    log(f"explain --latency: {done} rounds per side (an untraced and a traced run each)")


def _summary(side: _Live, settings: LatencySettings) -> dict[str, Any]:
    ident = side.identity
    return {
        "label": side.label, "model": side.model.name, "path": str(side.model.path),
        "format": side.model.format, "python": side.worker.side.python,
        "env": dict(side.worker.side.env), "threads": side.worker.side.threads,
        "tensorflow": ident.get("tensorflow"), "onednn": ident.get("onednn"),
        "onednn_source": ident.get("onednn_source"),
        "xnnpack": side.xnnpack if get_format(side.model.format).has_xnnpack else None,
        "runtime": side.opened["how"].get("runtime"), "probe": side.opened["probe"],
        "probe_available": side.times.available,
    }
