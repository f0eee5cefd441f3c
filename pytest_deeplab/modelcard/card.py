"""Model cards: what a model file measures, beside what the catalogue publishes for it.

`build_card` pairs a `GraphInspection` (measured by `runtime.inspect`) with the published figures
of the model's catalogue entry - the zoo table for official models, the manifest for bundled ones.
A user's model has no published figures of its own; the card then borrows those of the official
entry it evidently is (same file name, or same label set, output stride and multiply-adds within
1.5 % - the zoo rounds to 0.01B, and MobileNet-v2 at OS 16 is only 3 % from dm05 at OS 8)
and says so. `render_text` fits 80 columns. No TensorFlow here.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_deeplab.catalogue.specs import ModelSpec, ZooFacts, format_madds
from pytest_deeplab.modelcard.structure import GraphInspection, describe_rates, format_count

MADDS_TOLERANCE = 0.05  # measured vs published multiply-adds: closer than this agrees
MATCH_TOLERANCE = 0.015  # a user model borrows an official entry's figures within this


@dataclass
class ModelCard:
    """One model: catalogue identity, measured figures and the published ones beside them."""

    name: str
    source: str
    format: str
    label_set: str
    input_size: int
    measured: GraphInspection
    published: ZooFacts = field(default_factory=ZooFacts)
    published_from: str = ""  # "zoo", "manifest", or "" when nothing is published
    published_note: str = ""  # how borrowed figures were matched

    @property
    def differences(self) -> list[str]:
        """Published figures the measurement contradicts."""
        m, p, s = self.measured, self.published, self.measured.structure
        found = []
        if p.eval_output_stride and s.output_stride and p.eval_output_stride != s.output_stride:
            found.append("output stride")
        published = comparable_billions(p)
        if (published and m.multiply_adds and m.measured_size == self.input_size
                and abs(m.multiply_adds / 1e9 - published) > MADDS_TOLERANCE * published):
            found.append("multiply-adds")
        if p.aspp is not None and s.aspp is not None and p.aspp != s.aspp:
            found.append("ASPP")
        if p.decoder is not None and s.decoder is not None and p.decoder != s.decoder:
            found.append("decoder")
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "format": self.format,
            "label_set": self.label_set,
            "input_size": self.input_size,
            "measured": self.measured.to_dict(),
            "published": asdict(self.published),
            "published_from": self.published_from,
            "published_note": self.published_note,
            "differences": self.differences,
        }


def comparable_billions(facts: ZooFacts) -> float | None:
    """The published multiply-adds in billions when one graph run can match them."""
    figure = facts.comparable_madds
    return None if figure is None else figure / 1e9


def _has_facts(facts: ZooFacts) -> bool:
    return facts != ZooFacts()


def build_card(
    model: ModelSpec,
    measured: GraphInspection,
    candidates: Iterable[ModelSpec] = (),
    compare_with: ModelSpec | None = None,
) -> ModelCard:
    """The card for `model`; `candidates` are official entries a user model may be matched to."""
    size = model.input_size or measured.measured_size or 0  # TF Lite: the file's input size
    card = ModelCard(model.name, model.source, model.format, model.label_set, size, measured)
    if compare_with is not None:
        card.published = compare_with.facts
        card.published_from = "zoo" if compare_with.source == "official" else "catalogue"
        card.published_note = f"published figures of {compare_with.name} (--compare-with)"
    elif _has_facts(model.facts):
        card.published = model.facts
        card.published_from = "manifest" if model.source == "bundled" else "zoo"
    else:
        match = match_official(model, measured, candidates)
        if match is not None:
            entry, how = match
            card.published = entry.facts
            card.published_from = "zoo"
            card.published_note = f"published figures of {entry.name} ({how})"
    return card


def match_official(
    model: ModelSpec, measured: GraphInspection, candidates: Iterable[ModelSpec]
) -> tuple[ModelSpec, str] | None:
    """The official entry a user's file evidently is, and how that was decided."""
    official = [c for c in candidates if c.source == "official" and _has_facts(c.facts)]
    filename = model.path.name if model.path is not None else ""
    for entry in official:
        if entry.url and filename and entry.url.rsplit("/", 1)[-1] == filename:
            return entry, "same file name"
    madds, stride = measured.multiply_adds, measured.structure.output_stride
    best: tuple[float, ModelSpec] | None = None
    for entry in official:
        published = comparable_billions(entry.facts)
        if (published is None or madds is None or entry.label_set != model.label_set
                or entry.facts.eval_output_stride != stride
                or entry.input_size != measured.measured_size):
            continue
        error = abs(madds / 1e9 - published) / published
        if error <= MATCH_TOLERANCE and (best is None or error < best[0]):
            best = (error, entry)
    if best is None:
        return None
    return best[1], (f"matched by label set, output stride and multiply-adds within "
                     f"{100 * best[0]:.1f} %")


# --- text ------------------------------------------------------------------------------------

WIDTH = 80


def _yes_no(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "no")


def _mib(n: int) -> str:
    return f"{n / 2**20:.2f} MiB"


def _wrap(prefix: str, items: list[str], width: int = WIDTH) -> list[str]:
    lines, line = [], prefix
    for item in items:
        if len(line) + len(item) + 2 > width and line.strip() != prefix.strip():
            lines.append(line.rstrip())
            line = " " * len(prefix)
        line += item + ", "
    lines.append(line.rstrip(", ").rstrip())
    return lines


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else "..." + text[-(width - 3):]


def render_text(card: ModelCard) -> str:
    """The card as plain text, 80 columns: identity, tensors, then measured | published rows."""
    m, p, s = card.measured, card.published, card.measured.structure
    lines = [f"Model card: {card.name}  ({card.source}, {card.format}, "
             f"label set {card.label_set})"]
    lines.append(f"  file           {_shorten(m.path, WIDTH - 17)}")
    lines.append(f"  measured with  {m.runtime}")
    lines.extend(f"  input          {t}" for t in m.inputs)
    lines.extend(f"  output         {t}" for t in m.outputs)
    if m.crop_size:
        lines.append(f"  crop           {m.crop_size}x{m.crop_size}  ({m.crop_source})")
    if m.num_classes:
        lines.append(f"  classes        {m.num_classes} (channels of the logits)")
    count = f"{m.node_count} ops" if m.node_count is not None else ""
    if m.tensor_count is not None:
        count += f"{', ' if count else ''}{m.tensor_count} tensors"
    if count:
        lines.append(f"  graph          {count}")
    lines.append("")

    src = card.published_from or "published"
    rows: list[tuple[str, str, str]] = []
    at = f" @{m.measured_size}" if m.measured_size else ""
    os_note = f" (OS {p.eval_output_stride})" if p.eval_output_stride else ""
    rows.append(("multiply-adds", f"{format_count(m.multiply_adds)}{at}",
                 f"{format_madds(p.multiply_adds, p.multiply_adds_note)}{os_note}"
                 if p.multiply_adds else ""))
    deepest = f" ({s.deepest[0]}x{s.deepest[1]} of {s.network_input})" if s.deepest else ""
    rows.append(("output stride", f"{s.output_stride or '-'}{deepest}",
                 str(p.eval_output_stride or "")))
    rows.append(("atrous rates", describe_rates(s.atrous_rates), ""))
    aspp = _yes_no(s.aspp)
    if s.aspp:
        aspp += f" ({s.aspp_branches} branches, rates {', '.join(map(str, s.aspp_rates))}"
        aspp += ", image pooling)" if s.image_pooling else ")"
    elif s.aspp is False and s.image_pooling:
        aspp += " (1x1 conv + image pooling)"
    rows.append(("ASPP", aspp, _yes_no(p.aspp) if p.aspp is not None else ""))
    decoder = _yes_no(s.decoder)
    if s.decoder and s.decoder_stride:
        decoder += f" (fuses stride-{s.decoder_stride} features)"
    rows.append(("decoder", decoder, _yes_no(p.decoder) if p.decoder is not None else ""))
    rows.append(("parameters", format_count(m.parameters), ""))
    rows.append(("file size", _mib(m.file_bytes), p.file_size))
    if p.backbone:
        rows.append(("backbone", "", p.backbone))
    if p.published_miou:
        label = "mIOU" if card.published_from != "manifest" else "measured mIOU"
        rows.append((label, "", p.published_miou))
    if p.runtime_s:
        rows.append(("runtime (zoo)", "", f"{p.runtime_s} s"))

    differs = set(card.differences)
    lefts = [f"  {label:<14} measured {measured}" if measured else f"  {label:<14}"
             for label, measured, _ in rows]
    column = min(max(len(left) for left in lefts) + 2, 56)
    for left, (label, _, published) in zip(lefts, rows):
        if published:
            mark = "  (differs)" if label in differs else ""
            right = f"|  {src} {published}{mark}"
            if len(left) + 2 + len(right) > WIDTH:
                lines.append(left)
                left = ""
            lines.append(f"{left:<{column}}{right}")
        elif left.strip() != label:
            lines.append(left)
        if label == "parameters" and m.parameter_breakdown:
            parts = [f"{k} {format_count(v)}" for k, v in m.parameter_breakdown.items()]
            lines.extend(_wrap("                 = ", parts))
    if card.published_note:
        lines.extend(textwrap.wrap(f"{src}: {card.published_note}", WIDTH,
                                   initial_indent="  ", subsequent_indent="    "))
    if not card.published_from:
        lines.append("  (no published figures for this model: use --compare-with NAME)")
    if differs:
        lines.append(f"  differs from the published figures: {', '.join(sorted(differs))}")
    if m.madds_method:
        lines.append(f"  multiply-adds: {m.madds_method}")
    if m.op_histogram:
        lines.append("")
        items = [f"{op} {n}" for op, n in m.op_histogram.items()]
        lines.extend(_wrap("  ops            ", items))
    for note in m.notes:
        lines.append(f"  note: {note}")
    return "\n".join(line.rstrip() for line in lines).rstrip() + "\n"
