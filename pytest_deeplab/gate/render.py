"""The gate's table: the two environments, then one row per model (Markdown for a PR, or text)."""

from __future__ import annotations

import math
from typing import Any

from pytest_deeplab.gate.results import GateReport
from pytest_deeplab.gate.sequential import Bounds


def _onednn(ident: dict[str, Any]) -> str:
    flag = ident.get("onednn")
    state = "on" if flag else "off" if flag is not None else "n/a"
    return f"{state} ({ident.get('onednn_source', '?')})"


def _threads(ident: dict[str, Any]) -> str:
    intra = ident.get("intra_op_threads") or "default"
    inter = ident.get("inter_op_threads") or "default"
    return f"intra {intra} / inter {inter}"


def _ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"


def _bound(value: float) -> str:
    return "-" if value in (0.0, math.inf) else f"{value:.3f}"


def _ratio(r: Bounds | None, decided_round: int | None = None) -> str:
    if r is None:
        return "-"
    at = "" if decided_round is None else f" r{decided_round}"
    return f"{r.ratio:.3f} [{_bound(r.low)}, {_bound(r.high)}]{at}"


def _detectable(value: float) -> str:
    return "-" if not math.isfinite(value) else f">= {value:.3f}"


def render(report: GateReport, markdown: bool = True) -> str:
    """The table a reviewer pastes into a PR (Markdown), or the same as aligned text."""
    from pytest_deeplab.history import format_table

    s = report.settings
    alpha = 1 - s.confidence
    each = alpha / max(report.hypotheses, 1)
    sides = (s.baseline, s.candidate)
    ids = [report.identities.get(side.label, {}) for side in sides]
    env_rows = [
        ["role", "baseline", "candidate"],
        ["asked for", *(f"`{side.asked or side.python}`" for side in sides)],
        ["environment", *(side.origin for side in sides)],
        ["Python", *(f"`{side.python}` ({i.get('python', '?')})" for side, i in zip(sides, ids))],
        ["TensorFlow", *(f"{i.get('tensorflow', '?')} ({i.get('tensorflow_git', '')})"
                         for i in ids)],
        ["numpy", *(str(i.get("numpy", "?")) for i in ids)],
        ["Keras", *(str(i.get("keras") or "-") for i in ids)],
        ["oneDNN", *(_onednn(i) for i in ids)],
        ["threads", *(_threads(i) for i in ids)],
        ["env", *(" ".join(f"{k}={v}" for k, v in side.env.items()) or "-" for side in sides)],
    ]
    header = ["model", "image", "rounds (stop)", "first call A / B (ms)", "median A / B (ms)",
              "latency B/A [bounds]", "CPU B/A [bounds]", "detectable B/A",
              "mask agreement (min)", "verdict"]
    rows = []
    for m in report.models:
        sa, sb = m.a.summary(), m.b.summary()
        worst = m.worst_agreement
        rows.append([
            m.name,
            f"{m.image} {m.image_size[0]}x{m.image_size[1]}" if m.image else "-",
            f"{m.rounds} ({m.stopped or '-'}, {m.sampling_seconds:.0f} s)",
            f"{_ms(sa['first_call_s'])} / {_ms(sb['first_call_s'])}",
            f"{_ms(sa['median_s'])} / {_ms(sb['median_s'])}",
            _ratio(m.ratio, m.decided_round.get("latency")),
            _ratio(m.cpu_ratio, m.decided_round.get("cpu")),
            _detectable(m.min_detectable),
            "-" if worst is None else f"{worst:.4%} ({len(m.agreement)} images)",
            f"**{m.verdict}**" if markdown and (m.failed or m.inconclusive) else m.verdict,
        ])
    failed = [m for m in report.models if m.failed]
    unsure = [m for m in report.models if m.inconclusive]
    cpu = "" if s.cpu_threshold is None else f", CPU time above {s.cpu_threshold:.2f}"
    title = (f"pytest-deeplab gate: B (candidate) vs A (baseline); FAIL when latency B/A lies "
             f"above {s.threshold:.2f}{cpu}, or masks agree less than the model's min_agreement")
    if failed:
        verdict = f"FAIL: {len(failed)} of {len(report.models)} models"
    elif unsure:
        verdict = f"INCONCLUSIVE: {len(unsure)} of {len(report.models)} models (exit 3)"
    else:
        verdict = f"PASS: {len(report.models)} models"
    method = (f"Rounds alternate A/B until each gated metric is decided or {s.max_seconds:.0f} s "
              f"per model are spent. Bounds: anytime-valid confidence sequence of the median "
              f"per-round ratio, intersected over the rounds (so they agree with the verdict), "
              f"each bound at {1 - each:.2%} ({alpha:.0%} over {report.hypotheses} "
              f"hypotheses; a FAIL that Holm's step-down reached at a wider level shows its "
              f"bounds at that level); rN: the round at which that gated metric was decided; "
              f"false FAILs in the whole run <= {alpha:.0%} (Holm). detectable B/A: the smallest "
              "latency ratio these rounds would have shown above the threshold.")
    lines = [f"### {title}" if markdown else title, "",
             format_table(["", "A", "B"], env_rows, markdown), "",
             format_table(header, rows, markdown), "",
             f"{verdict}; {report.seconds:.0f} s in all.", "", method]
    reasons: list[str] = []
    for m in [*failed, *unsure]:
        reasons.extend(f"- {m.name}: {reason}" for reason in m.reasons)
        if m.failed and any(r.startswith(("latency B/A", "CPU time B/A")) for r in m.reasons):
            from pytest_deeplab.explain.hint import gate_latency_command

            reasons.append(f"  - where the time went: `{gate_latency_command(m.name, s)}`")
    if reasons:  # each once, after a blank line: a list of its own, not the paragraph's tail
        lines += ["", *dict.fromkeys(reasons)]
    return "\n".join(lines) + "\n"
