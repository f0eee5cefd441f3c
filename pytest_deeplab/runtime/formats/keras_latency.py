"""Keras latency probe: `predict_on_batch` for the verdict, the same call under TF's host
profiler for the ops.

The model is the suite's `KerasPredictor` (config check first, safe_mode on), fed as the suite
feeds it: the image resized to the model's size, normalised per the model's `normalize`, padded.
An untraced run is `model.predict_on_batch(batch)`, the call the suite times less turning logits
into a mask. A traced run is the same call under `runtime.tf_host_trace`: each TF op of Keras'
compiled predict function, keyed by its node name (`<model>/<layer>_1/<op>`, so the layer shows
in it), typed as it ran after Grappler (`_FusedConv2D`, `DepthwiseConv2dNative`...), the
vocabulary of the frozen-graph probe, so a Keras model and its frozen export read alike.

What runs is read from the first traced run after warm-up: the ops and their types make
`node_kernels`, compared between builds like the frozen graph's partition graph.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.data.images import demo_resize
from pytest_deeplab.runtime.formats.keras_predictor import KerasPredictor
from pytest_deeplab.runtime.latency_probe import NodeInfo
from pytest_deeplab.runtime.tf_host_trace import (
    HostTraceUnavailable,
    OpEvent,
    check_available,
    trace_call,
)


def layer_of(node: str, layers: Collection[str]) -> str:
    """The Keras layer an op belongs to, from its node name (`model_1/layer_1/op`: Keras adds
    a `_<n>` to each name scope), or "" for an op outside any layer."""
    for scope in node.split("/")[:-1]:
        for name in (scope, re.sub(r"_\d+$", "", scope)):
            if name in layers:
                return name
    return ""


class KerasLatencyProbe:
    probe_kind = "TF host profiler (tf.profiler.experimental, op events)"

    def __init__(self, path: Path, *, threads: int | None, image: np.ndarray,
                 allow_ops: tuple[str, ...] = (),
                 settings: Mapping[str, Any] | None = None) -> None:
        own = settings or {}
        self.predictor = KerasPredictor(  # the config.json check, then safe_mode
            path.stem, path, threads=threads, allow_ops=allow_ops,
            normalize=str(own.get("normalize", "deeplab")), resize=str(own.get("resize", "pad")))
        self.threads = threads
        self.model = self.predictor.model
        size = self.predictor.input_size
        if size and max(image.shape[:2]) > size:  # as the suite resizes to the model's size
            image = demo_resize(image, size)
        self.batch, _ = self.predictor.batch(image)
        self.model.predict_on_batch(self.batch)  # the first call traces Keras' predict function
        self.available, self.unavailable = True, ""
        self._first: list[OpEvent] = []
        try:
            check_available()
            self._first = trace_call(self._run)[1]
        except HostTraceUnavailable as exc:
            self.available, self.unavailable = False, str(exc)
        if self.available and not self._first:
            self.available = False
            self.unavailable = "the host profiler recorded no TensorFlow op in a predict call"
        self._order: dict[str, int] = {}
        self._types: dict[str, str] = {}
        self._learn(self._first)

    def _run(self) -> None:
        self.model.predict_on_batch(self.batch)

    def _learn(self, events: list[OpEvent]) -> None:
        for event in events:
            self._order.setdefault(event.name, len(self._order))
            self._types.setdefault(event.name, event.type)

    def untraced(self) -> float:
        start = time.perf_counter()
        self._run()
        return time.perf_counter() - start

    def traced(self) -> tuple[float, dict[str, float]]:
        if not self.available:
            raise RuntimeError(f"the per-op probe is unavailable: {self.unavailable}")
        wall, events = trace_call(self._run)
        self._learn(events)
        times: dict[str, float] = {}
        for event in events:
            times[event.name] = times.get(event.name, 0.0) + event.ms
        return wall, times

    def how_it_runs(self) -> dict[str, Any]:
        from pytest_deeplab.runtime.identity import onednn_active
        from pytest_deeplab.runtime.tf import import_tensorflow

        tf = import_tensorflow()
        record = self.predictor.runtime_record()
        kernels = {event.name: event.type for event in self._first}
        return {
            "runtime": f"Keras {record['keras']} ({record['keras_backend']} backend)",
            "onednn": onednn_active(),
            "threads": self.threads,
            "intra_op_threads": int(tf.config.threading.get_intra_op_parallelism_threads()),
            "inter_op_threads": int(tf.config.threading.get_inter_op_parallelism_threads()),
            "layers": len(self.model.layers),
            "input": {"shape": [int(v) for v in self.batch.shape],
                      "normalize": self.predictor.normalize},
            "executed_nodes": len(kernels) if self.available else None,
            "op_types": dict(sorted(Counter(kernels.values()).items())),
            "node_kernels": kernels if self.available else None,
        }

    def nodes(self) -> dict[str, NodeInfo]:
        layers = {str(layer.name) for layer in self.model.layers}
        return {node: NodeInfo(index, node, self._types[node], layer=layer_of(node, layers))
                for node, index in self._order.items()}

    def close(self) -> None:
        self.predictor.close()
