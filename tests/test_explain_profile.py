"""explain's TF-free parts: tensor figures, name matching, chunk plans, reports, the hint line."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import numpy as np
import pytest

from pytest_deeplab.explain.hint import golden_explain_line
from pytest_deeplab.explain.html import render_html
from pytest_deeplab.explain.matching import chunks_for, match_tensors, plan_chunks
from pytest_deeplab.explain.profile import (
    Profile,
    TensorDiff,
    compare_files,
    compare_pair,
    mask_agreement,
)
from pytest_deeplab.explain.render import render_text


def save(tmp_path: Path, name: str, array: np.ndarray) -> Path:
    path = tmp_path / f"{name}.npy"
    np.save(path, array)
    return path


def test_identical_tensors_have_no_difference(tmp_path: Path) -> None:
    a = np.random.default_rng(0).normal(size=(1, 33, 33, 8)).astype(np.float32)
    stats = compare_files(save(tmp_path, "a", a), save(tmp_path, "b", a.copy()), 1e-3)
    assert stats == {"max_abs": 0.0, "rel_l2": 0.0, "fraction_beyond": 0.0,
                     "nonfinite_mismatch": 0}


def test_figures_over_many_blocks_are_the_ones_worked_out_by_hand(tmp_path: Path) -> None:
    """a is 2000 ones. b flips 20 of them to -1 (off by 2, far beyond tolerance x RMS = 1e-3)
    and nudges 20 pairs by +-5e-4 (within it). By hand: max_abs = 2; |a - b|^2 = 20 * 4 (+ 1e-5
    from the nudges) against |a|^2 = |b|^2 = 2000 (+ 1e-5), so rel_l2 = sqrt(80 / 2000) = 0.2;
    exactly 20 of 2000 elements are beyond: 1 %."""
    a = np.ones((4, 25, 20), np.float32)
    b = a.copy().reshape(-1)
    b[::100] = -1.0
    b[50::100] = 1.0 + 5e-4
    b[51::100] = 1.0 - 5e-4
    path_a, path_b = save(tmp_path, "a", a), save(tmp_path, "b", b.reshape(a.shape))
    for block in (7, 1000, 1 << 20):  # a block size that does not divide the tensor, too
        stats = compare_files(path_a, path_b, 1e-3, block=block)
        assert stats["max_abs"] == 2.0
        assert stats["rel_l2"] == pytest.approx(0.2, rel=1e-5)
        assert stats["fraction_beyond"] == 0.01
        assert stats["nonfinite_mismatch"] == 0


def test_rel_l2_is_relative_to_the_larger_norm(tmp_path: Path) -> None:
    """b = 2a: |a - b| = |a| and the larger norm is |b| = 2 |a|, so rel_l2 = 0.5; RMS is 2,
    every element is off by 1 > 2 * tolerance, so all of them are beyond."""
    a = np.ones(999, np.float32)
    stats = compare_files(save(tmp_path, "a", a), save(tmp_path, "b", 2 * a), 0.1, block=100)
    assert stats["max_abs"] == 1.0
    assert stats["rel_l2"] == pytest.approx(0.5, rel=1e-6)
    assert stats["fraction_beyond"] == 1.0


def test_fraction_beyond_counts_the_elements_past_tolerance(tmp_path: Path) -> None:
    a = np.ones(1000, np.float32)
    b = a.copy()
    b[:10] += 0.5  # RMS is ~1, so these 10 are beyond 1e-3; the rest are equal
    stats = compare_files(save(tmp_path, "a", a), save(tmp_path, "b", b), 1e-3)
    assert stats["fraction_beyond"] == pytest.approx(0.01)


def test_a_nan_on_one_side_counts_as_divergence(tmp_path: Path) -> None:
    a = np.arange(6, dtype=np.float32)
    b = a.copy()
    b[2] = np.nan
    both_nan = a.copy()
    both_nan[2] = np.nan
    diff = TensorDiff(0, "x:0", "x", "Relu", [6])
    compare_pair(diff, save(tmp_path, "a", a), save(tmp_path, "b", b), 1e-3)
    assert diff.nonfinite_mismatch == 1 and diff.diverges(1e-3)
    same = TensorDiff(0, "x:0", "x", "Relu", [6])
    compare_pair(same, save(tmp_path, "c", both_nan), save(tmp_path, "d", both_nan), 1e-3)
    assert not same.differs


def test_shapes_that_differ_are_a_divergence(tmp_path: Path) -> None:
    diff = TensorDiff(3, "x:0", "x", "Conv2D", [])
    compare_pair(diff, save(tmp_path, "a", np.zeros((1, 4, 4, 2))),
                 save(tmp_path, "b", np.zeros((1, 4, 4, 3))), 1e-3)
    assert diff.shape_b == [1, 4, 4, 3] and "shapes differ" in diff.note
    assert diff.differs and diff.diverges(1.0)


def test_first_difference_and_first_divergence_are_in_graph_order() -> None:
    profile = Profile(1e-3, tensors=[
        TensorDiff(0, "a:0", "a", "Conv2D", [1], max_abs=0.0, rel_l2=0.0),
        TensorDiff(1, "b:0", "b", "Relu6", [1], max_abs=1e-7, rel_l2=1e-7),
        TensorDiff(2, "c:0", "c", "Conv2D", [1], max_abs=0.5, rel_l2=0.2),
        TensorDiff(3, "d:0", "d", "Add", [1], max_abs=0.9, rel_l2=0.4),
    ])
    assert profile.first_difference is not None and profile.first_difference.op == "b"
    assert profile.first_divergence is not None and profile.first_divergence.op == "c"
    assert profile.largest is not None and profile.largest.op == "d"
    assert [t.op for t in profile.top(2)] == ["d", "c"]
    identical = Profile(1e-3, tensors=[TensorDiff(0, "a:0", "a", "Conv2D", [1], 0.0, 0.0, 0.0)])
    data = identical.as_dict()
    assert data["first_difference"] is None and data["first_divergence"] is None


def test_tflite_names_match_the_last_op_they_fused() -> None:
    frozen = [{"name": n + ":0", "op": n} for n in
              ("sub_3", "stem/Conv2D", "stem/BiasAdd", "stem/Relu6", "add_1", "logits/BiasAdd")]
    tflite = [
        {"name": "normalized_image", "op": "normalized_image"},
        {"name": "stem/Relu6;stem/BiasAdd;stem/Conv2D;stem/biases1", "op": "x"},
        {"name": "add_1", "op": "add_1"},
        {"name": "logits/BiasAdd;logits/Conv2D;logits/biases1", "op": "y"},
    ]
    pairs, unmatched_a, unmatched_b = match_tensors(frozen, tflite)
    assert [(a["name"], b["name"].split(";")[0]) for a, b in pairs] == [
        ("stem/Relu6:0", "stem/Relu6"), ("add_1:0", "add_1"),
        ("logits/BiasAdd:0", "logits/BiasAdd")]
    assert unmatched_a == ["sub_3:0", "stem/Conv2D:0", "stem/BiasAdd:0"]
    assert unmatched_b == ["normalized_image"]
    # the other way round (TF Lite as A): the fused tensor still pairs with the last op, ReLU6
    pairs, unmatched_a, unmatched_b = match_tensors(tflite, frozen)
    assert [(a["name"].split(";")[0], b["name"]) for a, b in pairs] == [
        ("stem/Relu6", "stem/Relu6:0"), ("add_1", "add_1:0"),
        ("logits/BiasAdd", "logits/BiasAdd:0")]
    assert unmatched_b == ["sub_3:0", "stem/Conv2D:0", "stem/BiasAdd:0"]


def test_chunks_respect_the_budget_and_keep_order() -> None:
    records = [{"name": f"t{i}", "bytes": size} for i, size in enumerate([40, 40, 30, 200, 10])]
    plan = plan_chunks(records, 100)
    assert plan == [["t0", "t1"], ["t2"], ["t3"], ["t4"]]  # t3 alone: bigger than the budget
    assert chunks_for(plan, {"t0": "b0", "t2": "b2", "t4": "b4"}) == [["b0"], ["b2"], ["b4"]]


def test_mask_agreement_counts_pixels() -> None:
    a = np.zeros((10, 10), np.uint8)
    b = a.copy()
    b[0, :3] = 1
    assert mask_agreement(a, b) == {"agreement": 0.97, "differing_pixels": 3, "pixels": 100,
                                    "identical": False}
    assert mask_agreement(a, a)["identical"]


def _data(first: dict | None) -> dict:
    tensors = [
        {"index": 0, "tensor": "stem/Relu6:0", "op": "stem/Relu6", "type": "Relu6",
         "shape": [1, 8, 8, 4], "max_abs": 0.0, "rel_l2": 0.0, "fraction_beyond": 0.0,
         "kernel": "_FusedConv2D(BiasAdd,Relu6)", "fused": ["stem/BiasAdd", "stem/Conv2D"]},
        {"index": 1, "tensor": "<b>x</b>:0", "op": "<b>x</b>", "type": "Conv2D",
         "shape": [1, 8, 8, 4], "max_abs": 0.5, "rel_l2": 0.3, "fraction_beyond": 0.9},
    ]
    side = {"python": sys.executable, "path": "/m.pb", "tensorflow": "2.21.0", "onednn": True,
            "onednn_source": "measured", "env": {}, "format": "frozen_graph"}
    return {"model": "m", "against": None, "tolerance": 1e-3, "compared": 2,
            "image": {"path": "img.png", "size": [8, 8]}, "sides": {"A": side, "B": side},
            "first_difference": first, "first_divergence": first, "largest": first,
            "last": tensors[-1], "unmatched": {"A": [], "B": ["only_b"]},
            "mask": {"agreement": 0.5, "differing_pixels": 32, "pixels": 64, "identical": False},
            "tensors": tensors, "attribution": None, "seconds": 1.0}


def test_text_and_html_name_the_first_divergence() -> None:
    data = _data(None)
    data["first_difference"] = data["first_divergence"] = data["tensors"][1]
    text = render_text(data)
    assert "first divergence: <b>x</b> (Conv2D): rel L2 0.3" in text
    assert "not matched in B (1): only_b" in text
    page = render_html(data)
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page  # escaped
    assert 'src="data:image/png;base64,' in page  # the profile plot, embedded
    assert "Top ops by relative error" in page and "32 of 64 pixels differ" in page


def test_text_says_none_when_nothing_differs() -> None:
    text = render_text(_data(None))
    assert "first difference: none" in text
    assert "first divergence: none (no tensor beyond 0.001)" in text


def test_golden_line_points_at_the_tensorflow_that_made_the_golden(tmp_path: Path) -> None:
    image = tmp_path / "my image.png"
    line = golden_explain_line("mini", image, {"tensorflow": "2.15.1", "onednn": True},
                               {"tensorflow": "2.21.0", "onednn": True})
    args = shlex.split(line.split("where the runs part ways: ", 1)[1].split(" (PY_WITH")[0])
    assert args[:3] == ["pytest-deeplab", "explain", "mini"]
    assert args[args.index("--image") + 1] == str(image)
    assert args[args.index("--baseline") + 1] == "PY_WITH_TF_2.15.1"
    assert args[args.index("--candidate") + 1] == sys.executable
    same_tf = golden_explain_line("mini", image, {"tensorflow": "2.21.0", "onednn": False},
                                  {"tensorflow": "2.21.0", "onednn": True})
    assert f"--baseline {shlex.quote(sys.executable)}" in same_tf
    assert "--env-a TF_ENABLE_ONEDNN_OPTS=0" in same_tf


def test_quantized_tensors_are_dequantized_per_tensor_and_per_channel() -> None:
    from pytest_deeplab.runtime.tflite_intermediates import dequantize

    q = np.array([[0, 128, 255]], dtype=np.uint8)
    per_tensor = {"quantization_parameters": {"scales": [0.5], "zero_points": [128]}}
    assert dequantize(q, per_tensor).tolist() == [[-64.0, 0.0, 63.5]]
    q8 = np.array([[-2, 4], [6, -8]], dtype=np.int8)  # channels along axis 1
    per_channel = {"quantization_parameters": {"scales": [0.5, 0.25], "zero_points": [0, 0],
                                               "quantized_dimension": 1}}
    assert dequantize(q8, per_channel).tolist() == [[-1.0, 1.0], [3.0, -2.0]]
    floats = np.array([1.5], np.float32)
    assert dequantize(floats, per_tensor) is floats  # float tensors pass through
