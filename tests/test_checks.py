"""Mask-stability and mIOU verdicts, and the failure text a CI log reader gets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.verdicts.diff_image import CHANGED_COLOUR, write_diff_image
from pytest_deeplab.verdicts.masks import MaskThresholds, compare_masks
from pytest_deeplab.verdicts.metrics import confusion_matrix
from pytest_deeplab.verdicts.miou import miou_result

PASCAL = get_label_set("pascal")
BACKGROUND, AEROPLANE, PERSON = 0, 1, 15


def scene() -> np.ndarray:
    """A 100x200 golden: background with a person (40x50) and an aeroplane (20x100)."""
    mask = np.zeros((100, 200), np.uint8)
    mask[10:50, 10:60] = PERSON
    mask[60:80, 80:180] = AEROPLANE
    return mask


# --------------------------------------------------------------------------- compare_masks


def test_identical_masks_pass() -> None:
    result = compare_masks(scene(), scene(), PASCAL)
    assert result.passed and result.problems == []
    assert result.agreement == 1.0 and result.differing_pixels == 0
    assert set(result.class_iou) == {"background", "person", "aeroplane"}
    assert result.changes == []


def test_a_few_boundary_pixels_stay_within_the_default_tolerance() -> None:
    current = scene()
    current[10:20, 60] = PERSON  # ten boundary pixels flip: 10 of 20000
    result = compare_masks(scene(), current, PASCAL)
    assert result.differing_pixels == 10
    assert result.agreement == pytest.approx(0.9995)  # >= 99.9 %
    assert result.class_iou["person"] == pytest.approx(2000 / 2010)  # >= 0.99
    assert result.passed and result.problems == []


def test_a_whole_column_of_change_exceeds_the_default_tolerance() -> None:
    current = scene()
    current[10:50, 60] = PERSON  # the person grows by one column: 40 of 20000 pixels
    result = compare_masks(scene(), current, PASCAL)
    assert result.differing_pixels == 40
    assert result.agreement == pytest.approx(0.998)
    assert not result.passed  # 99.8 % < 99.9 %, and person IoU 2000/2040 < 0.99
    assert result.changes == [("background", "person", 40)]


def test_failure_message_reads_like_pytest_regressions(tmp_path: Path) -> None:
    current = scene()
    current[10:30, 10:60] = BACKGROUND  # half the person vanishes: 1000 px
    current[0:2, 0:100] = AEROPLANE  # and a strip of sky turns into aeroplane: 200 px
    result = compare_masks(scene(), current, PASCAL)
    message = result.failure_message("mnv2", "image01", diff_path=tmp_path / "d.png")
    print(message)
    assert "mask of model 'mnv2' on image 'image01' differs from its golden" in message
    assert "shape: 100 x 200 (height x width)" in message
    assert "1200 of 20000 pixels differ (6.000 %)" in message
    assert "agreement: 94.000 % (required >= 99.900 %)" in message
    assert "person: 0.5000" in message
    assert "aeroplane: 0.9091" in message  # 2000 / 2200
    assert "person \u2192 background: 1000 px" in message
    assert "background \u2192 aeroplane: 200 px" in message
    assert message.index("person \u2192 background") < message.index("background \u2192 aeroplane")
    assert str(tmp_path / "d.png") in message


def test_small_classes_are_not_iou_checked() -> None:
    golden = scene()
    golden[90:93, 190:193] = 9  # a 9-pixel chair: 0.045 % of the image
    current = scene()  # the chair disappears
    result = compare_masks(golden, current, PASCAL, MaskThresholds(min_agreement=0.99))
    assert "chair" not in result.class_iou
    assert result.passed
    assert result.changes == [("chair", "background", 9)]


def test_thresholds_can_be_loosened_per_model() -> None:
    current = scene()
    current[10:50, 60] = PERSON
    loose = MaskThresholds(min_agreement=0.99, min_class_iou=0.95)
    assert compare_masks(scene(), current, PASCAL, loose).passed


def test_shape_mismatch_names_both_shapes() -> None:
    result = compare_masks(scene(), np.zeros((384, 513), np.uint8), PASCAL)
    assert not result.passed and result.agreement is None
    message = result.failure_message("mnv2", "image01")
    assert "golden 100 x 200, current 384 x 513 (height x width)" in message


def test_top_changes_are_limited_to_five() -> None:
    golden = np.repeat(np.arange(10, dtype=np.uint8), 10).reshape(10, 10)
    current = (golden + 1) % 10
    assert len(compare_masks(golden, current, PASCAL).changes) == 5


def test_ade20k_class_zero_is_named_other_not_ignore() -> None:
    ade = get_label_set("ade20k")
    golden = np.zeros((10, 10), np.uint8)
    current = golden.copy()
    current[0] = 13
    assert compare_masks(golden, current, ade).changes == [("other", "person", 10)]


# --------------------------------------------------------------------------- diff image


def test_diff_image_is_four_panels_with_changes_in_magenta(tmp_path: Path) -> None:
    current = scene()
    current[10:30, 10:60] = BACKGROUND
    photo = np.full((200, 400, 3), 120, np.uint8)  # the original photo, twice the mask size
    path = write_diff_image(photo, scene(), current, PASCAL, tmp_path / "out" / "diff.png")
    image = np.asarray(Image.open(path).convert("RGB"))
    header, gap = 14, 4
    assert image.shape == (100 + header, 4 * 200 + 3 * gap, 3)
    golden_panel = image[header:, 204:404]
    current_panel = image[header:, 408:608]
    changes = image[header:, 612:812]
    np.testing.assert_array_equal(golden_panel[20, 20], PASCAL.colormap[PERSON])
    np.testing.assert_array_equal(current_panel[20, 20], PASCAL.colormap[BACKGROUND])
    np.testing.assert_array_equal(changes[20, 20], CHANGED_COLOUR)
    assert changes[90, 190].max() < 60  # unchanged: dimmed grey photo
    assert [p.name for p in path.parent.iterdir()] == ["diff.png"]


def test_diff_image_copes_with_a_current_mask_of_another_shape(tmp_path: Path) -> None:
    path = write_diff_image(
        np.zeros((100, 200, 3), np.uint8),
        scene(),
        np.zeros((50, 100), np.uint8),
        PASCAL,
        tmp_path / "d.png",
    )
    assert Image.open(path).size == (812, 114)


# --------------------------------------------------------------------------- mIOU


def pascal_confusion() -> np.ndarray:
    truth = np.zeros((10, 10), np.uint8)
    truth[:5] = PERSON
    truth[9] = 255  # ignored
    prediction = np.zeros((10, 10), np.uint8)
    prediction[:4] = PERSON  # one row of person predicted as background
    return confusion_matrix(truth, prediction, 21, 255)


def test_miou_result_passes_and_fails_on_its_threshold() -> None:
    confusion = pascal_confusion()
    # person: 40 / 50 = 0.8; background: 40 / 50 = 0.8 (40 tp, 10 fn... see below)
    result = miou_result(confusion, PASCAL, threshold=0.7, images=1)
    assert result.per_class_iou["person"] == pytest.approx(40 / 50)
    assert result.per_class_iou["background"] == pytest.approx(40 / 50)
    assert result.per_class_iou["aeroplane"] is None
    assert result.miou == pytest.approx(0.8)
    assert result.passed
    assert not miou_result(confusion, PASCAL, threshold=0.85).passed


def test_miou_failure_message_lists_classes_worst_first() -> None:
    truth = np.array([[0, 0, 1, 1, 15, 15, 15, 15]], np.uint8)
    prediction = np.array([[0, 0, 0, 1, 15, 15, 15, 0]], np.uint8)
    result = miou_result(confusion_matrix(truth, prediction, 21, 255), PASCAL, 0.9, images=3)
    message = result.failure_message("mnv2")
    print(message)
    assert "mIOU of model 'mnv2' over 3 images is 0.5833, below its threshold 0.9000" in message
    lines = message.splitlines()
    order = [line.split()[0] for line in lines if line.startswith("    ")]
    assert order == ["aeroplane", "background", "person"]  # 0.5, 0.5, 0.75
    assert "    person      0.7500  (4 px)" in message
    assert "18 classes in neither truth nor prediction: bicycle, bird," in message


def test_per_class_minimum_fails_even_when_miou_passes() -> None:
    result = miou_result(pascal_confusion(), PASCAL, 0.5, min_iou_per_class={"person": 0.85})
    assert result.failing_classes == {"person": 0.85}
    assert not result.passed
    assert "IoU of person is 0.8000, below 0.85" in result.failure_message("m")


def test_unknown_class_in_per_class_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="aeroplan'"):
        miou_result(pascal_confusion(), PASCAL, 0.5, min_iou_per_class={"aeroplan": 0.85})


def test_no_labelled_pixels_never_passes() -> None:
    result = miou_result(np.zeros((21, 21), np.int64), PASCAL, 0.0)
    assert math.isnan(result.miou) and not result.passed
    assert "undefined: no labelled pixels" in result.failure_message("m")


def test_properties_for_junit() -> None:
    props = miou_result(pascal_confusion(), PASCAL, 0.7).properties()
    assert props["miou"] == pytest.approx(0.8) and props["miou_threshold"] == 0.7
    assert "iou[person]" in props and "iou[aeroplane]" not in props


def test_confusion_of_the_wrong_label_set_is_refused() -> None:
    with pytest.raises(ValueError, match="expected 19 x 19"):
        miou_result(pascal_confusion(), get_label_set("cityscapes"), 0.5)
