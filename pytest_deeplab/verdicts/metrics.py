"""Segmentation metrics with DeepLab `eval.py` semantics, in numpy only.

eval.py accumulates ONE confusion matrix over the whole dataset (not a mean of per-image
scores), gives ignore-labelled pixels weight zero, and averages IoU over the classes whose
union is non-zero. Everything here follows that, so our mIOU is comparable to DeepLab's.
"""

from __future__ import annotations

from typing import Any

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
    n = num_classes
    t = _as_integers(truth.reshape(-1))
    p = _as_integers(prediction.reshape(-1))
    _check_range(t, n, "label", n, ignore_label)
    _check_range(p, n, "predicted class", n, None, reported_ignore=ignore_label)
    # Ignored truth pixels go to an extra row n that is dropped at the end: one pass of
    # bincount, no boolean indexing of two large arrays. Indices fit in uint16 for up to 255
    # classes, which halves the memory traffic of the int64 arithmetic (the 15 ms budget).
    rows = n + 1
    index_type: type[np.integer[Any]] = (
        np.uint16 if rows * n <= np.iinfo(np.uint16).max + 1 else np.int64
    )
    index: np.ndarray = t.astype(index_type)
    ignored = _ignored(t, ignore_label)
    if ignored is not None:
        index[ignored] = n
    np.multiply(index, n, out=index, casting="unsafe")  # the largest index, rows * n - 1, fits
    np.add(index, p, out=index, casting="unsafe")  # safe: both ranges were checked above
    counts = np.bincount(index, minlength=rows * n).reshape(rows, n)
    return counts[:n].copy()


def _as_integers(values: np.ndarray) -> np.ndarray:
    """Integer arrays pass through; anything else is truncated to int64 as before."""
    return values if np.issubdtype(values.dtype, np.integer) else values.astype(np.int64)


def _ignored(values: np.ndarray, ignore_label: int | None) -> np.ndarray | None:
    """Where the truth holds the ignore label, or None when it cannot occur in this dtype."""
    if ignore_label is None:
        return None
    info = np.iinfo(values.dtype)
    if not info.min <= ignore_label <= info.max:
        return None
    found: np.ndarray = values == values.dtype.type(ignore_label)
    return found


def _check_range(
    values: np.ndarray,
    limit: int,
    what: str,
    num_classes: int,
    ignore_label: int | None,
    reported_ignore: int | None = None,
) -> None:
    """Raise unless every value is a class in [0, limit) or the (allowed) ignore label."""
    if values.size == 0:
        return
    low, high = int(values.min()), int(values.max())
    if low >= 0 and high < limit:
        return
    outside = (values < 0) | (values >= limit)
    ignored = _ignored(values, ignore_label)
    if ignored is not None:
        outside &= ~ignored
    if not outside.any():
        return
    bad = np.unique(values[outside])[:8].tolist()
    shown = ignore_label if ignore_label is not None else reported_ignore
    raise ValueError(
        f"{what} values {bad} are outside the label set's {num_classes} classes "
        f"(ignore label {shown}): is the label set right for this data?"
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
