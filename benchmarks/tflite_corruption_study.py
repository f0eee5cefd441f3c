"""Can a damaged model file take the test run down? Counted on thousands of damaged files.

    python benchmarks/tflite_corruption_study.py MODEL.tflite [--cases N] [--seed S]
    python benchmarks/tflite_corruption_study.py MODEL.pb --cases 100

Each damaged copy is loaded in a forked child (so a crash costs the child, not this script) and
the way the child ended is counted: `ran` (loaded and predicted), `error` (a Python exception:
what the plugin turns into a failed item), or the signal that killed it (SIGSEGV 11, SIGKILL 9
from the kernel's OOM killer, SIGABRT 6). Damage kinds:

- `truncate`: the file cut at a random length (a partial download or copy);
- `table byte`: one random byte outside the weight buffers set to a random value (the
  flatbuffer's tables: offsets, tensor shapes and indices, operator codes) - the dangerous part;
- `any byte`: one random byte anywhere (mostly weights: usually harmless).

For .tflite files two loaders are compared on the same damaged bytes: `model_path` (what
pytest-deeplab did before: `Interpreter(model_path=...)`, `allocate_tensors`, one `invoke`) and
`plugin` (`pytest_deeplab.runtime.load_predictor` and one `predict`). For .pb files only the
plugin's loader runs. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def weight_ranges(data: bytes) -> list[tuple[int, int]]:
    """Byte ranges of a .tflite file's weight buffers (the rest is tables)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    ranges = []
    for i in range(model.BuffersLength()):
        buffer = model.Buffers(i)
        if buffer.DataLength():
            start = buffer._tab.Vector(buffer._tab.Offset(4))
            ranges.append((start, start + buffer.DataLength()))
    return ranges


def damaged(data: bytes, kind: str, rng: random.Random, tables: list[int]) -> tuple[bytes, str]:
    """The damaged bytes and what was done to them (to replay a crash)."""
    if kind == "truncate":
        length = rng.randrange(0, len(data))
        return data[:length], f"cut to {length} bytes"
    copy = bytearray(data)
    position = rng.choice(tables) if kind == "table byte" else rng.randrange(len(copy))
    copy[position] = rng.randrange(256)
    return bytes(copy), f"byte {position}: {data[position]:#04x} -> {copy[position]:#04x}"


def load_old(path: Path) -> None:
    import numpy as np
    import tensorflow as tf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    (inp,) = interpreter.get_input_details()
    interpreter.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    interpreter.invoke()


def load_plugin(path: Path, fmt: str) -> None:
    import numpy as np

    from pytest_deeplab.runtime import load_predictor

    predictor = load_predictor("study", path, fmt, input_tensor="ImageTensor:0",
                               output_tensor="SemanticPredictions:0", threads=1)
    size = predictor.input_size or 65
    predictor.predict(np.full((size, size, 3), 90, dtype=np.uint8))


def outcome(loader: Any, *args: Any) -> str:
    pid = os.fork()
    if pid == 0:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.dup2(devnull, 2)
        try:
            loader(*args)
        except Exception:
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"killed ({signal.Signals(os.WTERMSIG(status)).name})"
    return {0: "ran", 3: "error"}.get(os.WEXITSTATUS(status), f"exit {os.WEXITSTATUS(status)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--cases", type=int, default=100, help="damaged files per kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    import tensorflow  # noqa: F401  (imported once, before forking)

    data = args.model.read_bytes()
    fmt = "tflite" if args.model.suffix == ".tflite" else "frozen_graph"
    kinds = ["truncate", "any byte"]
    tables: list[int] = []
    if fmt == "tflite":
        in_weights = bytearray(len(data))
        for start, end in weight_ranges(data):
            in_weights[start:end] = b"\1" * (end - start)
        tables = [i for i, flag in enumerate(in_weights) if not flag]
        kinds.insert(1, "table byte")
    loaders = {"model_path": load_old, "plugin": load_plugin} if fmt == "tflite" else {
        "plugin": load_plugin}
    rng = random.Random(args.seed)
    counts: dict[tuple[str, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    crashes: list[str] = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"damaged{args.model.suffix}"
        for kind in kinds:
            for _ in range(args.cases):
                content, what = damaged(data, kind, rng, tables)
                path.write_bytes(content)
                for name, loader in loaders.items():
                    extra = (fmt,) if loader is load_plugin else ()
                    ended = outcome(loader, path, *extra)
                    counts[(kind, name)][ended] += 1
                    if name == "plugin" and ended.startswith("killed"):
                        crashes.append(f"{kind}, {what}: {ended}")
    print(f"\n{args.model.name} ({len(data)} bytes, {len(tables)} table bytes), "
          f"{args.cases} damaged files per kind, seed {args.seed}\n")
    print("| damage | loader | ran | error | killed |")
    print("|---|---|---|---|---|")
    for (kind, name), seen in counts.items():
        killed = {k: v for k, v in seen.items() if k.startswith("killed")}
        shown = ", ".join(f"{v} {k[8:-1]}" for k, v in killed.items()) or "0"
        print(f"| {kind} | {name} | {seen['ran']} | {seen['error']} | {shown} |")
    for crash in crashes:
        print(f"\nplugin loader crashed: {crash}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
