"""Goldens of TF Lite models say how the mask was made (resize convention, XNNPACK, interpreter,
threads), and a mismatch says when this run made it differently."""

from __future__ import annotations

from pytest_deeplab.golden.store import golden_metadata, runtime_differences

RECORD = {"interpreter": "tf.lite (TensorFlow 2.21.0)", "xnnpack": True,
          "delegated_partitions": 2, "threads": 2, "resize": "pad", "input_size": 513}


def metadata(runtime: dict[str, object] | None) -> dict[str, object]:
    return golden_metadata(model="m", model_sha256="0" * 64, image="a.jpg", image_sha256="1" * 64,
                           label_set="pascal", tensorflow="2.21.0", onednn=True, threads=2,
                           input_size=513, created="2026-12-02T00:00:00+00:00", runtime=runtime)


def test_a_tflite_golden_records_resize_and_the_interpreter() -> None:
    meta = metadata(RECORD)
    assert meta["preprocessing"] == {"input_size": 513, "resample": "lanczos", "exif": "ignored",
                                     "resize": "pad"}
    assert meta["tflite"] == {"interpreter": "tf.lite (TensorFlow 2.21.0)", "xnnpack": True,
                              "delegated_partitions": 2, "threads": 2}


def test_a_frozen_graph_golden_has_no_tflite_block() -> None:
    meta = metadata(None)
    assert "tflite" not in meta and "resize" not in meta["preprocessing"]  # type: ignore[operator]


def test_differences_name_what_changed_and_nothing_else() -> None:
    meta = metadata(RECORD)
    assert runtime_differences(meta, RECORD) == ""
    assert runtime_differences(meta, None) == ""
    assert runtime_differences(meta, {**RECORD, "xnnpack": False}) == (
        "the golden was made with xnnpack=True; this run uses xnnpack=False")
    assert runtime_differences(meta, {**RECORD, "xnnpack": False, "resize": "stretch"}) == (
        "the golden was made with resize=pad, xnnpack=True; this run uses resize=stretch, "
        "xnnpack=False")
    assert runtime_differences(meta, {**RECORD, "threads": 1}) == ""  # threads: not a reason


def test_a_golden_from_before_resize_was_recorded_says_so() -> None:
    old = metadata(None)
    assert runtime_differences(old, RECORD) == (
        "the golden does not record how the image was fitted to the TF Lite input (it predates "
        "resize; such goldens stretched the image, resize = \"stretch\"); this run uses "
        "resize=pad")
