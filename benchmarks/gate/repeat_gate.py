"""Run `pytest-deeplab gate` N times with the same arguments and tally what it said.

    python benchmarks/gate/repeat_gate.py --runs 10 --label "A/A TF 2.21" --out results/aa.json \
        -- --config ci/real-zoo.toml --models real-mnv2-dm05 --threads 2 \
           --baseline /work/venvs/tf221/bin/python --candidate /work/venvs/tf221/bin/python

Everything after `--` goes to the gate. Per run it records the exit status (1 = alarm), per
model the latency and CPU ratios with their intervals, the medians' noise (bootstrap CV of the
median), mask agreement and the wall time the gate took, plus the machine's load average and
whether the mini-zoo training job (fixtures/minizoo/*.py) was running. It prints a Markdown
summary; --out keeps every run's full report.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any


def training_running() -> bool:
    done = subprocess.run(["pgrep", "-f", "fixtures/minizoo"], capture_output=True, text=True)
    return bool(done.stdout.strip())


def one_run(gate_args: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gate.json"
        load_before, training_before = os.getloadavg()[0], training_running()
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest_deeplab.cli", "gate", *gate_args, "--json", str(out)],
            capture_output=True, text=True,
        )
        seconds = time.perf_counter() - started
        report = json.loads(out.read_text()) if out.is_file() else None
    return {
        "exit": done.returncode,
        "seconds": seconds,
        "load_before": load_before,
        "load_after": os.getloadavg()[0],
        "training": training_before or training_running(),
        "report": report,
        "stderr_tail": done.stderr.splitlines()[-5:],
        "table": done.stdout,
    }


def summarise(label: str, runs: list[dict[str, Any]]) -> str:
    alarms = sum(r["exit"] == 1 for r in runs)
    errors = sum(r["exit"] not in (0, 1) for r in runs)
    lines = [f"#### {label}", "",
             f"{len(runs)} runs: {alarms} alarm(s) (exit 1), {errors} error(s); "
             f"load average {min(r['load_before'] for r in runs):.1f}-"
             f"{max(r['load_after'] for r in runs):.1f}; mini-zoo training during "
             f"{sum(r['training'] for r in runs)} run(s)", "",
             "| run | exit | model | rounds | median A / B (ms) | latency B/A [95% CI] | "
             "CPU B/A [95% CI] | CV of median A / B | agreement | model s |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for i, run in enumerate(runs, 1):
        for m in (run["report"] or {}).get("models", []):
            r, c, a, b = m["ratio"], m["cpu_ratio"], m["a"], m["b"]
            if r is None:
                lines.append(f"| {i} | {run['exit']} | {m['model']} | - | - | {m['error']} "
                             "| | | | |")
                continue
            agreement = min(m["agreement"].values()) if m["agreement"] else float("nan")
            lines.append(
                f"| {i} | {run['exit']} | {m['model']} | {len(a['wall'])} | "
                f"{a['median_s'] * 1e3:.2f} / {b['median_s'] * 1e3:.2f} | "
                f"{r['ratio']:.3f} [{r['low']:.3f}, {r['high']:.3f}] | "
                f"{c['ratio']:.3f} [{c['low']:.3f}, {c['high']:.3f}] | "
                f"{a['median_cv']:.2%} / {b['median_cv']:.2%} | {agreement:.4%} | "
                f"{m['seconds']:.0f} |")
        if run["report"] is None:
            lines.append(f"| {i} | {run['exit']} | (no report) {' '.join(run['stderr_tail'])} "
                         "| | | | | | | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--label", default="gate")
    parser.add_argument("--out", type=Path, default=None, help="JSON with every run's report")
    parser.add_argument("gate_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    gate_args = args.gate_args[1:] if args.gate_args[:1] == ["--"] else args.gate_args
    runs = []
    for i in range(args.runs):
        run = one_run(gate_args)
        runs.append(run)
        print(f"[{args.label}] run {i + 1}/{args.runs}: exit {run['exit']} "
              f"({run['seconds']:.0f} s)", file=sys.stderr, flush=True)
    summary = summarise(args.label, runs)
    print(summary)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"label": args.label, "gate_args": gate_args,
                                        "runs": runs, "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
