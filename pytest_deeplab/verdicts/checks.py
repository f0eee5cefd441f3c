"""The suite's assertions: mask stability against a golden, and mIOU against a threshold.

Each check returns a result object rather than raising, so the plugin can record it (JUnit
properties, HTML report, terminal summary) and then fail with `failure_message`, which is
written in the style of pytest-regressions: shape, how many pixels differ and in which
classes, and where to look (the diff image).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw

from pytest_deeplab.data.images import colorize, resize_mask, write_atomically
from pytest_deeplab.data.labelsets import LabelSet
from pytest_deeplab.verdicts.metrics import confusion_matrix, mean_iou, per_class_iou

TOP_CHANGES = 5
CHANGED_COLOUR = (255, 0, 255)
"""Magenta: absent from every DeepLab colour map's common classes, visible on dimmed photos."""


def _class_name(label_set: LabelSet, index: int) -> str:
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
    return {_class_name(label_set, int(k)): float(iou[k]) for k in np.flatnonzero(large)}


def _top_changes(pairs: np.ndarray, label_set: LabelSet) -> list[tuple[str, str, int]]:
    off_diagonal = pairs.copy()
    np.fill_diagonal(off_diagonal, 0)
    flat = off_diagonal.reshape(-1)
    order = np.argsort(flat, kind="stable")[::-1][:TOP_CHANGES]
    return [
        (_class_name(label_set, int(i) // 256), _class_name(label_set, int(i) % 256), int(flat[i]))
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


def write_diff_image(
    image_rgb: np.ndarray,
    golden: np.ndarray,
    current: np.ndarray,
    label_set: LabelSet,
    path: Path,
) -> Path:
    """Write [input | golden colours | current colours | changes] side by side, as one PNG.

    Changed pixels are magenta on a dimmed grey copy of the input, so a reviewer sees where
    the model changed its mind and on what. A current mask of another shape is shown
    resized (nearest) to the golden's shape, the input is resized to the golden's shape.
    """
    height, width = golden.shape
    if current.shape != golden.shape:
        current = resize_mask(current, (height, width))
    photo = _fit(image_rgb, (height, width))
    changed = golden != current
    panels = [photo, colorize(golden, label_set), colorize(current, label_set)]
    panels.append(_overlay(photo, changed))
    titles = ["input", "golden", "current", f"changed: {int(changed.sum())} px"]
    canvas = _side_by_side(panels, titles)
    return write_atomically(Path(path), lambda handle: canvas.save(handle, format="PNG"))


def _fit(image_rgb: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The input at the mask's size (the mask is usually of the demo-resized image)."""
    image = Image.fromarray(np.ascontiguousarray(image_rgb, dtype=np.uint8)).convert("RGB")
    if image.size != (size[1], size[0]):
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _overlay(photo: np.ndarray, changed: np.ndarray) -> np.ndarray:
    grey = photo.mean(axis=2, keepdims=True) * 0.35
    out = np.repeat(grey, 3, axis=2).astype(np.uint8)
    out[changed] = CHANGED_COLOUR
    return out


def _side_by_side(panels: list[np.ndarray], titles: list[str], gap: int = 4) -> Image.Image:
    header = 14
    height, width = panels[0].shape[:2]
    canvas = Image.new("RGB", (len(panels) * (width + gap) - gap, height + header), "white")
    draw = ImageDraw.Draw(canvas)
    for i, (panel, title) in enumerate(zip(panels, titles)):
        x = i * (width + gap)
        canvas.paste(Image.fromarray(panel), (x, header))
        draw.text((x + 2, 1), title, fill=(0, 0, 0))
    return canvas


# --------------------------------------------------------------------------- mIOU


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
    names = [_class_name(label_set, k) for k in range(label_set.num_classes)]
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
