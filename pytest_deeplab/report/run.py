"""The run record the reports read: what a finished run selected, measured and ran under.

A live run makes one from its session at the end (`DeepLabSession.run_record`); `pytest-deeplab
merge` makes one from the shards' results files (`shards/render.merged_record`). The terminal
summary, the HTML report and the results file see only this, so a merged run reads like one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.data.labelsets import LabelSet, get_label_set
from pytest_deeplab.report.cards import CardView
from pytest_deeplab.report.collect import ReportRecorder
from pytest_deeplab.verdicts.results import ModelResults


@dataclass(frozen=True)
class ModelEntry:
    """What the reports show of a model's settings (a shard's results file keeps these)."""

    name: str
    source: str | None = None
    format: str | None = None
    label_set: str | None = None
    input_size: int | None = None
    min_agreement: float | None = None
    allow_ops: tuple[str, ...] = ()

    @classmethod
    def of(cls, spec: ModelSpec) -> ModelEntry:
        return cls(spec.name, spec.source, spec.format, spec.label_set, spec.input_size,
                   spec.min_agreement, tuple(spec.allow_ops))

    @classmethod
    def from_file(cls, name: str, spec: Mapping[str, Any] | None) -> ModelEntry:
        """From a results file's `spec` entry; keys it lacks (an older file) stay unknown."""
        known = {f.name for f in fields(cls)} - {"name"}
        values = {k: v for k, v in (spec or {}).items() if k in known}
        values["allow_ops"] = tuple(values.get("allow_ops") or ())
        return cls(name, **values)

    def as_spec(self) -> dict[str, Any]:
        """The results file's `spec` entry."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "name"} | {
            "allow_ops": list(self.allow_ops)}


@dataclass
class RunRecord:
    """One finished run, live or merged: `identity` is the TensorFlow identity of whoever ran the
    models (this process or a worker, or the shards'), None when no model was loaded."""

    models: list[ModelEntry]
    results: dict[str, ModelResults]
    identity: dict[str, Any] | None = None
    recorder: ReportRecorder = field(default_factory=ReportRecorder)
    cards: list[CardView] = field(default_factory=list)
    threads: int | None = None  # --deeplab-threads, for the header when no model ran
    reloads: int = 0  # loads beyond the first per model

    @property
    def any_model_loaded(self) -> bool:
        return self.identity is not None

    def run_identity(self) -> dict[str, Any]:
        return self.identity or {}

    def label_set(self, model: ModelEntry) -> LabelSet:
        """The model's label set; one unknown to this install (a shard's) shows numbered classes."""
        try:
            return get_label_set(model.label_set or "")
        except (ValueError, KeyError, TypeError):
            return get_label_set(255)
