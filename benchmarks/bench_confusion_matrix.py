"""How long one 1024x2048 confusion matrix takes: ours (numpy) against Keras/TF.

Run with `pytest benchmarks/bench_confusion_matrix.py` (this folder is outside `testpaths`
and the file does not match `test_*.py`, so the normal test run never collects it). The
target from issue 3: <= 15 ms median for ours, about 10x faster than Keras' MeanIoU.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest

from pytest_deeplab.verdicts.metrics import confusion_matrix

pytestmark = pytest.mark.benchmark(group="confusion-matrix 1024x2048", min_rounds=20)

SHAPE = (1024, 2048)
NUM_CLASSES, IGNORE = 19, 255  # Cityscapes: the usual 1024x2048 case


@pytest.fixture(scope="module")
def masks() -> tuple[np.ndarray, np.ndarray]:
    """Cityscapes-sized truth (5 % ignored) and a prediction that is right 90 % of the time."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, NUM_CLASSES, SHAPE).astype(np.uint8)
    prediction = truth.copy()
    wrong = rng.random(SHAPE) < 0.1
    prediction[wrong] = rng.integers(0, NUM_CLASSES, int(wrong.sum()))
    truth[rng.random(SHAPE) < 0.05] = IGNORE
    return truth, prediction


@pytest.fixture(scope="module")
def tf() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return pytest.importorskip("tensorflow")


def test_numpy_confusion_matrix(benchmark: Any, masks: tuple[np.ndarray, np.ndarray]) -> None:
    truth, prediction = masks
    matrix = benchmark(confusion_matrix, truth, prediction, NUM_CLASSES, IGNORE)
    assert matrix.sum() == np.count_nonzero(truth != IGNORE)


def test_keras_mean_iou(benchmark: Any, tf: Any, masks: tuple[np.ndarray, np.ndarray]) -> None:
    """Keras' MeanIoU with `ignore_class`, eager, on the same numpy arrays."""
    truth, prediction = masks
    metric = tf.keras.metrics.MeanIoU(num_classes=NUM_CLASSES, ignore_class=IGNORE)

    def run() -> Any:
        metric.reset_state()
        metric.update_state(truth, prediction)
        return metric.total_cm.numpy()

    matrix = benchmark(run)
    ours = confusion_matrix(truth, prediction, NUM_CLASSES, IGNORE)
    np.testing.assert_array_equal(np.asarray(matrix, dtype=np.int64), ours)


def test_tf_math_confusion_matrix(
    benchmark: Any, tf: Any, masks: tuple[np.ndarray, np.ndarray]
) -> None:
    """eval.py's way: labels mapped to 0 and weight 0 where ignored."""
    truth, prediction = masks
    keep = truth != IGNORE

    def run() -> Any:
        return tf.math.confusion_matrix(
            np.where(keep, truth, 0).reshape(-1),
            prediction.reshape(-1),
            num_classes=NUM_CLASSES,
            weights=keep.reshape(-1).astype(np.int64),
        ).numpy()

    matrix = benchmark(run)
    np.testing.assert_array_equal(matrix, confusion_matrix(truth, prediction, NUM_CLASSES, IGNORE))
