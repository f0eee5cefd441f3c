"""The report's model-card section.

By default the card shows what the catalogue publishes for a model (the zoo table for official
models, the manifest for bundled ones) without touching the graph. With
`--deeplab-report-cards` each model's graph is inspected (`runtime.inspect`: multiply-adds,
output stride, atrous rates, ASPP, decoder, parameters) and the card is `modelcard`'s, the same
one `pytest-deeplab inspect MODEL` prints. Inspection re-imports the graph: seconds per model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deeplab.catalogue.specs import ModelSpec, ZooFacts, format_madds
from pytest_deeplab.verdicts.results import ModelResults


@dataclass
class CardView:
    name: str
    measured: bool
    rows: list[tuple[str, str, str, bool]] = field(default_factory=list)
    """(figure, measured, published, differs)"""
    text: str = ""
    """`modelcard.render_text` of a measured card."""
    published_from: str = ""
    note: str = ""
    error: str = ""


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def published_rows(model: ModelSpec) -> list[tuple[str, str, str, bool]]:
    f: ZooFacts = model.facts
    rows = [
        ("format", model.format, "", False),
        ("label set", model.label_set, "", False),
        ("input size", str(model.input_size or "the file's"), "", False),
        ("backbone", "", f.backbone, False),
        ("output stride", "", str(f.eval_output_stride or ""), False),
        ("multiply-adds", "", format_madds(f.multiply_adds, f.multiply_adds_note), False),
        ("ASPP", "", _yes_no(f.aspp), False),
        ("decoder", "", _yes_no(f.decoder), False),
        ("mIOU", "", f.published_miou, False),
        ("file size", "", f.file_size, False),
        ("runtime (zoo)", "", f"{f.runtime_s} s" if f.runtime_s else "", False),
    ]
    return [row for row in rows if row[1] or row[2]]


def measured_rows(card: Any) -> list[tuple[str, str, str, bool]]:
    """The card's key figures, measured beside published (`ModelCard.to_dict()`)."""
    from pytest_deeplab.modelcard.structure import describe_rates, format_count

    data = card.to_dict()
    m, p, s = data["measured"], data["published"], data["measured"]["structure"]
    differs = set(data["differences"])
    at = f" @{m['measured_size']}" if m.get("measured_size") else ""
    os_note = f" (OS {p['eval_output_stride']})" if p.get("eval_output_stride") else ""
    aspp = _yes_no(s.get("aspp")) or "-"
    if s.get("aspp"):
        aspp += f" ({s['aspp_branches']} branches, rates {', '.join(map(str, s['aspp_rates']))})"
    decoder = _yes_no(s.get("decoder")) or "-"
    if s.get("decoder") and s.get("decoder_stride"):
        decoder += f" (stride-{s['decoder_stride']} features)"
    rates = {int(k): v for k, v in (s.get("atrous_rates") or {}).items()}
    rows = [
        ("format", data["format"], "", False),
        ("input", "; ".join(_tensor(t) for t in m["inputs"]), "", False),
        ("output", "; ".join(_tensor(t) for t in m["outputs"]), "", False),
        ("multiply-adds", f"{format_count(m.get('multiply_adds'))}{at}",
         f"{format_madds(p['multiply_adds'], p.get('multiply_adds_note', ''))}{os_note}"
         if p.get("multiply_adds") else "",
         "multiply-adds" in differs),
        ("output stride", str(s.get("output_stride") or "-"),
         str(p.get("eval_output_stride") or ""), "output stride" in differs),
        ("atrous rates", describe_rates(rates), "", False),
        ("ASPP", aspp, _yes_no(p.get("aspp")), "ASPP" in differs),
        ("decoder", decoder, _yes_no(p.get("decoder")), "decoder" in differs),
        ("parameters", format_count(m.get("parameters")), "", False),
        ("classes", str(m.get("num_classes") or "-"), "", False),
        ("file size", f"{m['file_bytes'] / 2**20:.2f} MiB", p.get("file_size", ""), False),
        ("backbone", "", p.get("backbone", ""), False),
        ("mIOU", "", p.get("published_miou", ""), False),
    ]
    return [row for row in rows if row[1] not in ("", "-") or row[2]]


def _tensor(t: dict[str, Any]) -> str:
    shape = t.get("shape")
    dims = "?" if shape is None else "[" + ", ".join("?" if d is None else str(d)
                                                     for d in shape) + "]"
    return f"{t['name']} {t['dtype']} {dims}"


def build_cards(models: Iterable[ModelSpec], results: Mapping[str, ModelResults],
                measure: Callable[[ModelSpec], Any] | None = None) -> list[CardView]:
    """One card per selected model that was available; measured (by `measure`, which builds a
    modelcard.card.ModelCard, e.g. with `measure_card`) only when given."""
    views = []
    for model in models:
        if results[model.name].skipped:
            continue
        view = CardView(model.name, measured=False, rows=published_rows(model),
                        published_from="manifest" if model.source == "bundled" else (
                            "zoo" if model.source == "official" else ""))
        if measure is not None:
            try:
                card = measure(model)
            except Exception as exc:  # a card that cannot be measured must not lose the report
                view.error = f"{type(exc).__name__}: {exc}"
            else:
                from pytest_deeplab.modelcard.card import render_text

                view = CardView(model.name, measured=True, rows=measured_rows(card),
                                text=render_text(card), published_from=card.published_from,
                                note=card.published_note)
        views.append(view)
    return views


def measure_card(model: ModelSpec, path: Path, official: list[ModelSpec]) -> Any:
    """The model card of the file at `path`, set beside the zoo's published figures."""
    from pytest_deeplab.modelcard.card import build_card
    from pytest_deeplab.runtime.inspection import inspect_model

    measured = inspect_model(
        path, model.format, input_tensor=model.input_tensor,
        output_tensor=model.output_tensor, default_size=model.input_size,
            allow_ops=model.allow_ops,
    )
    return build_card(model, measured, official)
