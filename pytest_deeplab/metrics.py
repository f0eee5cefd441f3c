"""Segmentation metrics with DeepLab `eval.py` semantics, in numpy only.

eval.py accumulates ONE confusion matrix over the whole dataset (not a mean of per-image
scores), gives ignore-labelled pixels weight zero, and averages IoU over the classes whose
union is non-zero. Everything here follows that, so our mIOU is comparable to DeepLab's.
"""

from __future__ import annotations

import numpy as np


def confusion_matrix(
    truth: np.ndarray, prediction: np.ndarray, num_classes: int, ignore_label: int | None = None
) -> np.ndarray:
    """Rows are true classes, columns predicted ones; ignore-labelled truth pixels are dropped.

    Values outside [0, num_classes) (other than the ignore label in the truth) are an error:
    silently dropping them would hide a label map or a model made for another label set.
    """
    if truth.shape != prediction.shape:
        raise ValueError(f"truth {truth.shape} and prediction {prediction.shape} differ in shape")
    t = truth.reshape(-1)
    p = prediction.reshape(-1)
    if ignore_label is not None and 0 <= ignore_label < num_classes:
        keep = t != ignore_label
        t, p = t[keep], p[keep]
        ignore_row = False
    else:
        ignore_row = ignore_label is not None
    n = num_classes
    # The ignore label (when it lies outside the classes, e.g. 255) gets a row of its own that
    # is dropped afterwards: cheaper than masking two large arrays.
    t64 = t.astype(np.int64)
    if ignore_row:
        t64[t == ignore_label] = n
    rows = n + 1 if ignore_row else n
    _check_range(t64, rows, "label", n, ignore_label)
    p64 = p.astype(np.int64)
    _check_range(p64, n, "predicted class", n, ignore_label)
    counts = np.bincount(t64 * n + p64, minlength=rows * n).reshape(rows, n)
    return counts[:n].copy() if ignore_row else counts


def _check_range(
    values: np.ndarray, limit: int, what: str, num_classes: int, ignore_label: int | None
) -> None:
    if values.size == 0:
        return
    low, high = int(values.min()), int(values.max())
    if low < 0 or high >= limit:
        bad = np.unique(values[(values < 0) | (values >= limit)])[:8].tolist()
        raise ValueError(
            f"{what} values {bad} are outside the label set's {num_classes} classes "
            f"(ignore label {ignore_label}): is the label set right for this data?"
        )


def per_class_iou(matrix: np.ndarray) -> np.ndarray:
    """IoU = tp / (tp + fp + fn) per class; NaN where the class has no union at all."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    union = tp + fp + fn
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1.0), np.nan)


def mean_iou(matrix: np.ndarray) -> float:
    """Mean IoU over the classes with a non-zero union (NaN if there is none)."""
    iou = per_class_iou(matrix)
    valid = ~np.isnan(iou)
    return float(iou[valid].mean()) if valid.any() else float("nan")


def pixel_agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of pixels where two masks hold the same class."""
    if a.shape != b.shape:
        raise ValueError(f"masks differ in shape: {a.shape} vs {b.shape}")
    return float(np.count_nonzero(a == b)) / a.size if a.size else 1.0
