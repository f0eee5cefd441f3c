"""What the op allowlist check costs beside loading the model it guards.

For each model: the check alone (parse + list + judge), and a full load through the suite's
loader (which includes the check), interleaved, medians of ROUNDS; plus the check's peak Python
memory (tracemalloc). Run from the repository root:

    python benchmarks/bench_safety_check.py [ROUNDS]
"""

from __future__ import annotations

import statistics
import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

from pytest_deeplab.runtime import load_predictor
from pytest_deeplab.runtime.formats import get_format

ROOT = Path(__file__).resolve().parents[1]
REAL = ROOT.parent / "shared" / "real-zoo" / "models"


def models() -> list[tuple[str, Path, str]]:
    found = []
    tmp = Path(tempfile.mkdtemp())
    with tarfile.open(ROOT / "fixtures/models/mini_xception_aspp_os8.tar.gz") as tar:
        tar.extractall(tmp, filter="data")
    found.append(("mini_xception_aspp_os8 (bundled)", next(tmp.rglob("*.pb")), "frozen_graph"))
    if REAL.is_dir():
        found.append(("real dm05 frozen graph",
                      REAL / "mnv2_dm05_pascal_reexport_frozen_inference_graph.pb",
                      "frozen_graph"))
        found.append(("real ADE20K TF Lite",
                      REAL / "lite-model_deeplabv3-mobilenetv2-ade20k_1_default_1.tflite",
                      "tflite"))
    return found


def main(rounds: int) -> None:
    for label, path, fmt in models():
        get_format(fmt).safety_report(path)  # imports and caches out of the timing
        load_predictor(label, path, fmt, input_tensor="ImageTensor:0",
                       output_tensor="SemanticPredictions:0").close()  # type: ignore[attr-defined]
        checks, loads = [], []
        for _ in range(rounds):
            start = time.perf_counter()
            get_format(fmt).safety_report(path)
            checks.append(time.perf_counter() - start)
            start = time.perf_counter()
            load_predictor(label, path, fmt, input_tensor="ImageTensor:0",
                           output_tensor="SemanticPredictions:0").close()  # type: ignore[attr-defined]
            loads.append(time.perf_counter() - start)
        tracemalloc.start()
        get_format(fmt).safety_report(path)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        check, load = statistics.median(checks), statistics.median(loads)
        print(f"{label:34s} {path.stat().st_size / 1e6:6.1f} MB  check {check * 1e3:7.1f} ms  "
              f"load {load * 1e3:8.1f} ms  check/load {check / load:5.1%}  "
              f"check peak {peak / 1e6:5.1f} MB (Python heap)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 9)
