"""Run `pytest-deeplab gate` N times with the same arguments and tally what it said.

    python benchmarks/gate/repeat_gate.py --runs 10 --label "A/A TF 2.21" --out results/aa.json \
        -- --config ci/real-zoo.toml --models bundled,user --threads 2 \
           --baseline python --candidate python --threshold 1.05

Everything after `--` goes to the gate. Per run it records the exit status (1 = alarm,
3 = inconclusive), per model the rounds and why sampling stopped, the latency and CPU ratios
with their bounds, the detectable ratio, mask agreement, the verdict and the wall time, plus
the machine's load average. It prints a Markdown summary; --out keeps every run's full report.
"""

from __future__ import annotations

import argparse
import json
import math
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


def _bounds(r: dict[str, Any] | None) -> str:
    if not r:
        return "-"
    high = "-" if r["high"] in (None, float("inf")) else f"{r['high']:.3f}"
    return f"{r['ratio']:.3f} [{r['low']:.3f}, {high}]"


def _binomial_cdf(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def clopper_pearson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval for a rate of k in n (bisection on the binomial tails)."""
    tail = (1 - confidence) / 2

    def solve(target: Any) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if target(mid) else (lo, mid)
        return (lo + hi) / 2

    low = 0.0 if k == 0 else solve(lambda p: 1 - _binomial_cdf(k - 1, n, p) < tail)
    high = 1.0 if k == n else solve(lambda p: _binomial_cdf(k, n, p) > tail)
    return low, high


def _rate(k: int, n: int) -> str:
    low, high = clopper_pearson(k, n)
    return f"{k}/{n} = {k / n:.0%} [95 % CI {low:.0%}, {high:.0%}]" if n else "-"


def summarise(label: str, runs: list[dict[str, Any]]) -> str:
    alarms = sum(r["exit"] == 1 for r in runs)
    unsure = sum(r["exit"] == 3 for r in runs)
    errors = sum(r["exit"] not in (0, 1, 3) for r in runs)
    passed = sum(r["exit"] == 0 for r in runs)
    models = [m for r in runs for m in (r["report"] or {}).get("models", [])]
    decided = sorted(m["seconds"] for m in models if m.get("stopped") == "decided")
    median = f"{decided[len(decided) // 2]:.0f} s" if decided else "-"
    lines = [f"#### {label}", "",
             f"{len(runs)} runs: {alarms} with an alarm (exit 1), {unsure} inconclusive "
             f"(exit 3), {errors} error(s); {len(decided)} of {len(models)} model verdicts "
             f"decided, median wall time per decided model {median}; load average "
             f"{min(r['load_before'] for r in runs):.1f}-"
             f"{max(r['load_after'] for r in runs):.1f}", "",
             f"rates: FAIL (exit 1) {_rate(alarms, len(runs))}; pass (exit 0) "
             f"{_rate(passed, len(runs))}; INCONCLUSIVE (exit 3) {_rate(unsure, len(runs))}", "",
             "| run | exit | model | rounds (stop) | median A / B (ms) | latency B/A [bounds] | "
             "CPU B/A [bounds] | detectable B/A | agreement | verdict | model s |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, run in enumerate(runs, 1):
        for m in (run["report"] or {}).get("models", []):
            a, b = m["a"], m["b"]
            agreement = min(m["agreement"].values()) if m["agreement"] else float("nan")
            detect = m.get("min_detectable")
            lines.append(
                f"| {i} | {run['exit']} | {m['model']} | {m.get('rounds', len(a['wall']))} "
                f"({m.get('stopped', '-')}) | {a['median_s'] * 1e3:.2f} / "
                f"{b['median_s'] * 1e3:.2f} | {_bounds(m['ratio'])} | {_bounds(m['cpu_ratio'])} | "
                f"{'-' if detect is None else f'{detect:.3f}'} | {agreement:.4%} | "
                f"{m['verdict']} | {m['seconds']:.0f} |")
        if run["report"] is None:
            lines.append(f"| {i} | {run['exit']} | (no report) {' '.join(run['stderr_tail'])} "
                         "| | | | | | | | |")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--label", default="gate")
    parser.add_argument("--out", type=Path, default=None, help="JSON with every run's report")
    parser.add_argument("--append", action="store_true",
                        help="add to the runs already in --out (series run in turns)")
    parser.add_argument("gate_args", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    gate_args = args.gate_args[1:] if args.gate_args[:1] == ["--"] else args.gate_args
    runs: list[dict[str, Any]] = []
    if args.append and args.out and args.out.is_file():
        runs = json.loads(args.out.read_text())["runs"]
    for i in range(len(runs), len(runs) + args.runs):
        run = one_run(gate_args)
        runs.append(run)
        print(f"[{args.label}] run {i + 1}: exit {run['exit']} "
              f"({run['seconds']:.0f} s)\n{run['table']}", file=sys.stderr, flush=True)
        if args.out:  # after every run: an interrupted series keeps what it measured
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"label": args.label, "gate_args": gate_args,
                                            "runs": runs,
                                            "summary": summarise(args.label, runs)}, indent=1))
    print(summarise(args.label, runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
