"""The explanation as text for the terminal (rendered from the JSON data, like the HTML)."""

from __future__ import annotations

from typing import Any

TOP = 8


def fmt(value: Any) -> str:
    """A figure in a few significant digits; '-' where there is none."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return "0" if value == 0 else f"{value:.3g}"
    return str(value)


def op_kind(t: dict[str, Any]) -> str:
    """The op type, and what really ran when optimisation fused ops into it."""
    kind = str(t["type"])
    kernel = t.get("kernel") or ""
    if kernel and kernel != kind:
        kind += f", ran as {kernel}"
    if t.get("kernel_b"):
        kind += f" in A, {t['kernel_b']} in B"
    elif t.get("type_b"):
        kind += f"; {t['type_b']} in B"
    if t.get("fused"):
        kind += f"; fused: {', '.join(t['fused'])}"
    return kind


def tensor_line(t: dict[str, Any] | None, tolerance: float) -> str:
    if t is None:
        return f"none (no tensor beyond {tolerance:g})" if tolerance else "none"
    name = t["tensor"] + (f"  [B: {t['tensor_b']}]" if t.get("tensor_b") else "")
    what = f"{t['op']} ({op_kind(t)})"
    if t.get("note"):
        return f"{what}: {t['note']}  tensor {name}"
    beyond = t.get("fraction_beyond")
    return (f"{what}: rel L2 {fmt(t.get('rel_l2'))}, max |a-b| "
            f"{fmt(t.get('max_abs'))}, {100 * (beyond or 0):.2f} % of elements beyond "
            f"tolerance  (tensor {name} #{t['index']}, shape {t['shape']})")


def side_line(label: str, side: dict[str, Any]) -> str:
    onednn = side.get("onednn")
    kernels = ("oneDNN " + ("on" if onednn else "off" if onednn is not None else "n/a")
               + (f" ({side['onednn_source']})" if side.get("onednn_source") else ""))
    if side.get("xnnpack") is not None:  # a TF Lite run: its kernels are XNNPACK's or not
        kernels = f"TF Lite, XNNPACK {'on' if side.get('xnnpack') else 'off'}"
    env = " ".join(f"{k}={v}" for k, v in side.get("env", {}).items())
    return (f"  {label}: {side['python']}  TensorFlow {side.get('tensorflow')}, {kernels}"
            + (f"  env {env}" if env else "") + f"\n     {side['path']}")


def mask_line(mask: dict[str, Any]) -> str:
    if not mask:
        return "masks: not compared"
    if mask.get("note"):
        return f"masks: {mask['note']}"
    if mask.get("identical"):
        return f"masks: identical ({mask['pixels']} pixels)"
    return (f"masks: agree on {100 * mask['agreement']:.3f} % "
            f"({mask['differing_pixels']} of {mask['pixels']} pixels differ)")


def render_text(data: dict[str, Any]) -> str:
    tol = float(data["tolerance"])
    image = data["image"]
    lines = [
        f"pytest-deeplab explain: {data['model']}"
        + (f" against {data['against']}" if data.get("against") else "")
        + f" on {image['path']} ({image['size'][0]}x{image['size'][1]})",
    ]
    lines += [side_line(label, data["sides"][label]) for label in ("A", "B")]
    unmatched = data["unmatched"]
    lines += [
        f"  compared {data['compared']} float tensors in topological order; divergence = "
        f"relative L2 error above {tol:g}",
        f"  first difference: {tensor_line(data['first_difference'], 0.0)}",
        f"  first divergence: {tensor_line(data['first_divergence'], tol)}",
        f"  largest error:    {tensor_line(data['largest'], 0.0)}",
        f"  logits:           {tensor_line(data.get('logits') or data['last'], 0.0)}",
        f"  {mask_line(data['mask'])}",
    ]
    for label in ("A", "B"):
        names = unmatched[label]
        if names:
            shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
            lines.append(f"  not matched in {label} ({len(names)}): {shown}")
    top = sorted((t for t in data["tensors"] if t.get("rel_l2")),
                 key=lambda t: -t["rel_l2"])[:TOP]
    if top:
        lines.append("  largest relative errors:")
        width = max(len(t["op"]) for t in top)
        lines += [f"    {t['op']:<{width}}  {t['type']:<22} rel L2 {fmt(t['rel_l2']):>9}  "
                  f"max |a-b| {fmt(t['max_abs']):>9}" for t in top]
    attribution = data.get("attribution")
    if attribution:
        lines.append("  attribution: " + (attribution.get("conclusion")
                                          or attribution.get("reason", "")))
        for v in attribution.get("variants", []):
            first = v["first_divergence"]
            lines.append(f"    {v['a']} vs {v['b']}: first divergence "
                         f"{first['op'] if first else 'none'}, largest rel L2 "
                         f"{fmt(v['largest_rel_l2'])}; {mask_line(v['mask'])}")
    lines.append(f"  {data['seconds']:.1f} s")
    return "\n".join(lines) + "\n"
