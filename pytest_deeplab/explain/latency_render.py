"""`explain --latency` as text for the terminal and as one HTML page (from the JSON data)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

TOP = 10
TOP_ROWS = 25


def _ms(value: Any) -> str:
    return "-" if value is None or value != value else f"{float(value):.3f}"


def _ratio(value: Any) -> str:
    if value is None or value != value:
        return "-"
    return "new" if math.isinf(value) else f"{float(value):.3f}"


def _share(value: Any) -> str:
    return "-" if value is None or value != value else f"{100 * float(value):.1f} %"


def side_line(label: str, side: dict[str, Any]) -> str:
    xnn = "" if side.get("xnnpack") is None else f", XNNPACK {'on' if side['xnnpack'] else 'off'}"
    env = " ".join(f"{k}={v}" for k, v in side.get("env", {}).items())
    runtime = str(side.get("runtime") or "")
    if side.get("xnnpack") is None:  # a TensorFlow graph: its kernels are oneDNN's or not
        onednn = side.get("onednn")
        runtime = "oneDNN " + ("on" if onednn else "off" if onednn is not None else "n/a")
    return (f"  {label}: {side['python']}  TensorFlow {side.get('tensorflow')}, "
            f"{runtime}{xnn}" + (f"  env {env}" if env else "")
            + f"\n     {side['path']}\n     probe: {side.get('probe')}")


def _probe_line(label: str, probe: dict[str, Any]) -> str:
    if not probe["available"]:
        return f"  probe {label}: unavailable ({probe['reason']})"
    return (f"  probe {label}: {probe['runs']} traced runs, traced/untraced "
            f"{probe['overhead']:.2f}x, ops add up to {probe['coverage']:.0%} of the untraced "
            f"median, {_ms(probe['uncovered_ms'])} ms not covered; ops' own medians add up to "
            f"{probe['steadiness']:.0%} of a run's ops")


def node_label(row: dict[str, Any]) -> str:
    kernel = row.get("kernel") or ""
    if row.get("kernel_b"):
        kernel = f"{kernel or row['type']} -> {row['kernel_b']}"
    return (f"#{row.get('index', '?')} {row.get('name', row['key'])} ({row['type']}"
            + (f", {kernel}" if kernel else "") + f") {row.get('shape') or ''}").rstrip()


def render_latency_text(data: dict[str, Any]) -> str:
    lat = data["latency"]
    tot, runs = lat["total"], lat["runs"]
    image = data["image"]
    lines = [f"pytest-deeplab explain --latency: {data['model']}"
             + (f" against {data['against']}" if data.get("against") else "")
             + f" on {image['path']} ({image['size'][0]}x{image['size'][1]})"]
    lines += [side_line(label, data["sides"][label]) for label in ("A", "B")]
    lines.append(f"  {lat['conclusion']}")
    how = lat["delegation"]
    lines.append("  how the model runs: " + ("same in A and B" if how["same"] else
                                           how["headline"]))
    lines += [f"    {c['what']}: {c['change']}" for c in how["changes"]]
    p = tot["paired"]
    lines.append(f"  total: A {_ms(tot['a_ms'])} ms, B {_ms(tot['b_ms'])} ms (medians of "
                 f"{runs['untraced_per_side']} untraced runs each, {runs['warmup']} warm-up); "
                 f"B/A {_ratio(tot['ratio'])}, per-round B/A {_ratio(p['ratio'])} "
                 f"[{_ratio(p['low'])}, {_ratio(p['high'])}]")
    lines += [_probe_line(label, lat["probe"][label]) for label in ("A", "B")]
    lines += [f"  warning: {w}" for w in lat.get("warnings", [])]
    if lat["explained_fraction"] is not None:
        lines.append(f"  explained fraction: {lat['explained_fraction']:.0%} (per-op "
                     f"differences / total difference; trusted within 100 % +- "
                     f"{lat['tolerance']:.0%})")
    if lat["by_type"]:
        lines.append("  by op type (A ms, B ms, B/A, share of the difference):")
        width = max(len(str(r["type"])) for r in lat["by_type"][:TOP])
        lines += [f"    {r['type']:<{width}}  {_ms(r['a_ms']):>9} {_ms(r['b_ms']):>9} "
                  f"{_ratio(r['ratio']):>7} {_share(r['share']):>9}  ({r['nodes']} nodes)"
                  for r in lat["by_type"][:TOP]]
        unc = lat["uncovered"]
        lines.append(f"    {'(not covered by the probe)':<{width}}  {_ms(unc['a_ms']):>9} "
                     f"{_ms(unc['b_ms']):>9} {'':>7} {_share(unc['share']):>9}")
        if lat.get("by_layer"):
            lines.append("  by layer:")
            lines += [f"    {_ms(r['a_ms']):>9} {_ms(r['b_ms']):>9} {_ratio(r['ratio']):>7} "
                      f"{_share(r['share']):>9}  {r['layer']} ({r['nodes']} ops)"
                      for r in lat["by_layer"][:TOP]]
        lines.append("  by node:")
        lines += [f"    {_ms(r['a_ms']):>9} {_ms(r['b_ms']):>9} {_ratio(r['ratio']):>7} "
                  f"{_share(r['share']):>9}  {node_label(r)}" for r in lat["by_node"][:TOP]]
    lines.append(f"  {data['seconds']:.1f} s")
    return "\n".join(lines) + "\n"


TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>explain --latency {{ d.model }}</title>
<style>{{ base_css|safe }}
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.verdict { padding: .6em 1em; border-left: 4px solid #888; background: #fafafa; }
.verdict.bad { border-color: #c0392b; } .verdict.ok { border-color: #27ae60; }
</style></head><body>
<h1>Where did the time go? {{ d.model }}{% if d.against %} against {{ d.against }}{% endif %}</h1>
<pre>{{ sides }}</pre>
<div class="verdict {{ 'ok' if lat.attributable else 'bad' }}">{{ lat.conclusion }}</div>
{% for w in lat.warnings %}<p>Warning: {{ w }}</p>{% endfor %}
<h2>How the model runs</h2>
{% if lat.delegation.same %}<p>The same in A and B.</p>{% else %}
<p><b>{{ lat.delegation.headline }}</b></p><ul>{% for c in lat.delegation.changes %}
<li>{{ c.what }}: {{ c.change }}</li>{% endfor %}</ul>{% endif %}
<h2>Total</h2><pre>{{ totals }}</pre>
{% if lat.by_type %}<h2>By op type</h2>
<table><tr><th>type</th><th>nodes</th><th>A ms</th><th>B ms</th><th>B/A</th><th>share</th></tr>
{% for r in lat.by_type[:top] %}<tr><td>{{ r.type }}</td><td class="num">{{ r.nodes }}</td>
<td class="num">{{ ms(r.a_ms) }}</td><td class="num">{{ ms(r.b_ms) }}</td>
<td class="num">{{ ratio(r.ratio) }}</td><td class="num">{{ share(r.share) }}</td></tr>{% endfor %}
<tr><td><i>not covered by the probe</i></td><td></td>
<td class="num">{{ ms(lat.uncovered.a_ms) }}</td>
<td class="num">{{ ms(lat.uncovered.b_ms) }}</td><td></td>
<td class="num">{{ share(lat.uncovered.share) }}</td></tr></table>
{% if lat.get("by_layer") %}<h2>By layer</h2>
<table><tr><th>layer</th><th>ops</th><th>A ms</th><th>B ms</th><th>B/A</th><th>share</th></tr>
{% for r in lat.by_layer[:top] %}<tr><td>{{ r.layer }}</td><td class="num">{{ r.nodes }}</td>
<td class="num">{{ ms(r.a_ms) }}</td><td class="num">{{ ms(r.b_ms) }}</td>
<td class="num">{{ ratio(r.ratio) }}</td><td class="num">{{ share(r.share) }}</td></tr>{% endfor %}
</table>{% endif %}
<h2>By node</h2>
<table><tr><th>#</th><th>name</th><th>type</th><th>kernel</th><th>shape</th><th>A ms</th>
<th>B ms</th><th>B/A</th><th>share</th></tr>
{% for r in lat.by_node[:top] %}<tr><td class="num">{{ r.index }}</td><td>{{ r.name }}</td>
<td>{{ r.type }}</td>
<td>{{ r.kernel }}{% if r.get('kernel_b') %} &rarr; {{ r.kernel_b }}{% endif %}</td>
<td>{{ r.shape }}</td><td class="num">{{ ms(r.a_ms) }}</td><td class="num">{{ ms(r.b_ms) }}</td>
<td class="num">{{ ratio(r.ratio) }}</td><td class="num">{{ share(r.share) }}</td></tr>{% endfor %}
</table>{% endif %}
<p><small>pytest-deeplab explain --latency, {{ d.seconds }} s</small></p>
</body></html>
"""


def render_latency_html(data: dict[str, Any]) -> str:
    import jinja2

    from pytest_deeplab.explain.html import BASE_CSS

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    text = render_latency_text(data).splitlines()
    totals = "\n".join(line.strip() for line in text if line.lstrip().startswith(
        ("total:", "probe ", "explained fraction")))
    return env.from_string(TEMPLATE).render(
        d=data, lat=data["latency"], top=TOP_ROWS, ms=_ms, ratio=_ratio, share=_share,
        base_css=BASE_CSS,
        sides="\n".join(side_line(label, data["sides"][label]) for label in ("A", "B")),
        totals=totals)


def write_latency_html(data: dict[str, Any], path: Path) -> None:
    path.write_text(render_latency_html(data), encoding="utf-8")
