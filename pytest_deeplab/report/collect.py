"""What each item saw, kept as plain records for the HTML report.

The checks call `record_mask` / `record_miou` only when `--deeplab-report` is given (the session's
`report` is None otherwise), so a run without a report does no extra work. Records are plain
JSON-able data: under pytest-xdist each worker sends its records to the controller through the
session's `export()` / `merge_worker()`, and the controller writes the one report.

`OutcomeLog` is the report's view of the run record (verdicts.record, which sees every report,
xdist workers' included, on the controller): each item's outcome and failure text, so the report
orders failures first and shows items that failed before they could record anything.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol

from pytest_deeplab.constants import suite_nodeid
from pytest_deeplab.verdicts.record import ItemResult

if TYPE_CHECKING:
    import numpy as np

    from pytest_deeplab.catalogue.resolved import Selection
    from pytest_deeplab.catalogue.specs import ModelSpec
    from pytest_deeplab.golden.store import Golden
    from pytest_deeplab.verdicts.masks import MaskComparison
    from pytest_deeplab.verdicts.miou import MiouResult

MAX_MESSAGE = 6000


class ReportSource(Protocol):
    """What the records need of the run's session (kept abstract: the session imports this
    module for its ReportRecorder, so this module does not import the session)."""

    report: ReportRecorder | None
    selection: Selection  # the dataset's labels and the label set of a model


@dataclass
class MaskRecord:
    """One mask held against its golden (or written as one), with its pictures."""

    model: str
    image_id: str
    status: str
    """compared | written | no-golden | model-changed | image-changed"""
    passed: Optional[bool] = None
    note: str = ""
    shape: list[int] = field(default_factory=list)
    agreement: Optional[float] = None
    differing_pixels: Optional[int] = None
    total_pixels: Optional[int] = None
    min_agreement: Optional[float] = None
    min_class_iou: Optional[float] = None
    class_iou: dict[str, float] = field(default_factory=dict)
    failing_classes: list[str] = field(default_factory=list)
    changes: list[list[Any]] = field(default_factory=list)
    """[golden class, current class, pixels], largest first."""
    golden_tensorflow: Optional[str] = None
    golden_path: str = ""
    image_path: str = ""
    truth_path: str = ""
    diff_path: str = ""
    images: dict[str, str] = field(default_factory=dict)
    """input | truth | golden | current | diff -> PNG data URI"""
    classes: list[int] = field(default_factory=list)
    """Class indices in the shown masks (for the legend)."""
    seconds: float = 0.0

    @property
    def nodeid(self) -> str:
        return suite_nodeid(self.model, self.image_id, "mask")


@dataclass
class MiouRecord:
    """A model's mIOU over its labelled dataset, class by class."""

    model: str
    miou: float
    threshold: Optional[float]
    passed: bool
    images: int
    label_set: str
    per_class_iou: dict[str, Optional[float]] = field(default_factory=dict)
    truth_pixels: dict[str, int] = field(default_factory=dict)
    failing_classes: dict[str, float] = field(default_factory=dict)


@dataclass
class ItemOutcome:
    nodeid: str
    outcome: str  # passed | failed | error | skipped
    message: str = ""
    duration: float = 0.0


class ReportRecorder:
    """The records of one process (a worker's are merged into the controller's)."""

    def __init__(self) -> None:
        self.masks: dict[tuple[str, str], MaskRecord] = {}
        self.mious: dict[str, MiouRecord] = {}
        self._truth: dict[str, dict[Path, Path]] = {}

    def add_mask(self, record: MaskRecord) -> None:
        self.masks[(record.model, record.image_id)] = record

    def add_miou(self, record: MiouRecord) -> None:
        self.mious[record.model] = record

    def export(self) -> dict[str, Any]:
        return {
            "masks": [asdict(r) for r in self.masks.values()],
            "mious": [asdict(r) for r in self.mious.values()],
        }

    def merge(self, data: dict[str, Any]) -> None:
        for mask in data.get("masks", []):
            self.add_mask(MaskRecord(**mask))
        for miou in data.get("mious", []):
            self.add_miou(MiouRecord(**miou))

    def truth_label(self, deeplab: ReportSource, model: ModelSpec,
                    image_path: Optional[Path]) -> Optional[Path]:
        """The ground-truth label of this very image in the model's dataset, if it has one."""
        if image_path is None:
            return None
        if model.name not in self._truth:
            try:
                pairs = deeplab.selection.labelled_pairs(model)
            except Exception:  # a broken dataset is the mIOU item's failure, not the report's
                pairs = []
            self._truth[model.name] = {img.resolve(): label for img, label in pairs}
        return self._truth[model.name].get(Path(image_path).resolve())


def record_mask(
    deeplab: ReportSource,
    model: ModelSpec,
    image_id: str,
    status: str,
    current: np.ndarray,
    *,
    image: Optional[np.ndarray] = None,
    image_path: Optional[Path] = None,
    golden: Optional[Golden] = None,
    comparison: Optional[MaskComparison] = None,
    note: str = "",
    diff_path: Optional[Path] = None,
) -> None:
    """Keep what one mask item saw: numbers, and the pictures encoded as inline PNGs."""
    recorder: ReportRecorder | None = getattr(deeplab, "report", None)
    if recorder is None:
        return
    from pytest_deeplab.data.labels import load_label
    from pytest_deeplab.data.masks import resize_mask
    from pytest_deeplab.report import panels

    started = time.perf_counter()
    label_set = deeplab.selection.label_set(model)
    shape = tuple(current.shape[:2])
    record = MaskRecord(model=model.name, image_id=image_id, status=status, note=note,
                        shape=list(shape), image_path=str(image_path or ""),
                        diff_path=str(diff_path or ""))
    images = record.images
    if image is not None:
        images["input"] = panels.photo_uri(image, shape)
    truth = None
    truth_path = recorder.truth_label(deeplab, model, image_path)
    if truth_path is not None:
        try:
            truth = resize_mask(load_label(truth_path, label_set), shape)
        except (OSError, ValueError):  # a bad label map is the mIOU item's failure
            truth = None
        else:
            record.truth_path = str(truth_path)
            images["truth"] = panels.mask_uri(truth, label_set)
    golden_mask = None
    if golden is not None:
        golden_mask = golden.mask
        record.golden_tensorflow = golden.metadata.get("tensorflow")
        record.golden_path = str(golden.png_path)
        images["golden"] = panels.mask_uri(golden_mask, label_set)
    images["current"] = panels.mask_uri(current, label_set)
    if golden_mask is not None and status == "compared":
        images["diff"] = panels.diff_uri(golden_mask, current, image)
    record.classes = panels.classes_in(truth, golden_mask, current)
    if comparison is not None:
        record.passed = comparison.passed
        record.agreement = comparison.agreement
        record.differing_pixels = comparison.differing_pixels
        record.total_pixels = comparison.total_pixels
        record.min_agreement = comparison.thresholds.min_agreement
        record.min_class_iou = comparison.thresholds.min_class_iou
        record.class_iou = dict(comparison.class_iou)
        record.failing_classes = sorted(comparison.failing_classes)
        record.changes = [list(change) for change in comparison.changes]
        if not comparison.passed and not record.note:
            record.note = "; ".join(comparison.problems)
    elif status == "written":
        record.passed = True
    else:
        record.passed = False
    record.seconds = time.perf_counter() - started
    recorder.add_mask(record)


def record_miou(deeplab: ReportSource, model: ModelSpec, result: MiouResult,
                threshold: Optional[float], passed: bool) -> None:
    recorder: ReportRecorder | None = getattr(deeplab, "report", None)
    if recorder is None:
        return
    recorder.add_miou(MiouRecord(
        model=model.name, miou=result.miou, threshold=threshold, passed=passed,
        images=result.images, label_set=result.label_set,
        per_class_iou=dict(result.per_class_iou), truth_pixels=dict(result.truth_pixels),
        failing_classes=dict(result.failing_classes),
    ))


class OutcomeLog:
    """The report's view of the run record (verdicts.record): the deeplab items, each shown as
    the record says (an xpass as passed, an xfail as skipped), failure text cut for the page."""

    def __init__(self) -> None:
        self.items: dict[str, ItemOutcome] = {}

    @classmethod
    def from_items(cls, items: Iterable[ItemResult], where: str = "the pytest output"
                   ) -> OutcomeLog:
        log = cls()
        for item in items:
            if not item.uses_deeplab or item.when == "collect":
                continue
            message = item.longrepr if item.shown != "passed" else ""
            if len(message) > MAX_MESSAGE:
                message = message[:MAX_MESSAGE] + f"\n… (cut; the full text is in {where})"
            log.items[item.nodeid] = ItemOutcome(item.nodeid, item.shown, message, item.duration)
        return log

    def for_model(self, model: str) -> list[ItemOutcome]:
        prefix = suite_nodeid(model, "")
        return [item for nodeid, item in self.items.items() if nodeid.startswith(prefix)]

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.items.values():
            counts[item.outcome] = counts.get(item.outcome, 0) + 1
        return counts
