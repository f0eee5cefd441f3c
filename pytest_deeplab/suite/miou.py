"""An mIOU item's work: one confusion matrix over the model's labelled dataset (eval.py)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.data.images import demo_resize, load_rgb
from pytest_deeplab.data.labels import load_label
from pytest_deeplab.data.masks import resize_mask
from pytest_deeplab.data.prefetch import prefetched
from pytest_deeplab.errors import DeepLabFailure
from pytest_deeplab.session import DeepLabSession
from pytest_deeplab.verdicts.metrics import confusion_matrix
from pytest_deeplab.verdicts.miou import miou_result

Record = Callable[[str, Any], None]


class MiouBelowThreshold(DeepLabFailure):
    """Raised with the per-class report."""


PREFETCH_DEPTH = 2
"""Images decoded and resized ahead of the model: memory holds this many, whatever the
dataset's size, and two keep the model fed when one image is slow to decode."""


def dataset_confusion(
    deeplab: DeepLabSession, model: ModelSpec, depth: int = PREFETCH_DEPTH
) -> tuple[np.ndarray, int]:
    """Predict every labelled image and accumulate ONE confusion matrix (not per-image means).

    The image is demo-resized for the model and the predicted mask resized back to the label's
    size with nearest neighbour, so the score is at ground-truth resolution. The dataset is
    streamed: a thread decodes and resizes the next `depth` images while the model predicts
    the current one, and only the matrix is kept.
    """
    label_set = deeplab.selection.label_set(model)
    predictor = deeplab.predictor(model)
    pairs = deeplab.selection.labelled_pairs(model)
    input_size = deeplab.input_size(model)

    def load(pair: tuple[Path, Path]) -> tuple[np.ndarray, np.ndarray]:
        rgb = load_rgb(pair[0])  # stored pixels (EXIF ignored), like its label map
        label = load_label(pair[1], label_set, expected_shape=rgb.shape[:2])
        return demo_resize(rgb, input_size), label

    matrix = np.zeros((label_set.num_classes, label_set.num_classes), dtype=np.int64)
    with closing(prefetched(pairs, load, depth)) as loaded:  # a failure stops the thread
        for image, label in loaded:
            mask = predictor.predict(image)
            if mask.shape != label.shape:
                mask = resize_mask(mask, label.shape[:2])
            matrix += confusion_matrix(label, mask, label_set.num_classes,
                                       label_set.ignore_label)
    return matrix, len(pairs)


def check_miou(deeplab: DeepLabSession, model: ModelSpec, record: Record) -> None:
    dataset = deeplab.selection.dataset(model)
    if dataset is None:
        pytest.skip(
            f"model {model.name} has no labelled dataset: declare one and set `dataset` and "
            f"`min_miou` in [tool.pytest-deeplab.models.{model.name}] to score it"
        )
    if dataset.labels is None:
        raise MiouBelowThreshold(
            f"dataset {dataset.name} has no labels, but model {model.name} asks for mIOU on it: "
            f"set `labels` in [tool.pytest-deeplab.datasets.{dataset.name}]"
        )
    label_set = deeplab.selection.label_set(model)
    matrix, count = dataset_confusion(deeplab, model)
    threshold = model.min_miou if model.min_miou is not None else 0.0
    try:
        result = miou_result(matrix, label_set, threshold, count, model.min_iou_per_class)
    except ValueError as exc:  # a per-class minimum names no class of the label set
        raise MiouBelowThreshold(f"model {model.name}: {exc}") from None
    results = deeplab.results[model.name]
    results.miou, results.miou_threshold = result.miou, model.min_miou
    results.miou_passed = result.passed and model.min_miou is not None
    if deeplab.report is not None:  # only with --deeplab-report
        from pytest_deeplab.report.collect import record_miou

        record_miou(deeplab, model, result, model.min_miou,
                    result.passed and (model.min_miou is not None or bool(model.min_iou_per_class)))
    for name, value in result.properties().items():
        record(f"deeplab_{name}", round(value, 6))
    record("deeplab_miou_images", count)
    if model.min_miou is None and not model.min_iou_per_class:
        results.miou_passed = False
        raise MiouBelowThreshold(
            f"model {model.name} has no mIOU threshold, so this check cannot pass; measured mIOU "
            f"{result.miou:.4f} on {count} images. Set min_miou in "
            f"[tool.pytest-deeplab.models.{model.name}]."
        )
    results.miou_passed = result.passed
    if not result.passed:
        raise MiouBelowThreshold(result.failure_message(model.name))
