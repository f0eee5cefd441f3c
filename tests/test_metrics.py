"""DeepLab eval.py semantics for the confusion matrix and mIOU, with TensorFlow as the oracle.

The hand-made examples show the rules; the Hypothesis properties check them on random masks
against `tf.math.confusion_matrix` and `tf.compat.v1.metrics.mean_iou` (what eval.py calls).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from pytest_deeplab.verdicts.metrics import (
    confusion_matrix,
    mean_iou,
    per_class_iou,
    pixel_agreement,
)

# --------------------------------------------------------------------------- hand-made examples


def test_ignore_label_pixels_are_dropped() -> None:
    truth = np.array([[0, 255], [1, 1]], np.uint8)
    prediction = np.array([[0, 1], [1, 0]], np.uint8)
    np.testing.assert_array_equal(
        confusion_matrix(truth, prediction, num_classes=2, ignore_label=255), [[1, 0], [1, 1]]
    )


def test_ignore_label_inside_the_classes_like_ade20k() -> None:
    """ADE20K ignores class 0: its row is empty, but predicting 0 still counts as an error."""
    truth = np.array([0, 0, 1, 2, 2], np.uint8)
    prediction = np.array([1, 0, 1, 0, 2], np.uint8)
    matrix = confusion_matrix(truth, prediction, num_classes=3, ignore_label=0)
    np.testing.assert_array_equal(matrix, [[0, 0, 0], [0, 1, 0], [1, 0, 1]])


def test_one_matrix_over_the_dataset_is_not_the_mean_of_per_image_mious() -> None:
    """eval.py accumulates one confusion matrix; averaging per-image mIOU gives another number.

    Image A is all class 1 and predicted perfectly (its mIOU is 1.0, class 0 has no union).
    Image B: truth [0 0 1 1], prediction [0 1 1 1]: IoU 1/2 and 2/3, mIOU 7/12.
    Mean of per-image mIOUs: (1 + 7/12) / 2 = 19/24. Dataset: IoU 1/2 and 6/7, mIOU 19/28.
    """
    a_truth = a_prediction = np.ones(4, np.uint8)
    b_truth = np.array([0, 0, 1, 1], np.uint8)
    b_prediction = np.array([0, 1, 1, 1], np.uint8)
    a = confusion_matrix(a_truth, a_prediction, 2, 255)
    b = confusion_matrix(b_truth, b_prediction, 2, 255)
    assert mean_iou(a) == 1.0
    assert mean_iou(b) == pytest.approx(7 / 12)
    assert (mean_iou(a) + mean_iou(b)) / 2 == pytest.approx(19 / 24)
    assert mean_iou(a + b) == pytest.approx(19 / 28)


def test_classes_with_empty_union_are_left_out_of_the_mean() -> None:
    truth = np.array([0, 0, 1, 1], np.uint8)
    prediction = np.array([0, 0, 1, 0], np.uint8)
    matrix = confusion_matrix(truth, prediction, num_classes=21, ignore_label=255)
    iou = per_class_iou(matrix)
    assert iou[0] == pytest.approx(2 / 3) and iou[1] == pytest.approx(1 / 2)
    assert np.isnan(iou[2:]).all()  # 19 classes never seen: no union, no IoU
    assert mean_iou(matrix) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_a_class_only_predicted_counts_as_zero() -> None:
    """A false positive class has a union (its fp) and IoU 0: it pulls the mean down."""
    matrix = confusion_matrix(np.array([0, 0]), np.array([0, 2]), num_classes=3)
    assert per_class_iou(matrix)[2] == 0.0
    assert mean_iou(matrix) == pytest.approx((1 / 2 + 0) / 2)


def test_no_labelled_pixels_gives_nan() -> None:
    matrix = confusion_matrix(np.full(4, 255, np.uint8), np.zeros(4, np.uint8), 21, 255)
    assert matrix.sum() == 0 and math.isnan(mean_iou(matrix))


def test_label_values_outside_the_label_set_are_an_error() -> None:
    """A truth value of 21 in a 21-class set must not hide in the ignore row."""
    with pytest.raises(ValueError, match=r"label values \[21\] are outside"):
        confusion_matrix(np.array([0, 21, 255]), np.array([0, 1, 1]), 21, 255)
    with pytest.raises(ValueError, match=r"predicted class values \[255\]"):
        confusion_matrix(np.array([0, 1]), np.array([0, 255]), 21, 255)
    with pytest.raises(ValueError, match=r"label values \[-1\]"):
        confusion_matrix(np.array([0, -1]), np.array([0, 0]), 21, 255)


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="differ in shape"):
        confusion_matrix(np.zeros((2, 3)), np.zeros((3, 2)), 2)


def test_mixed_dtypes_and_many_classes() -> None:
    """int64 predictions (some graphs) against uint8 labels; more than 255 classes."""
    truth = np.array([[0, 1], [299, 255]], np.int32)
    prediction = np.array([[0, 1], [299, 3]], np.int64)
    matrix = confusion_matrix(truth, prediction, num_classes=300, ignore_label=255)
    assert matrix.shape == (300, 300) and matrix.sum() == 3
    assert matrix[255].sum() == 0  # the ignore label is ignored even inside the classes
    small = confusion_matrix(truth[:1].astype(np.uint8), prediction[:1], 2, 255)
    np.testing.assert_array_equal(small, np.eye(2))


def test_pixel_agreement() -> None:
    assert pixel_agreement(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75
    with pytest.raises(ValueError, match="differ in shape"):
        pixel_agreement(np.zeros(2), np.zeros(3))


# --------------------------------------------------------------------------- Hypothesis


@st.composite
def labelled_masks(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int | None]:
    """(truth, prediction, num_classes, ignore_label) like PASCAL (255), ADE20K (0) or none."""
    num_classes = draw(st.integers(1, 40))
    ignore_label = draw(st.sampled_from([255, 0, None]))
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, max_side=24))
    truth_values = list(range(num_classes)) + ([ignore_label] if ignore_label is not None else [])
    truth = draw(hnp.arrays(np.uint8, shape, elements=st.sampled_from(truth_values)))
    prediction = draw(hnp.arrays(np.uint8, shape, elements=st.integers(0, num_classes - 1)))
    return truth, prediction, num_classes, ignore_label


@given(labelled_masks())
def test_matrix_counts_every_scored_pixel_once(
    case: tuple[np.ndarray, np.ndarray, int, int | None],
) -> None:
    truth, prediction, n, ignore = case
    matrix = confusion_matrix(truth, prediction, n, ignore)
    scored = truth != ignore if ignore is not None else np.ones(truth.shape, bool)
    assert matrix.shape == (n, n)
    assert matrix.sum() == scored.sum()
    assert np.trace(matrix) == np.count_nonzero((truth == prediction) & scored)


@given(labelled_masks(), st.integers(1, 5))
def test_accumulating_images_equals_one_big_image(
    case: tuple[np.ndarray, np.ndarray, int, int | None], pieces: int
) -> None:
    truth, prediction, n, ignore = case
    whole = confusion_matrix(truth, prediction, n, ignore)
    parts = sum(
        confusion_matrix(t, p, n, ignore)
        for t, p in zip(np.array_split(truth, pieces), np.array_split(prediction, pieces))
    )
    np.testing.assert_array_equal(whole, parts)


# --------------------------------------------------------------------------- TensorFlow oracle


@pytest.fixture(scope="module")
def tf() -> Iterator[Any]:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    yield pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def eval_py_miou(
    tf: Any,
) -> Callable[[list[tuple[np.ndarray, np.ndarray]], int, int | None], float]:
    """mIOU as eval.py computes it: `tf.compat.v1.metrics.mean_iou`, ignore weighted 0.

    One graph per class count, fed image by image, so the streaming accumulation is TF's.
    """
    graphs: dict[int, tuple[Any, Any, Any, Any, Any, Any, Any]] = {}

    def build(n: int) -> tuple[Any, Any, Any, Any, Any, Any, Any]:
        graph = tf.Graph()
        with graph.as_default():
            labels = tf.compat.v1.placeholder(tf.int64, [None])
            predictions = tf.compat.v1.placeholder(tf.int64, [None])
            weights = tf.compat.v1.placeholder(tf.float32, [None])
            miou, update = tf.compat.v1.metrics.mean_iou(labels, predictions, n, weights=weights)
            reset = tf.compat.v1.local_variables_initializer()
        return graph, labels, predictions, weights, miou, update, reset

    def compute(images: list[tuple[np.ndarray, np.ndarray]], n: int, ignore: int | None) -> float:
        if n not in graphs:
            graphs[n] = build(n)
        graph, labels, predictions, weights, miou, update, reset = graphs[n]
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(reset)
            for truth, prediction in images:
                t = truth.reshape(-1).astype(np.int64)
                keep = t != ignore if ignore is not None else np.ones(t.shape, bool)
                feed = {
                    labels: np.where(keep, t, 0),  # eval.py maps ignored labels to 0, weight 0
                    predictions: prediction.reshape(-1).astype(np.int64),
                    weights: keep.astype(np.float32),
                }
                session.run(update, feed)
            return float(session.run(miou))

    return compute


@pytest.mark.needs_tf
@settings(max_examples=60, deadline=None)
@given(case=labelled_masks())
def test_matrix_equals_tf_confusion_matrix(
    tf: Any, case: tuple[np.ndarray, np.ndarray, int, int | None]
) -> None:
    truth, prediction, n, ignore = case
    t = truth.reshape(-1).astype(np.int64)
    keep = t != ignore if ignore is not None else np.ones(t.shape, bool)
    expected = tf.math.confusion_matrix(
        np.where(keep, t, 0), prediction.reshape(-1), num_classes=n, weights=keep.astype(np.int64)
    ).numpy()
    np.testing.assert_array_equal(confusion_matrix(truth, prediction, n, ignore), expected)


@pytest.mark.needs_tf
@settings(max_examples=40, deadline=None)
@given(cases=st.lists(labelled_masks(), min_size=1, max_size=3))
def test_dataset_miou_equals_eval_py(
    eval_py_miou: Callable[[list[tuple[np.ndarray, np.ndarray]], int, int | None], float],
    cases: list[tuple[np.ndarray, np.ndarray, int, int | None]],
) -> None:
    _, _, n, ignore = cases[0]
    # One dataset has one label set: re-draw the later images' values into the first's range.
    images = [(_clip(t, n, ignore), p % n) for t, p, _, _ in cases]
    matrix = sum(confusion_matrix(t, p, n, ignore) for t, p in images)
    ours = mean_iou(np.asarray(matrix))
    oracle = eval_py_miou(images, n, ignore)
    if math.isnan(ours):
        # No scored pixel: TF's mean over zero classes is 0, ours says "undefined".
        assert oracle == 0.0
    else:
        assert ours == pytest.approx(oracle, abs=1e-6)


def _clip(truth: np.ndarray, n: int, ignore: int | None) -> np.ndarray:
    """Keep ignore-labelled pixels, fold other values into [0, n)."""
    folded = (truth % n).astype(np.uint8)
    return np.where(truth == ignore, truth, folded) if ignore is not None else folded
