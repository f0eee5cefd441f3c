"""Where the time went: the pure arithmetic of `explain --latency` (no TensorFlow, no processes).

Inputs per build (A baseline, B candidate): untraced inference times (the verdict), the traced
runs' per-op times (the attribution), what each op is, and how the model ran. Order of judgement:

1. How the model runs (delegation, kernels, threads): if that differs, it is said first.
2. The total: medians of the untraced runs, their ratio, and a distribution-free interval for
   the median per-round ratio (rounds are interleaved, A and B side by side).
3. The ops: per node, the median of its traced times; per type, the sum over its nodes. Each
   difference's share is its part of the untraced total difference. Time the probe did not
   cover is untraced median minus the ops' sum.
4. The guard against tracing overhead: per-op figures are trusted only when, in both builds, the
   ops' times add up to the untraced time (coverage within COVERAGE_TOLERANCE), and the per-op
   differences add up to the total difference (explained fraction within TOLERANCE of 1).
   Otherwise the report says it cannot attribute reliably, and why. Runs interrupted by other
   processes (the ops' own medians adding up to well under a run's op total) are a warning:
   per-op medians are robust to them, and the explained fraction still has to hold.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pytest_deeplab.gate.stats import sign_test_rank

TOLERANCE = 0.25  # per-op differences must add up to the total difference within 25 %
COVERAGE_TOLERANCE = 0.15  # traced ops must add up to the untraced time within 15 %
CONFIDENCE = 0.95
HOW_KEYS = {  # how_it_runs key -> (what it is, which family of change)
    "format": ("model format", "format"),
    "xnnpack": ("XNNPACK", "delegation"), "partitions": ("delegate partitions", "delegation"),
    "delegated_nodes": ("delegated nodes", "delegation"),
    "outside_delegate": ("ops outside the delegate", "delegation"),
    "delegate_operators": ("delegate operators", "delegation"),
    "nodes": ("nodes", "delegation"), "executed_nodes": ("executed nodes", "kernels"),
    "kernels": ("delegate kernels", "kernels"), "node_kernels": ("kernels", "kernels"),
    "onednn": ("oneDNN", "kernels"), "threads": ("threads", "threads"),
    "intra_op_threads": ("intra-op threads", "threads"),
    "inter_op_threads": ("inter-op threads", "threads"),
}


@dataclass
class SideTimes:
    """One build's measurements, as the worker sent them (seconds untraced, ms per op)."""

    untraced: list[float]
    traced_wall: list[float] = field(default_factory=list)
    traced: list[dict[str, float]] = field(default_factory=list)
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    how: dict[str, Any] = field(default_factory=dict)
    available: bool = True
    unavailable: str = ""


def median_ms(seconds: Sequence[float]) -> float:
    return float(np.median(np.asarray(seconds, dtype=np.float64))) * 1000 if seconds else math.nan


def _differences(key: str, a: Any, b: Any) -> str | None:
    if a is None or b is None or a == b:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        changed = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        shown = "; ".join(f"{k}: {a.get(k, 'absent')} -> {b.get(k, 'absent')}"
                          for k in changed[:6])
        return f"{len(changed)} differ ({shown}{'; ...' if len(changed) > 6 else ''})"
    return f"{a} -> {b}"


def compare_how(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """What changed in how the model runs: delegation first, then kernels, then threads."""
    changes: list[dict[str, str]] = []
    for key, (label, family) in HOW_KEYS.items():
        what = _differences(key, a.get(key), b.get(key))
        if what is not None:
            changes.append({"family": family, "what": label, "change": what})
    families = [f for f in ("format", "delegation", "kernels", "threads")
                if any(c["family"] == f for c in changes)]
    headline = " and ".join(f"{f} changed" for f in families)
    return {"same": not changes, "changed": families, "headline": headline,
            "changes": changes, "a": dict(a), "b": dict(b)}


def paired_ratio(a: Sequence[float], b: Sequence[float]) -> dict[str, Any]:
    """Median of the per-round ratios B/A and a sign-test interval for it."""
    n = min(len(a), len(b))
    ratios = np.sort(np.asarray(b[:n], np.float64) / np.asarray(a[:n], np.float64))
    if n == 0:
        return {"ratio": math.nan, "low": math.nan, "high": math.nan, "pairs": 0}
    k = sign_test_rank(n, CONFIDENCE)
    return {"ratio": float(np.median(ratios)), "low": float(ratios[k - 1]),
            "high": float(ratios[n - k]), "pairs": n, "confidence": CONFIDENCE}


def total(a: SideTimes, b: SideTimes) -> dict[str, Any]:
    a_ms, b_ms = median_ms(a.untraced), median_ms(b.untraced)
    paired = paired_ratio(a.untraced, b.untraced)
    significant = paired["pairs"] > 0 and (paired["low"] > 1.0 or paired["high"] < 1.0)
    return {"a_ms": a_ms, "b_ms": b_ms, "diff_ms": b_ms - a_ms,
            "ratio": b_ms / a_ms if a_ms else math.nan, "paired": paired,
            "significant": bool(significant), "runs": {"A": len(a.untraced),
                                                       "B": len(b.untraced)}}


def node_medians(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    """Each op's median time over the traced runs (0 in a run it did not appear in)."""
    keys = sorted({k for run in runs for k in run})
    return {k: float(np.median([run.get(k, 0.0) for run in runs])) for k in keys}


def probe_summary(side: SideTimes, coverage_tolerance: float = COVERAGE_TOLERANCE
                  ) -> dict[str, Any]:
    """The probe's figures for one build: overhead, coverage, steadiness, what it missed.

    `ops_ms` is the median over traced runs of the run's op total (like the untraced median,
    it includes what the machine did to each run); `coverage` compares it with the untraced
    median. `medians_ms`, the sum of each op's own median, drops interruptions that land on a
    random op in each run: far below `ops_ms` means the machine, not the build, took the time.
    """
    untraced = median_ms(side.untraced)
    if not side.available or not side.traced:
        return {"available": False, "reason": side.unavailable or "no traced runs",
                "untraced_ms": untraced}
    ops = float(np.median([sum(run.values()) for run in side.traced]))
    medians = sum(node_medians(side.traced).values())
    traced = median_ms(side.traced_wall)
    return {"available": True, "runs": len(side.traced), "untraced_ms": untraced,
            "traced_ms": traced, "overhead": traced / untraced if untraced else math.nan,
            "ops_ms": ops, "coverage": ops / untraced if untraced else math.nan,
            "medians_ms": medians, "steadiness": medians / ops if ops else math.nan,
            "uncovered_ms": untraced - ops}


def _row(key: str, info: Mapping[str, Any], a_ms: float, b_ms: float,
         total_diff: float) -> dict[str, Any]:
    diff = b_ms - a_ms
    return {**info, "key": key, "a_ms": a_ms, "b_ms": b_ms, "diff_ms": diff,
            "ratio": b_ms / a_ms if a_ms else (math.inf if b_ms else math.nan),
            "share": diff / total_diff if total_diff else math.nan}


def _ordered(rows: list[dict[str, Any]], total_diff: float) -> list[dict[str, Any]]:
    sign = -1.0 if total_diff < 0 else 1.0  # a speed-up ranks the largest gain first
    return sorted(rows, key=lambda r: (-sign * r["diff_ms"], str(r.get("type", "")),
                                       str(r["key"])))


def by_node(a: SideTimes, b: SideTimes, total_diff: float) -> list[dict[str, Any]]:
    ma, mb = node_medians(a.traced), node_medians(b.traced)
    rows = []
    for key in sorted(set(ma) | set(mb)):
        info = dict(a.nodes.get(key) or b.nodes.get(key) or {"name": key, "type": "?"})
        kernel_b = (b.nodes.get(key) or {}).get("kernel")
        if kernel_b and kernel_b != info.get("kernel"):
            info["kernel_b"] = kernel_b
        rows.append(_row(key, info, ma.get(key, 0.0), mb.get(key, 0.0), total_diff))
    return _ordered(rows, total_diff)


def by_type(nodes: Sequence[Mapping[str, Any]], total_diff: float,
            field: str = "type") -> list[dict[str, Any]]:
    """Node rows summed per op type (or per another node field: a Keras model's `layer`)."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for row in nodes:
        grouped.setdefault(str(row.get(field) or "?"), []).append(row)
    rows = []
    for kind, members in grouped.items():
        a_ms = sum(float(r["a_ms"]) for r in members)
        b_ms = sum(float(r["b_ms"]) for r in members)
        rows.append(_row(kind, {field: kind, "nodes": len(members)}, a_ms, b_ms, total_diff))
    ordered = _ordered(rows, total_diff)
    for row in ordered:
        del row["key"]
    return ordered


def attribute(a: SideTimes, b: SideTimes, *, tolerance: float = TOLERANCE,
              coverage_tolerance: float = COVERAGE_TOLERANCE) -> dict[str, Any]:
    """The whole `latency` section of the report (see the module docstring)."""
    how = compare_how(a.how, b.how)
    tot = total(a, b)
    probes = {"A": probe_summary(a, coverage_tolerance),
              "B": probe_summary(b, coverage_tolerance)}
    result: dict[str, Any] = {
        "total": tot, "delegation": how, "probe": probes,
        "tolerance": tolerance, "coverage_tolerance": coverage_tolerance,
        "by_type": [], "by_node": [], "uncovered": None, "explained_fraction": None,
        "attributable": False, "reasons": [], "warnings": [],
    }
    reasons: list[str] = result["reasons"]
    for label, probe in probes.items():
        if not probe["available"]:
            reasons.append(f"the per-op probe is unavailable in {label}: {probe['reason']}")
    if reasons:
        result["conclusion"] = _conclusion(result)
        return result
    diff = tot["diff_ms"]
    nodes = by_node(a, b, diff)
    result["by_node"] = nodes
    result["by_type"] = by_type(nodes, diff)
    if any(row.get("layer") for row in nodes):  # the format names layers (Keras)
        result["by_layer"] = by_type(nodes, diff, "layer")
    ua, ub = probes["A"]["uncovered_ms"], probes["B"]["uncovered_ms"]
    result["uncovered"] = {"a_ms": ua, "b_ms": ub, "diff_ms": ub - ua,
                           "share": (ub - ua) / diff if diff else math.nan}
    explained = sum(r["diff_ms"] for r in nodes)
    result["explained_fraction"] = explained / diff if diff else None
    for label, probe in probes.items():
        if abs(probe["coverage"] - 1.0) > coverage_tolerance:
            reasons.append(
                f"in {label} the traced ops add up to {probe['coverage']:.0%} of the untraced "
                f"time (traced runs take {probe['overhead']:.2f}x the untraced ones): tracing "
                f"distorts this build beyond {coverage_tolerance:.0%}")
        if 1.0 - probe["steadiness"] > coverage_tolerance:
            result["warnings"].append(
                f"in {label} the ops' medians add up to {probe['steadiness']:.0%} of a traced "
                "run's ops: other processes interrupted the runs; per-op medians leave that "
                "out, the totals do not (more --runs, or a quieter machine, tighten both)")
    if not tot["significant"]:
        p = tot["paired"]
        reasons.append(f"no significant difference to attribute (B/A {p['ratio']:.3f}, "
                       f"{p['confidence']:.0%} interval [{p['low']:.3f}, {p['high']:.3f}])")
    elif result["explained_fraction"] is not None and abs(
            result["explained_fraction"] - 1.0) > tolerance:
        reasons.append(f"the per-op differences add up to {result['explained_fraction']:.0%} "
                       f"of the total difference, outside 100 % +- {tolerance:.0%}")
    result["attributable"] = not reasons
    result["conclusion"] = _conclusion(result)
    return result


def _pct(ratio: float) -> str:
    return f"{abs(ratio - 1):.1%} {'slower' if ratio >= 1 else 'faster'}"


def _conclusion(result: Mapping[str, Any]) -> str:
    tot, how = result["total"], result["delegation"]
    head = (f"B is {_pct(tot['ratio'])} than A ({tot['a_ms']:.2f} -> {tot['b_ms']:.2f} ms, "
            f"median of {tot['runs']['A']} / {tot['runs']['B']} untraced runs)")
    if not how["same"]:
        head = f"{how['headline']}: " + "; ".join(
            f"{c['what']} {c['change']}" for c in how["changes"][:4]) + f". {head}"
    if not result["attributable"]:
        return f"{head}; cannot attribute reliably: " + "; ".join(result["reasons"])
    top = [r for r in result["by_type"] if r["share"] == r["share"]][:3]
    parts = ", ".join(f"{r['type']} {r['diff_ms']:+.2f} ms ({r['share']:.0%})" for r in top)
    return (f"{head}; the per-op differences explain {result['explained_fraction']:.0%} of "
            f"it: {parts}")
