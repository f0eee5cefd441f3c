"""The explanation as one self-contained HTML page: the divergence profile and the top ops.

The profile plots each compared tensor's relative L2 error along the graph (topological order,
log scale; identical tensors sit on the floor line), with the tolerance and the first difference
and first divergence marked. Rendered with Jinja2 (autoescaping on) from the JSON data; the plot
is a PNG made with matplotlib (Agg) and embedded, or a note saying how to get matplotlib.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

from pytest_deeplab.explain.render import fmt, mask_line, side_line, tensor_line

TOP_ROWS = 15
MATPLOTLIB_HINT = "the plot needs matplotlib: pip install 'pytest-deeplab[report]'"

BASE_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px;
       color: #1d1d1f; padding: 0 1em; }
h1 { font-size: 1.35em; } h2 { font-size: 1.1em; margin-top: 1.6em; }
pre { background: #f4f4f6; padding: .7em 1em; overflow-x: auto; font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: .25em .5em; border-bottom: 1px solid #ddd; }
"""
"""The look both explain pages share (this one and `explain --latency`'s)."""

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>explain {{ d.model }}</title>
<style>{{ base_css|safe }}
td.num, th { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.beyond td { background: #fdecea; }
.verdict { font-size: 1.05em; padding: .6em 1em; border-left: 4px solid #888; background: #fafafa; }
.verdict.div { border-color: #c0392b; } .verdict.same { border-color: #27ae60; }
img { max-width: 100%; }
</style></head><body>
<h1>Where do the runs part ways? {{ d.model }}
{%- if d.against %} against {{ d.against }}{% endif %}</h1>
<pre>{{ sides }}</pre>
<p>Image {{ d.image.path }} ({{ d.image.size[0] }}&times;{{ d.image.size[1] }});
{{ d.compared }} float tensors compared in topological order; a divergence is a relative L2 error
above {{ tol }}.</p>
<div class="verdict {{ 'div' if d.first_divergence else 'same' }}">
<b>first difference:</b> {{ first_difference }}<br>
<b>first divergence:</b> {{ first_divergence }}<br>
<b>logits:</b> {{ last }}<br>
<b>{{ mask }}</b></div>
{% if attribution %}<h2>Attribution (oneDNN / XNNPACK flipped)</h2>
<p>{{ attribution_text }}</p>
{% if attribution.variants %}<table><tr><th>A</th><th>B</th><th>first divergence</th>
<th>largest rel L2</th><th>masks</th></tr>
{% for v in attribution.variants %}<tr><td>{{ v.a }}</td><td>{{ v.b }}</td>
<td>{{ v.first_divergence.op if v.first_divergence else 'none' }}</td>
<td class="num">{{ fmt(v.largest_rel_l2) }}</td><td>{{ mask_line(v.mask) }}</td></tr>
{% endfor %}</table>{% endif %}{% endif %}
<h2>Divergence profile</h2>
{% if plot %}<img alt="relative L2 error per tensor along the graph" src="{{ plot }}">
{% else %}<p>{{ hint }}</p>{% endif %}
<h2>Top ops by relative error</h2>
{% if top %}<table><tr><th>#</th><th>op</th><th>type</th><th>shape</th><th>rel L2</th>
<th>max |a&minus;b|</th><th>beyond tolerance</th></tr>
{% for t in top %}<tr class="{{ 'beyond' if (t.rel_l2 or 0) > d.tolerance else '' }}">
<td class="num">{{ t.index }}</td><td>{{ t.op }}</td><td>{{ t.type }}</td><td>{{ t.shape }}</td>
<td class="num">{{ fmt(t.rel_l2) }}</td><td class="num">{{ fmt(t.max_abs) }}</td>
<td class="num">{{ '%.2f' % (100 * (t.fraction_beyond or 0)) }} %</td></tr>
{% endfor %}</table>{% else %}<p>Every compared tensor is bit-identical.</p>{% endif %}
{% for label, names in unmatched %}<h2>Not matched in {{ label }} ({{ names|length }})</h2>
<p>{{ names|join(', ') }}</p>{% endfor %}
<details><summary>All {{ d.compared }} tensors</summary><table>
<tr><th>#</th><th>op</th><th>type</th><th>rel L2</th><th>max |a&minus;b|</th></tr>
{% for t in d.tensors %}<tr><td class="num">{{ t.index }}</td><td>{{ t.op }}</td>
<td>{{ t.type }}</td><td class="num">{{ fmt(t.rel_l2) }}</td>
<td class="num">{{ fmt(t.max_abs) }}</td></tr>{% endfor %}</table></details>
<p><small>pytest-deeplab explain, {{ d.seconds }} s</small></p>
</body></html>
"""


def profile_png(data: dict[str, Any]) -> str | None:
    """Relative L2 error per tensor (log scale) as a PNG data URI; None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    tensors = data["tensors"]
    tol = float(data["tolerance"])
    errors = [t.get("rel_l2") for t in tensors]
    nonzero = [e for e in errors if e]
    floor = min([*nonzero, tol]) / 10
    figure = Figure(figsize=(10.5, 4.8), dpi=100, layout="constrained")
    axes = figure.subplots()
    x = [int(t["index"]) for t in tensors]  # A's topological position, as the marks use
    same = [i for i, e in zip(x, errors) if not e]
    below = [(i, e) for i, e in zip(x, errors) if e and e <= tol]
    above = [(i, e if e is not None else 2.0) for i, e, t in zip(x, errors, tensors)
             if (e and e > tol) or t.get("note")]
    axes.plot(x, [e or floor for e in errors], color="#9aa5b1", linewidth=0.8, zorder=1)
    if same:
        axes.scatter(same, [floor] * len(same), s=8, color="#bbbbbb", label="identical", zorder=2)
    for points, colour, label in ((below, "#2e86de", "differs, within tolerance"),
                                  (above, "#c0392b", "beyond tolerance")):
        if points:
            xs, ys = zip(*points)
            axes.scatter(xs, ys, s=14, color=colour, label=label, zorder=3)
    axes.set_yscale("log")
    axes.axhline(tol, color="#c0392b", linestyle="--", linewidth=1, label=f"tolerance {tol:g}")
    for key, colour in (("first_difference", "#e67e22"), ("first_divergence", "#c0392b")):
        first = data.get(key)
        if first:
            axes.axvline(first["index"], color=colour, linewidth=1.2,
                         label=f"{key.replace('_', ' ')}: {first['op']}")
    axes.set_xlabel("tensor, in topological order (input \u2192 logits)")
    axes.set_ylabel("relative L2 error (log)")
    axes.set_xlim(-1, max([*x, 1]) + 1)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=3,
                frameon=False)
    axes.set_title(f"{data['model']}: divergence profile", fontsize=11)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def render_html(data: dict[str, Any]) -> str:
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    tol = float(data["tolerance"])
    top = sorted((t for t in data["tensors"] if t.get("rel_l2")),
                 key=lambda t: -t["rel_l2"])[:TOP_ROWS]
    return env.from_string(TEMPLATE).render(
        d=data, tol=f"{tol:g}", fmt=fmt, mask_line=mask_line, base_css=BASE_CSS,
        sides="\n".join(side_line(label, data["sides"][label]) for label in ("A", "B")),
        first_difference=tensor_line(data["first_difference"], 0.0),
        first_divergence=tensor_line(data["first_divergence"], tol),
        last=tensor_line(data.get("logits") or data["last"], 0.0), mask=mask_line(data["mask"]),
        attribution=data.get("attribution"),
        attribution_text=(data.get("attribution") or {}).get("conclusion")
        or (data.get("attribution") or {}).get("reason", ""),
        plot=profile_png(data), hint=MATPLOTLIB_HINT,
        top=top, unmatched=[(k, v) for k, v in data["unmatched"].items() if v],
    )


def write_html(data: dict[str, Any], path: Path) -> None:
    path.write_text(render_html(data), encoding="utf-8")
