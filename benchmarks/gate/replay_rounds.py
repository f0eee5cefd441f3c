"""Replay a proof's raw calls with K calls per round: what would the gate have said?

    python benchmarks/gate/replay_rounds.py benchmarks/gate/results/prove_aa_load.json \
        --threshold 1.05 --calls 1 4

The proof's runs keep every timed call (pairs alternating AB, BA). The same calls are cut into
rounds of K calls per side, each round's log(B/A) is the fastest B over the fastest A, and the
gate's sequential test runs over them at the level the run used: per run the exit the gate
would have given (1 a metric shown above, 0 both cleared, 3 otherwise) and after how many
calls per side each metric was decided. Same calls, another round design: a fair comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from pytest_deeplab.gate.sequential import SequentialTest

sys.path.insert(0, str(Path(__file__).parent))
from repeat_gate import _rate


def decide(d: np.ndarray, threshold: float, alpha: float) -> tuple[str, int]:
    test = SequentialTest(threshold, alpha)
    for i, x in enumerate(d, 1):
        test.add(float(x))
        if test.failed:
            return "FAIL", i
        if test.cleared:
            return "clear", i
    return "-", len(d)


def replay(model: dict, threshold: float, alpha: float, calls: int) -> tuple[int, str]:
    verdicts, notes = [], []
    for metric, key in (("latency", "wall"), ("cpu", "cpu")):
        a, b = np.asarray(model["a"][key]), np.asarray(model["b"][key])
        n = min(len(a), len(b)) // calls * calls
        d = (np.log(b[:n].reshape(-1, calls).min(1))
             - np.log(a[:n].reshape(-1, calls).min(1)))
        verdict, rounds = decide(d, threshold, alpha)
        verdicts.append(verdict)
        notes.append(f"{metric} {verdict} after {rounds * calls} calls")
    code = 1 if "FAIL" in verdicts else 0 if all(v == "clear" for v in verdicts) else 3
    return code, "; ".join(notes)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("proof", type=Path)
    parser.add_argument("--threshold", type=float, required=True)
    parser.add_argument("--calls", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    runs = json.loads(args.proof.read_text())["runs"]
    for calls in args.calls:
        codes = []
        for i, run in enumerate(runs, 1):
            for model in (run["report"] or {}).get("models", []):
                alpha = model["ratio"]["confidence"]
                code, notes = replay(model, args.threshold, 1 - alpha, calls)
                codes.append(code)
                print(f"calls/round {calls} run {i}: exit {code} ({notes})")
        n = len(codes)
        print(f"calls/round {calls}: FAIL {_rate(codes.count(1), n)}; pass "
              f"{_rate(codes.count(0), n)}; INCONCLUSIVE {_rate(codes.count(3), n)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
