"""The suite's assertions: mask stability against a golden, and mIOU against a threshold.

Each check returns a result object rather than raising, so the plugin can record it (JUnit
properties, HTML report, terminal summary) and then fail with `failure_message`, which is
written in the style of pytest-regressions: shape, how many pixels differ and in which
classes, and where to look (the diff image).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np

from pytest_deeplab.data.labelsets import LabelSet
from pytest_deeplab.verdicts.metrics import confusion_matrix, per_class_iou

TOP_CHANGES = 5


def class_label(label_set: LabelSet, index: int) -> str:
    """The class's own name even when it is also the ignore label (ADE20K's 'other')."""
    if 0 <= index < label_set.num_classes:
        return label_set.class_names[index]
    return label_set.class_name(index)


def _hw(shape: tuple[int, ...]) -> str:
    return f"{shape[0]} x {shape[1]}"


# --------------------------------------------------------------------------- mask stability


@dataclass(frozen=True)
class MaskThresholds:
    """How close a mask must stay to its golden.

    Tight by default: the real zoo graphs give pixel-identical masks across TF 2.15/2.21 and
    with oneDNN on or off, so a loose tolerance would only hide real regressions.
    """

    min_agreement: float = 0.999
    min_class_iou: float = 0.99
    min_class_fraction: float = 0.005
    """Classes covering less of the image (in golden and current) are not IoU-checked:
    a 30-pixel object flipping 2 pixels is noise, not a regression."""


@dataclass
class MaskComparison:
    """Golden vs current mask: the numbers, the verdict and the reasons for it."""

    golden_shape: tuple[int, ...]
    current_shape: tuple[int, ...]
    thresholds: MaskThresholds
    total_pixels: int = 0
    differing_pixels: Optional[int] = None
    agreement: Optional[float] = None
    class_iou: dict[str, float] = field(default_factory=dict)
    """IoU between golden and current for the classes large enough to check."""
    changes: list[tuple[str, str, int]] = field(default_factory=list)
    """Largest golden-class -> current-class changes, (from, to, pixels), biggest first."""
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def failing_classes(self) -> dict[str, float]:
        limit = self.thresholds.min_class_iou
        return {name: iou for name, iou in self.class_iou.items() if iou < limit}

    def failure_message(self, model: str, image_id: str, diff_path: Optional[Path] = None) -> str:
        """What changed, in numbers and class names, and where the diff image is."""
        verdict = "differs from" if not self.passed else "matches"
        lines = [f"mask of model {model!r} on image {image_id!r} {verdict} its golden"]
        # The details say everything the problems do, with numbers; a shape mismatch has none.
        lines += self._details() or [f"  {problem}" for problem in self.problems]
        if diff_path is not None:
            lines.append(f"  diff image (input | golden | current | changes): {diff_path}")
        return "\n".join(lines)

    def _details(self) -> list[str]:
        if self.golden_shape != self.current_shape:
            return []
        assert self.differing_pixels is not None and self.agreement is not None
        t = self.thresholds
        lines = [
            f"  shape: {_hw(self.golden_shape)} (height x width), same as the golden",
            f"  {self.differing_pixels} of {self.total_pixels} pixels differ "
            f"({100 * self.differing_pixels / max(self.total_pixels, 1):.3f} %)",
            f"  agreement: {100 * self.agreement:.3f} % "
            f"(required >= {100 * t.min_agreement:.3f} %)",
        ]
        if self.failing_classes:
            lines.append(
                f"  per-class IoU under {t.min_class_iou} (classes covering >= "
                f"{100 * t.min_class_fraction:g} % of the image):"
            )
            lines += [
                f"    {name}: {iou:.4f}"
                for name, iou in sorted(self.failing_classes.items(), key=lambda item: item[1])
            ]
        if self.changes:
            lines.append("  largest class changes (golden -> current):")
            lines += [f"    {a} \u2192 {b}: {n} px" for a, b, n in self.changes]
        return lines


def compare_masks(
    golden: np.ndarray,
    current: np.ndarray,
    label_set: LabelSet,
    thresholds: MaskThresholds = MaskThresholds(),  # frozen, so sharing is safe
) -> MaskComparison:
    """Compare a fresh mask with its golden: agreement, per-class IoU, class->class changes."""
    result = MaskComparison(tuple(golden.shape), tuple(current.shape), thresholds)
    if golden.shape != current.shape:
        result.problems.append(
            f"shape differs: golden {_hw(golden.shape)}, current {_hw(current.shape)} "
            "(height x width); was the preprocessing (input_size) or the model changed?"
        )
        return result
    pairs = _pair_counts(golden, current)
    result.total_pixels = int(golden.size)
    result.differing_pixels = int(result.total_pixels - np.trace(pairs))
    result.agreement = 1.0 - result.differing_pixels / result.total_pixels if golden.size else 1.0
    result.class_iou = _large_class_iou(pairs, label_set, thresholds.min_class_fraction)
    result.changes = _top_changes(pairs, label_set)
    _judge(result)
    return result


def _pair_counts(golden: np.ndarray, current: np.ndarray) -> np.ndarray:
    """256x256 counts of (golden class, current class) pairs: every value a PNG mask can hold."""
    return confusion_matrix(golden, current, 256)


def _large_class_iou(
    pairs: np.ndarray, label_set: LabelSet, min_fraction: float
) -> dict[str, float]:
    """IoU of each class that covers >= min_fraction of the golden or the current mask."""
    total = max(int(pairs.sum()), 1)
    in_golden, in_current = pairs.sum(axis=1), pairs.sum(axis=0)
    large = (in_golden >= min_fraction * total) | (in_current >= min_fraction * total)
    large &= (in_golden + in_current) > 0
    iou = per_class_iou(pairs)
    return {class_label(label_set, int(k)): float(iou[k]) for k in np.flatnonzero(large)}


def _top_changes(pairs: np.ndarray, label_set: LabelSet) -> list[tuple[str, str, int]]:
    off_diagonal = pairs.copy()
    np.fill_diagonal(off_diagonal, 0)
    flat = off_diagonal.reshape(-1)
    order = np.argsort(flat, kind="stable")[::-1][:TOP_CHANGES]
    return [
        (class_label(label_set, int(i) // 256), class_label(label_set, int(i) % 256), int(flat[i]))
        for i in order
        if flat[i] > 0
    ]


def _judge(result: MaskComparison) -> None:
    t = result.thresholds
    assert result.agreement is not None
    if result.agreement < t.min_agreement:
        result.problems.append(
            f"agreement {100 * result.agreement:.3f} % is below {100 * t.min_agreement:.3f} %"
        )
    if result.failing_classes:
        names = ", ".join(sorted(result.failing_classes))
        result.problems.append(f"IoU of {names} against the golden is below {t.min_class_iou}")


# --------------------------------------------------------------------------- diff image


# --------------------------------------------------------------------------- mIOU


