"""What the per-op probe of `explain --latency` costs, per format: traced vs untraced inference.

Each model is opened once with its probe; then rounds alternate one untraced and one traced
inference (as `explain --latency` does), and the medians and their ratio are printed side by
side with the probe's coverage (traced ops / untraced median).

    python benchmarks/bench_latency_probe_overhead.py [--rounds 30] [--threads 1] [MODEL ...]

MODEL is `path.pb`, `path.tflite` or `path.tflite:off` (XNNPACK off); the default is the
bundled mini MobileNet-v2 as a frozen graph and its float and int8 TF Lite conversions, with
XNNPACK on and off.
"""

from __future__ import annotations

import argparse
import statistics
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from pytest_deeplab.runtime.latency_registry import open_latency_probe

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "models"
IMAGE = np.random.default_rng(0).integers(0, 256, (342, 513, 3), dtype=np.uint8)


def default_models(folder: Path) -> list[str]:
    with tarfile.open(FIXTURES / "mini_mnv2_os16.tar.gz") as archive:
        member = next(m for m in archive.getmembers() if m.name.endswith(".pb"))
        archive.extract(member, folder, filter="data")
    graph = str(folder / member.name)
    tflite = [str(FIXTURES / f"mini_mnv2_os16_{kind}.tflite") for kind in ("float", "int8")]
    return [graph, *tflite, *(f"{t}:off" for t in tflite)]


def measure(model: str, rounds: int, threads: int | None) -> str:
    path, _, flag = model.partition(":")
    fmt = "tflite" if path.endswith(".tflite") else "frozen_graph"
    probe = open_latency_probe(Path(path), fmt, input_tensor="ImageTensor:0",
                               output_tensor="SemanticPredictions:0", threads=threads,
                               image=IMAGE, xnnpack=flag != "off")
    try:
        for _ in range(3):
            probe.untraced()
            probe.traced()
        untraced, traced, ops = [], [], []
        for _ in range(rounds):
            untraced.append(probe.untraced() * 1000)
            wall, times = probe.traced()
            traced.append(wall * 1000)
            ops.append(sum(times.values()))
    finally:
        probe.close()
    u, t, o = (statistics.median(x) for x in (untraced, traced, ops))
    kind = fmt + ("" if fmt == "frozen_graph" else f", XNNPACK {'off' if flag else 'on'}")
    return (f"{Path(path).name} ({kind}): untraced {u:.2f} ms, traced {t:.2f} ms, "
            f"traced/untraced {t / u:.3f}, traced ops / untraced {o / u:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="*")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models or default_models(Path(tmp)):
            print(measure(model, args.rounds, args.threads), flush=True)


if __name__ == "__main__":
    main()
