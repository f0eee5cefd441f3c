"""The arithmetic of `explain --latency` on stand-in timings written by hand.

Every expected figure below was worked out on paper from the stand-in timings (comments show the
sums), never by the code under test.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_deeplab.explain.latency_attribution import (
    SideTimes,
    attribute,
    compare_how,
    node_medians,
    paired_ratio,
)

NODES = {
    "conv": {"index": 3, "name": "block1/conv", "type": "Conv2D", "shape": [1, 65, 65, 96],
             "kernel": "_FusedConv2D(BiasAdd,Relu6)"},
    "conv2": {"index": 4, "name": "block2/conv", "type": "Conv2D", "shape": [1, 33, 33, 96],
              "kernel": "_FusedConv2D(BiasAdd)"},
    "resize": {"index": 9, "name": "ResizeBilinear", "type": "ResizeBilinear",
               "shape": [1, 257, 257, 21], "kernel": ""},
    "argmax": {"index": 10, "name": "ArgMax", "type": "ArgMax", "shape": [1, 257, 257],
               "kernel": ""},
}
HOW = {"runtime": "TensorFlow 2.x", "onednn": True, "threads": 1, "nodes": 200,
       "node_kernels": {"block1/conv": "_FusedConv2D(BiasAdd,Relu6)"}}


def side(untraced_ms: list[float], ops: dict[str, list[float]],
         traced_ms: list[float] | None = None, how: dict[str, Any] | None = None) -> SideTimes:
    """A side from per-run ms figures: ops[key][i] is the op's time in traced run i."""
    runs = len(next(iter(ops.values())))
    traced = [{k: v[i] for k, v in ops.items()} for i in range(runs)]
    walls = traced_ms if traced_ms is not None else [sum(t.values()) for t in traced]
    return SideTimes(untraced=[u / 1000 for u in untraced_ms],
                     traced_wall=[w / 1000 for w in walls], traced=traced, nodes=dict(NODES),
                     how=dict(how or HOW))


# A: untraced 10 ms; ops conv 5 + conv2 2 + resize 2 + argmax 0.6 = 9.6 ms (coverage 96 %)
A_OPS = {"conv": [5.0, 5.1, 4.9], "conv2": [2.0, 2.0, 2.0], "resize": [2.0, 1.9, 2.1],
         "argmax": [0.6, 0.6, 0.6]}
A_UNTRACED = [10.0, 9.9, 10.1, 10.0, 10.2, 9.8, 10.0, 10.1, 9.9, 10.0]
# B: untraced 12 ms; conv 6.5 (+1.5) + conv2 2.1 (+0.1) + resize 2.3 (+0.3) + argmax 0.6 = 11.5
B_OPS = {"conv": [6.5, 6.4, 6.6], "conv2": [2.1, 2.1, 2.1], "resize": [2.3, 2.3, 2.3],
         "argmax": [0.6, 0.6, 0.6]}
B_UNTRACED = [12.0, 11.9, 12.1, 12.0, 12.2, 11.8, 12.0, 12.1, 11.9, 12.0]


def test_a_slowdown_is_attributed_op_by_op() -> None:
    result = attribute(side(A_UNTRACED, A_OPS), side(B_UNTRACED, B_OPS))
    total = result["total"]
    assert total["a_ms"] == pytest.approx(10.0)  # median of A_UNTRACED
    assert total["b_ms"] == pytest.approx(12.0)
    assert total["ratio"] == pytest.approx(1.2)
    assert total["significant"]  # every round's B/A is about 1.2
    assert result["delegation"]["same"]
    # per-op differences: 1.5 + 0.1 + 0.3 + 0 = 1.9 of 2.0 ms -> 95 %
    assert result["explained_fraction"] == pytest.approx(0.95)
    assert result["attributable"], result["reasons"]
    by_type = result["by_type"]
    assert [r["type"] for r in by_type] == ["Conv2D", "ResizeBilinear", "ArgMax"]
    conv = by_type[0]
    assert conv["a_ms"] == pytest.approx(7.0) and conv["b_ms"] == pytest.approx(8.6)  # 5+2, 6.5+2.1
    assert conv["nodes"] == 2
    assert conv["share"] == pytest.approx(0.8)  # 1.6 of 2.0
    assert by_type[1]["share"] == pytest.approx(0.15)  # 0.3 of 2.0
    first = result["by_node"][0]
    assert (first["name"], first["index"], first["kernel"]) == (
        "block1/conv", 3, "_FusedConv2D(BiasAdd,Relu6)")
    assert first["ratio"] == pytest.approx(1.3)  # 6.5 / 5.0
    # not covered: A 10 - 9.6 = 0.4, B 12 - 11.5 = 0.5
    assert result["uncovered"]["a_ms"] == pytest.approx(0.4)
    assert result["uncovered"]["b_ms"] == pytest.approx(0.5)
    assert result["uncovered"]["share"] == pytest.approx(0.05)
    assert result["probe"]["A"]["coverage"] == pytest.approx(0.96)
    assert result["conclusion"].startswith("B is 20.0% slower than A")
    assert "Conv2D +1.60 ms (80%)" in result["conclusion"]


def test_tracing_that_inflates_one_build_is_refused() -> None:
    """B's tracing inflates SpaceToBatchND-like ops: its traced ops add up to 14.5 ms against
    12 ms untraced (121 %), a fake 'regression' of resize that untraced runs do not show."""
    inflated = dict(B_OPS, resize=[5.3, 5.3, 5.3])  # 6.5 + 2.1 + 5.3 + 0.6 = 14.5
    result = attribute(side(A_UNTRACED, A_OPS), side(B_UNTRACED, inflated))
    assert not result["attributable"]
    assert any("in B the traced ops add up to 121%" in r for r in result["reasons"])
    assert "cannot attribute reliably" in result["conclusion"]
    assert result["by_type"]  # still shown, with the warning


def test_runs_interrupted_by_other_processes_are_a_warning() -> None:
    """Each traced run of B loses 6 ms on a different op (another process took the CPU); the
    untraced runs lost it too (17.5 ms). Per run the ops add up to 11.5 + 6 = 17.5 ms
    (coverage 100 %), but the ops' own medians add up to 11.5 ms: 11.5 / 17.5 = 66 %. The
    medians' difference, 11.5 - 9.6 = 1.9 ms, is 25 % of the total's 7.5 ms: refused."""
    hit = {"conv": [12.5, 6.5, 6.5], "conv2": [2.1, 8.1, 2.1], "resize": [2.3, 2.3, 8.3],
           "argmax": [0.6, 0.6, 0.6]}
    result = attribute(side(A_UNTRACED, A_OPS), side([u + 5.5 for u in B_UNTRACED], hit))
    probe = result["probe"]["B"]
    assert probe["coverage"] == pytest.approx(1.0)
    assert probe["steadiness"] == pytest.approx(11.5 / 17.5)
    assert result["warnings"] == [
        "in B the ops' medians add up to 66% of a traced run's ops: other processes "
        "interrupted the runs; per-op medians leave that out, the totals do not (more --runs, "
        "or a quieter machine, tighten both)"]
    assert result["explained_fraction"] == pytest.approx(1.9 / 7.5)
    assert not result["attributable"]


def test_per_op_differences_that_do_not_add_up_are_refused() -> None:
    """Coverage 90 % in A and 110 % in B are each within 15 %, but the per-op difference
    (13.2 - 9.0 = 4.2 ms) is 210 % of the total difference (2 ms)."""
    a_ops = {"conv": [6.4] * 3, "conv2": [2.0] * 3, "resize": [0.6] * 3, "argmax": [0.0] * 3}
    b_ops = {"conv": [9.0] * 3, "conv2": [2.0] * 3, "resize": [2.2] * 3, "argmax": [0.0] * 3}
    result = attribute(side(A_UNTRACED, a_ops), side(B_UNTRACED, b_ops))
    assert result["explained_fraction"] == pytest.approx(2.1)
    assert not result["attributable"]
    assert any("add up to 210% of the total difference" in r for r in result["reasons"])


def test_the_same_timings_have_nothing_to_attribute() -> None:
    result = attribute(side(A_UNTRACED, A_OPS), side(list(reversed(A_UNTRACED)), A_OPS))
    assert not result["total"]["significant"]
    assert any("no significant difference" in r for r in result["reasons"])


def test_a_changed_delegation_is_said_first() -> None:
    how_a = {"runtime": "tf.lite", "xnnpack": True, "partitions": 1, "delegated_nodes": 55,
             "outside_delegate": [], "kernels": {"Convolution (NHWC, F32) IGEMM": 1}}
    how_b = dict(how_a, partitions=2, delegated_nodes=53, outside_delegate=[("MEAN", 1)])
    how = compare_how(how_a, how_b)
    assert not how["same"] and how["changed"] == ["delegation"]
    assert {c["what"]: c["change"] for c in how["changes"]} == {
        "delegate partitions": "1 -> 2", "delegated nodes": "55 -> 53",
        "ops outside the delegate": "[] -> [('MEAN', 1)]"}
    result = attribute(side(A_UNTRACED, A_OPS, how=how_a), side(B_UNTRACED, B_OPS, how=how_b))
    assert result["conclusion"].startswith("delegation changed: delegate partitions 1 -> 2")


def test_a_graph_against_its_tflite_conversion_is_a_format_change() -> None:
    how = compare_how({"format": "frozen_graph", "nodes": 965},
                      {"format": "tflite", "nodes": 72, "xnnpack": True})
    assert how["changed"] == ["format", "delegation"]
    assert how["changes"][0] == {"family": "format", "what": "model format",
                                 "change": "frozen_graph -> tflite"}


def test_kernels_and_threads_are_compared_not_the_version() -> None:
    how_b = dict(HOW, runtime="TensorFlow 2.y", threads=2,
                 node_kernels={"block1/conv": "_MklNativeFusedConv2D"})
    how = compare_how(HOW, how_b)
    assert how["changed"] == ["kernels", "threads"]
    assert how["headline"] == "kernels changed and threads changed"
    kernels = next(c for c in how["changes"] if c["what"] == "kernels")
    assert kernels["change"] == ("1 differ (block1/conv: _FusedConv2D(BiasAdd,Relu6) -> "
                                 "_MklNativeFusedConv2D)")


def test_an_unavailable_probe_leaves_the_verdict() -> None:
    b = side(B_UNTRACED, B_OPS)
    b.available, b.unavailable, b.traced, b.traced_wall = False, "no SetProfilerImpl", [], []
    result = attribute(side(A_UNTRACED, A_OPS), b)
    assert result["total"]["b_ms"] == pytest.approx(12.0) and result["total"]["significant"]
    assert not result["attributable"] and result["by_type"] == []
    assert result["reasons"] == ["the per-op probe is unavailable in B: no SetProfilerImpl"]


def test_node_medians_count_a_missing_op_as_zero() -> None:
    assert node_medians([{"a": 1.0, "b": 4.0}, {"a": 3.0}, {"a": 2.0, "b": 5.0}]) == {
        "a": 2.0, "b": 4.0}  # b: median of 4, 0, 5


def test_paired_ratio_interval_is_the_sign_test_one() -> None:
    """n = 10 at 95 %: P(Bin(10, 1/2) <= 1) = 11/1024 <= 0.025 < 56/1024, so the interval is
    [2nd smallest, 9th smallest] of the per-round ratios."""
    a = [1.0] * 10
    b = [1.10, 1.02, 1.30, 1.05, 1.20, 0.90, 1.15, 1.25, 1.00, 1.12]
    paired = paired_ratio(a, b)
    assert paired["low"] == pytest.approx(1.00) and paired["high"] == pytest.approx(1.25)
    assert paired["ratio"] == pytest.approx((1.10 + 1.12) / 2)
