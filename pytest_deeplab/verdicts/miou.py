"""The mIOU verdict: mean and per-class IoU of a model on labelled data against its thresholds."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from pytest_deeplab.data.labelsets import LabelSet
from pytest_deeplab.verdicts.masks import class_label
from pytest_deeplab.verdicts.metrics import mean_iou, per_class_iou


@dataclass
class MiouResult:
    """mIOU over a labelled dataset (DeepLab eval.py protocol) against a model's threshold."""

    miou: float
    per_class_iou: dict[str, Optional[float]]
    """IoU by class name; None for classes absent from both truth and predictions."""
    threshold: float
    images: int = 0
    label_set: str = ""
    truth_pixels: dict[str, int] = field(default_factory=dict)
    min_iou_per_class: dict[str, float] = field(default_factory=dict)

    @property
    def failing_classes(self) -> dict[str, float]:
        """Classes with their own minimum (e.g. aeroplane >= 0.85) that they miss."""
        return {
            name: minimum
            for name, minimum in self.min_iou_per_class.items()
            if (self.per_class_iou.get(name) or 0.0) < minimum
        }

    @property
    def passed(self) -> bool:
        return (
            not math.isnan(self.miou) and self.miou >= self.threshold and not self.failing_classes
        )

    def properties(self) -> dict[str, float]:
        """Flat numbers for `record_property` (JUnit XML) and the report."""
        numbers = {"miou": self.miou, "miou_threshold": self.threshold}
        numbers.update(
            {f"iou[{name}]": iou for name, iou in self.per_class_iou.items() if iou is not None}
        )
        return numbers

    def failure_message(self, model: str) -> str:
        """The verdict, then every class's IoU worst first, so the culprit is on top."""
        lines = [self._headline(model)]
        for name, minimum in sorted(self.failing_classes.items()):
            lines.append(
                f"  IoU of {name} is {_fmt(self.per_class_iou.get(name))}, below {minimum}"
            )
        lines.append("per-class IoU, worst first (truth pixels):")
        present = [(n, v) for n, v in self.per_class_iou.items() if v is not None]
        width = max((len(name) for name, _ in present), default=0)
        for name, iou in sorted(present, key=lambda item: (item[1], item[0])):
            lines.append(f"    {name:<{width}}  {iou:.4f}  ({self.truth_pixels.get(name, 0)} px)")
        absent = [n for n, v in self.per_class_iou.items() if v is None]
        if absent:
            shown = ", ".join(absent[:10]) + (", ..." if len(absent) > 10 else "")
            lines.append(f"  {len(absent)} classes in neither truth nor prediction: {shown}")
        return "\n".join(lines)

    def _headline(self, model: str) -> str:
        where = f"over {self.images} images" if self.images else "over its dataset"
        if math.isnan(self.miou):
            return f"mIOU of model {model!r} {where} is undefined: no labelled pixels were scored"
        relation = "below" if self.miou < self.threshold else "meets"
        return (
            f"mIOU of model {model!r} {where} is {self.miou:.4f}, {relation} its threshold "
            f"{self.threshold:.4f} (eval.py protocol: one confusion matrix, ignore label dropped)"
        )


def _fmt(value: Optional[float]) -> str:
    return "absent" if value is None else f"{value:.4f}"


def miou_result(
    confusion: np.ndarray,
    label_set: LabelSet,
    threshold: float,
    images: int = 0,
    min_iou_per_class: Optional[Mapping[str, float]] = None,
) -> MiouResult:
    """Turn a dataset's accumulated confusion matrix into a verdict against `threshold`."""
    confusion = np.asarray(confusion)
    if confusion.shape != (label_set.num_classes, label_set.num_classes):
        raise ValueError(
            f"confusion matrix is {confusion.shape}, expected {label_set.num_classes} x "
            f"{label_set.num_classes} for label set {label_set.name!r}"
        )
    ious = per_class_iou(confusion)
    names = [class_label(label_set, k) for k in range(label_set.num_classes)]
    unknown = set(min_iou_per_class or {}) - set(names)
    if unknown:
        raise ValueError(
            f"min_iou_per_class names {sorted(unknown)}, which are not classes of label set "
            f"{label_set.name!r}"
        )
    return MiouResult(
        miou=mean_iou(confusion),
        per_class_iou={n: None if math.isnan(v) else float(v) for n, v in zip(names, ious)},
        threshold=threshold,
        images=images,
        label_set=label_set.name,
        truth_pixels={n: int(v) for n, v in zip(names, confusion.sum(axis=1))},
        min_iou_per_class=dict(min_iou_per_class or {}),
    )
