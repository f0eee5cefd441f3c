"""Where the gate's per-round noise comes from on a busy machine (docs/gate-under-load.md).

    python benchmarks/gate/calls_under_load.py --config ci/real-zoo.toml --threads 2 \
        --seconds 90 --busy-core 0 --out calls.json

Two gate workers of this interpreter (an A/A pair) load one model, then single timed
inferences alternate A B, B A, ... for --seconds, with a second process keeping --busy-core
busy. It prints the spread of one side's log time, the correlation of A and B within a round,
the spread of the per-round log(B/A) for wall and CPU time, and the order effect (A-first
rounds against B-first rounds); --out keeps every call.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import numpy as np

from pytest_deeplab.gate.process import Side, WorkerProcess
from pytest_deeplab.gate.settings import GateSettings


def spin(core: int, seconds: float) -> None:
    os.sched_setaffinity(0, {core})
    end = time.time() + seconds
    while time.time() < end:
        pass


def collect(args: argparse.Namespace) -> list[tuple[str, float, float]]:
    root = Path.cwd()
    sides = [Side(label, sys.executable, threads=args.threads) for label in "AB"]
    settings = GateSettings(sides[0], sides[1], models=args.model, rootdir=root,
                            config_file=args.config.resolve() if args.config else None)
    workers = [WorkerProcess(side, root) for side in sides]
    calls: list[tuple[str, float, float]] = []
    try:
        for w in workers:
            w.call("hello", distributions=[])
            w.call("setup", options=settings.worker_options(w.side), models=[args.model],
                   timeout=300)
            w.call("identity", timeout=600)
            w.call("load", model=args.model, timeout=600)
            w.call("infer", model=args.model, n=5, timeout=600)
        started, i = time.perf_counter(), 0
        while time.perf_counter() - started < args.seconds:
            for k in (0, 1) if i % 2 == 0 else (1, 0):
                reply = workers[k].call("infer", model=args.model, n=1, timeout=600)
                calls.append(("AB"[k], reply["wall"][0], reply["cpu"][0]))
            i += 1
    finally:
        for w in workers:
            w.close()
    return calls


def describe(calls: list[tuple[str, float, float]]) -> str:
    def side(label: str, column: int) -> np.ndarray:
        return np.array([c[column] for c in calls if c[0] == label])

    a, b, ca, cb = side("A", 1), side("B", 1), side("A", 2), side("B", 2)
    n = min(len(a), len(b))
    a, b, ca, cb = a[:n], b[:n], ca[:n], cb[:n]
    d, dc = np.log(b / a), np.log(cb / ca)
    mad = 1.4826 * float(np.median(np.abs(d - np.median(d))))
    return "\n".join([
        f"{n} rounds; median call {np.median(a) * 1e3:.0f} ms",
        f"spread of one side's log time (sd): {np.log(a).std():.2f}",
        f"correlation of A and B in one round: {np.corrcoef(np.log(a), np.log(b))[0, 1]:.2f}",
        f"per-round log(B/A), wall: sd {d.std():.2f} (MAD x 1.48: {mad:.2f})",
        f"per-round log(B/A), CPU time: sd {dc.std():.2f}",
        f"A-first rounds minus B-first rounds: {d[0::2].mean() - d[1::2].mean():+.3f}",
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=Path("ci/real-zoo.toml"))
    parser.add_argument("--model", default="real-mnv2-dm05")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--busy-core", type=int, default=None)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    busy = None
    if args.busy_core is not None:
        busy = multiprocessing.Process(target=spin, args=(args.busy_core, 10 * args.seconds))
        busy.start()
    try:
        calls = collect(args)
    finally:
        if busy is not None:
            busy.terminate()
    if args.out:
        args.out.write_text(json.dumps(calls))
    print(describe(calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
