"""The latency probes on the bundled models: real TensorFlow, real TF Lite, real profiler.

The bundled mini MobileNet-v2 exists as a frozen graph and as float and int8 TF Lite files; the
probes must see every op the runtime runs, report how it runs, and never claim more op time
than the invocation took (one thread: ops run one after the other).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, SmallModel

from pytest_deeplab.runtime import tflite_profiler
from pytest_deeplab.runtime.latency_registry import open_latency_probe

pytestmark = pytest.mark.needs_tf

FLOAT = FIXTURES / "models" / "mini_mnv2_os16_float.tflite"
INT8 = FIXTURES / "models" / "mini_mnv2_os16_int8.tflite"
IMAGE = np.random.default_rng(7).integers(0, 256, (150, 200, 3), dtype=np.uint8)
RUNS = 5


def _probe(path: Path, fmt: str, xnnpack: bool = True) -> object:
    return open_latency_probe(path, fmt, input_tensor="ImageTensor:0",
                              output_tensor="SemanticPredictions:0", threads=1, image=IMAGE,
                              xnnpack=xnnpack)


def _check_runs(probe: object) -> dict[str, float]:
    """Untraced and traced runs work; op times are positive and fit inside the invocation."""
    untraced = [probe.untraced() for _ in range(RUNS)]  # type: ignore[attr-defined]
    assert all(t > 0 for t in untraced)
    for _ in range(RUNS):
        wall, ops = probe.traced()  # type: ignore[attr-defined]
        assert ops and all(v >= 0 for v in ops.values())
        assert sum(ops.values()) <= wall * 1000 * 1.02 + 0.05  # 1 thread: ops run in turn
    nodes = probe.nodes()  # type: ignore[attr-defined]
    assert set(ops) <= set(nodes), set(ops) - set(nodes)
    return ops


@pytest.mark.parametrize(("path", "xnnpack", "outside"), [
    (FLOAT, True, []),
    (INT8, True, [["ARG_MAX", 1], ["QUANTIZE", 1]]),  # int8 model: float in, class ids out
    (FLOAT, False, None),
    (INT8, False, None),
])
def test_tflite_probe_sees_every_op(path: Path, xnnpack: bool, outside: object) -> None:
    probe = _probe(path, "tflite", xnnpack)
    try:
        assert probe.available, probe.unavailable  # type: ignore[attr-defined]
        how = probe.how_it_runs()  # type: ignore[attr-defined]
        ops = _check_runs(probe)
        nodes = probe.nodes()  # type: ignore[attr-defined]
    finally:
        probe.close()  # type: ignore[attr-defined]
    assert how["xnnpack"] is xnnpack and how["threads"] == 1
    if xnnpack:
        assert how["partitions"] == 1
        assert [list(item) for item in how["outside_delegate"]] == outside
        # XNNPACK's operators line up with the delegated nodes and are keyed by them
        assert how["delegate_operators"] == how["delegated_nodes"] and how["mapped_to_nodes"]
        assert any(n.kernel.startswith("XNNPACK Convolution") for n in nodes.values())
        assert len(ops) == how["nodes"]
    else:
        assert how["partitions"] == 0 and how["kernels"] == {}
        assert len(ops) == how["nodes"]  # every node is its own event
    conv = [n for n in nodes.values() if n.type == "CONV_2D"]
    assert conv and all(len(n.shape) == 4 for n in conv)


def test_graph_probe_times_the_nodes_that_ran(small_model: SmallModel) -> None:
    probe = _probe(small_model.graph, "frozen_graph")
    try:
        how = probe.how_it_runs()  # type: ignore[attr-defined]
        ops = _check_runs(probe)
        nodes = probe.nodes()  # type: ignore[attr-defined]
    finally:
        probe.close()  # type: ignore[attr-defined]
    assert how["intra_op_threads"] == 1 and how["inter_op_threads"] == 1
    assert how["executed_nodes"] == len(how["node_kernels"]) > 0
    fused = [n for n in nodes.values() if n.kernel.startswith("_FusedConv2D")]
    assert fused, "Grappler fuses the bundled graph's Conv2D+BiasAdd+Relu6"
    timed = [k for k in ops if nodes[k].type == "_FusedConv2D"]
    assert timed and all(nodes[k].shape for k in timed)


def test_a_build_without_the_symbol_reports_the_probe_unavailable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tflite_profiler, "SYMBOL", "_ZN6tflite_no_such_symbol")
    probe = _probe(FLOAT, "tflite")
    try:
        assert not probe.available  # type: ignore[attr-defined]
        assert "SetProfilerImpl" in probe.unavailable  # type: ignore[attr-defined]
        assert probe.untraced() > 0  # type: ignore[attr-defined]  # the verdict still runs
        with pytest.raises(RuntimeError, match="unavailable"):
            probe.traced()  # type: ignore[attr-defined]
    finally:
        probe.close()  # type: ignore[attr-defined]
