"""A plain reproduction of `explain --latency` for a TF Lite model, without pytest-deeplab.

It checks the plugin's figures with independent code: `tf.lite.Interpreter` only, TF Lite's
profiler handed over through ctypes (`tflite::impl::Interpreter::SetProfilerImpl`, exported by
the TensorFlow wheels' libtensorflow_cc), one child process per interpreter given, blocks of
rounds alternating between them. A round is one untraced invoke on an interpreter without a
profiler and one traced invoke on a second, profiled interpreter.

    python benchmarks/latency_plain_tflite.py MODEL.tflite PY_A PY_B [--rounds 40] [--threads N]

Each PY must have TensorFlow (any version with tf.lite) and numpy; nothing else. Prints, per
side, the untraced median and, per XNNPACK operator (or TF Lite op), the median ms.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import time

SYMBOL = ("_ZN6tflite4impl11Interpreter15SetProfilerImplESt10unique_ptrINS_8Profiler"
          "ESt14default_deleteIS3_EE")


def worker(model: str, threads: int | None) -> None:
    """Child: answer 'n' lines with JSON rounds on the original stdout."""
    out = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    import numpy as np
    import tensorflow as tf

    events: list[tuple[str, float]] = []
    opened: dict[int, tuple[str, int]] = {}
    counter = [0]
    begin_t = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                               ctypes.c_int64, ctypes.c_int64)
    end_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int64,
                             ctypes.c_int64)
    add_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                             ctypes.c_uint64, ctypes.c_int64, ctypes.c_int64)
    nop_t = ctypes.CFUNCTYPE(None, ctypes.c_void_p)

    def begin(this, tag, kind, m1, m2):  # type: ignore[no-untyped-def]
        if kind != 2:  # OPERATOR_INVOKE_EVENT
            return 0
        counter[0] += 1
        opened[counter[0]] = (tag.decode(), time.perf_counter_ns())
        return counter[0]

    def end(this, handle, m1, m2):  # type: ignore[no-untyped-def]
        if handle in opened:
            tag, start = opened.pop(handle)
            events.append((tag, (time.perf_counter_ns() - start) / 1e6))

    def add(this, tag, kind, metric, m1, m2):  # type: ignore[no-untyped-def]
        if kind == 8:  # DELEGATE_PROFILED_OPERATOR_INVOKE_EVENT, XNNPACK's microseconds
            events.append((f"XNNPACK {tag.decode()}", metric / 1000))

    def nop(this):  # type: ignore[no-untyped-def]
        return None

    slots = [nop_t(nop), nop_t(nop), begin_t(begin), end_t(end), end_t(end), add_t(add),
             nop_t(nop), nop_t(nop)]
    vtable = (ctypes.c_void_p * (len(slots) + 2))(
        0, 0, *[ctypes.cast(s, ctypes.c_void_p).value for s in slots])
    profiler = (ctypes.c_void_p * 2)(ctypes.addressof(vtable) + 16, 0)
    plain = tf.lite.Interpreter(model_path=model, num_threads=threads)
    traced = tf.lite.Interpreter(model_path=model, num_threads=threads)
    library = ctypes.CDLL(os.path.join(os.path.dirname(tf.__file__), "libtensorflow_cc.so.2"))
    holder = ctypes.c_void_p(ctypes.addressof(profiler))
    ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)(
        ctypes.cast(getattr(library, SYMBOL), ctypes.c_void_p).value)(
        traced._interpreter.interpreter(), ctypes.addressof(holder))
    for interpreter in (plain, traced):
        interpreter.allocate_tensors()
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    for _ in range(3):
        plain.invoke()
        traced.invoke()
    print(json.dumps({"tensorflow": tf.__version__}), file=out, flush=True)
    for line in sys.stdin:
        rounds = []
        for _ in range(int(line)):
            start = time.perf_counter()
            plain.invoke()
            untraced = time.perf_counter() - start
            events.clear()
            traced.invoke()
            ops: dict[str, float] = {}
            for tag, ms in events:
                ops[tag] = ops.get(tag, 0.0) + ms
            rounds.append({"untraced_ms": untraced * 1000, "ops": ops})
        print(json.dumps(rounds), file=out, flush=True)


def median(values: list[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("pythons", nargs="*")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.model, args.threads)
        return
    children = []
    for python in args.pythons:
        command = [python, __file__, args.model, "--worker"]
        if args.threads:
            command += ["--threads", str(args.threads)]
        child = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
        assert child.stdout is not None
        children.append((python, child, json.loads(child.stdout.readline())["tensorflow"], []))
    for block in range(0, args.rounds, 5):
        order = children if (block // 5) % 2 == 0 else children[::-1]
        for _, child, _, rounds in order:
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(f"{min(5, args.rounds - block)}\n")
            child.stdin.flush()
            rounds.extend(json.loads(child.stdout.readline()))
    tags = sorted({t for _, _, _, rounds in children for r in rounds for t in r["ops"]})
    header = ["op (median ms over traced runs)"] + [f"TF {v}" for _, _, v, _ in children]
    table = [[tag] + [median([r["ops"].get(tag, 0.0) for r in rounds])
                      for _, _, _, rounds in children] for tag in tags]
    table.sort(key=lambda row: -abs(row[-1] - row[1]))
    print(" | ".join(header))
    print(" | ".join(["untraced invoke"] + [f"{median([r['untraced_ms'] for r in rounds]):.3f}"
                                           for _, _, _, rounds in children]))
    print(" | ".join(["sum of traced ops, median of runs"] + [
        f"{median([sum(r['ops'].values()) for r in rounds]):.3f}"
        for _, _, _, rounds in children]))
    for row in table:
        print(" | ".join([str(row[0])] + [f"{v:.3f}" for v in row[1:]]))
    for _, child, _, _ in children:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=60)


if __name__ == "__main__":
    main()
