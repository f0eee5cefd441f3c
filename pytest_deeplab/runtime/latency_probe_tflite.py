"""TF Lite latency probe: an untraced interpreter for the verdict, a profiled one for the ops.

Both interpreters are built by `tflite_interpreter.create_interpreter` (verified bytes, the same
resolver the suite uses); the profiled one gets the ctypes profiler (`tflite_profiler`) before
`allocate_tensors()`, so XNNPACK reports its own operators. Untraced timings come from the
interpreter without a profiler, which is exactly what the suite times.

Node keys: `n<i>` for TF Lite node i. An XNNPACK operator is keyed by the node it came from
when the partition's operators and the delegated nodes line up one to one (XNNPACK creates its
operators in node order; the count is checked); otherwise `x<j>`, XNNPACK's operator index.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.fitting import placement, resized_image
from pytest_deeplab.runtime.latency_probe import NodeInfo
from pytest_deeplab.runtime.safety.check import checked_tflite_bytes
from pytest_deeplab.runtime.tflite_interpreter import (
    create_interpreter,
    delegate_partitions,
    interpreter_package,
)
from pytest_deeplab.runtime.tflite_io import TensorSpec, input_table
from pytest_deeplab.runtime.tflite_profiler import (
    Invocation,
    ProbeUnavailable,
    TFLiteProfiler,
    attach,
)

DELEGATE = "DELEGATE"


def fill_input(image: np.ndarray, spec: TensorSpec, resize: str = "pad") -> np.ndarray:
    """The image as the model's input, as the suite's predictor fills it: fitted per the
    model's `resize` (runtime.fitting), normalised or quantized, mean-padded."""
    table, pad = input_table(spec)
    place = placement(image.shape[:2], (int(spec.shape[1]), int(spec.shape[2])), resize)
    fitted = resized_image(image, place.region_hw)
    buffer = np.full(spec.shape, pad, dtype=spec.dtype)
    h, w = fitted.shape[:2]
    buffer[0, :h, :w] = np.take(table, fitted)
    return buffer


class TFLiteLatencyProbe:
    probe_kind = "TF Lite profiler (ctypes, SetProfilerImpl)"

    def __init__(self, path: Path, *, threads: int | None, image: np.ndarray,
                 xnnpack: bool = True, allow_ops: tuple[str, ...] = (),
                 resize: str = "pad") -> None:
        package = interpreter_package()
        self.runtime = package.label
        self.threads, self.xnnpack = threads, xnnpack
        data = checked_tflite_bytes(path, None, allow_ops)  # the op allowlist, before anything
        self.available, self.unavailable = True, ""
        self.profiler: TFLiteProfiler | None = None

        def hook(interpreter: Any) -> None:
            try:
                self.profiler = attach(interpreter)
            except ProbeUnavailable as exc:
                self.available, self.unavailable = False, str(exc)

        self.traced_interpreter = create_interpreter(package, path, data, threads, xnnpack,
                                                     before_allocate=hook)
        self.interpreter = create_interpreter(package, path, data, threads, xnnpack)
        details = self.interpreter.get_input_details()[0]
        self.input_index = int(details["index"])
        self.input = fill_input(image, TensorSpec.from_details(details), resize)
        self.resize = resize
        for interpreter in (self.interpreter, self.traced_interpreter):
            interpreter.set_tensor(self.input_index, self.input)
        self.ops = [op for op in self.interpreter._get_ops_details()]
        self.model_nodes = [op for op in self.ops if op["op_name"] != DELEGATE]
        self.partitions = delegate_partitions(self.interpreter)
        self._tensors = {int(d["index"]): (str(d["name"]), [int(v) for v in d["shape"]])
                         for d in self.interpreter.get_tensor_details()}
        self._first = self._invoke_traced() if self.available else Invocation()

    # -- runs --------------------------------------------------------------------------------

    def untraced(self) -> float:
        self.interpreter.set_tensor(self.input_index, self.input)
        start = time.perf_counter()
        self.interpreter.invoke()
        return time.perf_counter() - start

    def _invoke_traced(self) -> Invocation:
        assert self.profiler is not None
        self.profiler.take()
        self.traced_interpreter.set_tensor(self.input_index, self.input)
        self.traced_interpreter.invoke()
        return self.profiler.take()

    def traced(self) -> tuple[float, dict[str, float]]:
        if not self.available or self.profiler is None:
            raise RuntimeError(f"the per-op probe is unavailable: {self.unavailable}")
        self.profiler.take()
        self.traced_interpreter.set_tensor(self.input_index, self.input)
        start = time.perf_counter()
        self.traced_interpreter.invoke()
        wall = time.perf_counter() - start
        times: dict[str, float] = {}
        keys = self._keys()
        for i, event in enumerate(self.profiler.take().events):
            key = f"n{event.index}" if event.kind == "node" else keys.get(i, f"x{event.index}")
            times[key] = times.get(key, 0.0) + event.ms
        return wall, times

    # -- what ran ----------------------------------------------------------------------------

    def _outside(self) -> list[int]:
        """Nodes TF Lite's own kernels ran (outside any delegate), from the first traced run."""
        return [e.index for e in self._first.events if e.kind == "node" and e.tag != DELEGATE]

    def _delegated(self) -> list[int]:
        outside = set(self._outside())
        return [int(op["index"]) for op in self.model_nodes if int(op["index"]) not in outside]

    def _xnnpack_ops(self) -> list[Any]:
        return [e for e in self._first.events if e.kind == "xnnpack"]

    def _keys(self) -> dict[int, str]:
        """Event position in an invocation -> node key, for XNNPACK operators mapped to nodes."""
        if not hasattr(self, "_key_cache"):
            self._key_cache: dict[int, str] = {}
            delegated, operators = self._delegated(), self._xnnpack_ops()
            if operators and len(delegated) == len(operators):
                positions = [i for i, e in enumerate(self._first.events) if e.kind == "xnnpack"]
                self._key_cache = {pos: f"n{node}" for pos, node in zip(positions, delegated)}
        return self._key_cache

    def how_it_runs(self) -> dict[str, Any]:
        outside = self._outside()
        by_index = {int(op["index"]): op for op in self.model_nodes}
        operators = self._xnnpack_ops()
        return {
            "runtime": self.runtime, "threads": self.threads, "xnnpack": self.xnnpack,
            "resize": self.resize,
            "nodes": len(self.model_nodes),
            "partitions": self.partitions,
            "delegated_nodes": len(self._delegated()) if self.available else None,
            "outside_delegate": (sorted(Counter(str(by_index[i]["op_name"]) for i in outside
                                                if i in by_index).items())
                                 if self.available and self.xnnpack else None),
            "delegate_operators": len(operators) if self.available else None,
            "mapped_to_nodes": bool(self._keys()) if operators else None,
            "kernels": dict(sorted(Counter(e.tag for e in operators).items())),
        }

    def nodes(self) -> dict[str, NodeInfo]:
        info: dict[str, NodeInfo] = {}
        for op in self.model_nodes:
            index = int(op["index"])
            outputs = [int(t) for t in op["outputs"]]
            name, shape = self._tensors.get(outputs[0], ("", [])) if outputs else ("", [])
            info[f"n{index}"] = NodeInfo(index, name, str(op["op_name"]), shape)
        keys = self._keys()
        for position, event in enumerate(self._first.events):
            if event.kind != "xnnpack":
                continue
            key = keys.get(position)
            if key is not None and key in info:
                info[key].kernel = f"XNNPACK {event.tag}"
            else:
                info[f"x{event.index}"] = NodeInfo(event.index, f"xnnpack operator {event.index}",
                                                   event.tag, kernel=f"XNNPACK {event.tag}")
        return info

    def close(self) -> None:
        del self.interpreter
        del self.traced_interpreter
