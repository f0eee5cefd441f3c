"""Frozen-graph latency probe: plain `session.run` for the verdict, FULL_TRACE for the ops.

A traced run (`RunOptions(trace_level=FULL_TRACE)`) returns `RunMetadata.step_stats`: per node
that really ran (after Grappler's and oneDNN's rewrites), its start and end. Node times are
`all_end_rel_nanos` (micros on builds without the nanosecond fields). What ran is read from the
partition graph (`_FusedConv2D(BiasAdd,Relu6)`, `_MklNativeFusedConv2D`...), once, at open.

From TF 2.18 on, tracing costs a varying share per process (traced/untraced 1.05-1.59x measured)
and can inflate single ops, so the caller alternates traced and untraced runs and trusts the
per-op figures only when the traced node times add up to the untraced time
(`explain.latency_attribution`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.latency_probe import NodeInfo
from pytest_deeplab.runtime.tf import import_tensorflow

SKIPPED = ("_SOURCE", "_SINK")


def _node_ms(stats: Any) -> float:
    nanos = int(getattr(stats, "all_end_rel_nanos", 0) or 0)
    return nanos / 1e6 if nanos else int(stats.all_end_rel_micros) / 1e3


class GraphLatencyProbe:
    available = True
    unavailable = ""
    probe_kind = "step_stats (RunOptions FULL_TRACE)"

    def __init__(self, path: Path, *, input_tensor: str, output_tensor: str,
                 threads: int | None, image: np.ndarray, xnnpack: bool = True,
                 allow_ops: tuple[str, ...] = ()) -> None:
        from pytest_deeplab.runtime.frozen_graph import FrozenGraphPredictor

        self.tf = import_tensorflow()
        self.threads = threads
        predictor: Any = FrozenGraphPredictor(path.stem, path, input_tensor, output_tensor,
                                              threads, allow_ops=allow_ops)  # checked first
        self.predictor = predictor
        graph = predictor.graph
        self.output = graph.get_tensor_by_name(output_tensor)
        self.feed = {graph.get_tensor_by_name(input_tensor): image[np.newaxis]}
        self.session = predictor.session
        self.session.run(self.output, self.feed)  # the first call builds the executors
        self.kernels, self.order = self._partition()
        self._shapes: dict[str, list[int]] = {}
        self._options = self.tf.compat.v1.RunOptions(
            trace_level=self.tf.compat.v1.RunOptions.FULL_TRACE)

    def _partition(self) -> tuple[dict[str, str], list[str]]:
        """node -> kernel (op plus fused ops) of the optimised graph, and its node order."""
        options = self.tf.compat.v1.RunOptions(output_partition_graphs=True)
        metadata = self.tf.compat.v1.RunMetadata()
        self.session.run(self.output, self.feed, options=options, run_metadata=metadata)
        kernels, order = {}, []
        for partition in metadata.partition_graphs:
            for node in partition.node:
                fused = ([f.decode() for f in node.attr["fused_ops"].list.s]
                         if "fused_ops" in node.attr else [])
                kernels[node.name] = node.op + (f"({','.join(fused)})" if fused else "")
                order.append(node.name)
        return kernels, order

    def untraced(self) -> float:
        start = time.perf_counter()
        self.session.run(self.output, self.feed)
        return time.perf_counter() - start

    def traced(self) -> tuple[float, dict[str, float]]:
        metadata = self.tf.compat.v1.RunMetadata()
        start = time.perf_counter()
        self.session.run(self.output, self.feed, options=self._options, run_metadata=metadata)
        wall = time.perf_counter() - start
        times: dict[str, float] = {}
        for device in metadata.step_stats.dev_stats:
            for stats in device.node_stats:
                if stats.node_name in SKIPPED:
                    continue
                times[stats.node_name] = times.get(stats.node_name, 0.0) + _node_ms(stats)
                if stats.node_name not in self._shapes and stats.output:
                    dims = stats.output[0].tensor_description.shape.dim
                    self._shapes[stats.node_name] = [int(d.size) for d in dims]
        return wall, times

    def how_it_runs(self) -> dict[str, Any]:
        from pytest_deeplab.runtime.identity import onednn_active
        from pytest_deeplab.runtime.tf import session_config

        config = session_config(self.threads)
        return {
            "runtime": f"TensorFlow {self.tf.__version__}",
            "onednn": onednn_active(),
            "threads": self.threads,
            "intra_op_threads": int(config.intra_op_parallelism_threads),  # 0: TF's default
            "inter_op_threads": int(config.inter_op_parallelism_threads),
            "nodes": self.predictor.node_count,
            "executed_nodes": len(self.kernels),
            "node_kernels": dict(self.kernels),
        }

    def nodes(self) -> dict[str, NodeInfo]:
        position = {name: i for i, name in enumerate(self.order)}
        info = {}
        for name, kernel in self.kernels.items():
            op = kernel.split("(")[0]
            info[name] = NodeInfo(position[name], name, op, self._shapes.get(name, []),
                                  kernel if kernel != op else "")
        return info

    def close(self) -> None:
        self.predictor.close()
