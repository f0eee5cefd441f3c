"""Cityscapes-sized inputs: the demo resize at input_size 2048 (a pass-through) against 2049 (the
previous catalogue setting, which resampled every frame), and decoding a 2048x1024 colour label
map (`*_color.png`) against reading the same labels as a trainIds PNG.

Run with `pytest benchmarks/bench_cityscapes_inputs.py -s`. The four variants run interleaved,
round after round, so drift on a shared machine hits them alike; medians and ratios go into
`extra_info` and are printed.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pytest_deeplab.data.images import demo_resize
from pytest_deeplab.data.labels import load_label
from pytest_deeplab.data.labelsets import CITYSCAPES_COLOURS, get_label_set

ROUNDS = 15
CITYSCAPES = get_label_set("cityscapes")
Inputs = tuple[np.ndarray, Path, Path, np.ndarray]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Inputs:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (1024, 2048, 3), dtype=np.uint8)
    ids = rng.integers(0, 19, (1024, 2048)).astype(np.uint8)
    colour = np.zeros((1024, 2048, 3), np.uint8)  # void pixels stay black, i.e. trainId 255
    for index, rgb in enumerate(CITYSCAPES_COLOURS):
        colour[ids == index] = rgb
    ids[rng.random(ids.shape) < 0.1] = 255
    colour[ids == 255] = 0
    folder = tmp_path_factory.mktemp("cityscapes")
    Image.fromarray(colour).save(folder / "frame_gtFine_color.png")
    Image.fromarray(ids).save(folder / "frame_gtFine_labelTrainIds.png")
    return frame, folder / "frame_gtFine_color.png", folder / "frame_gtFine_labelTrainIds.png", ids


def test_cityscapes_inputs(benchmark: Any, inputs: Inputs) -> None:
    frame, colour_png, train_ids_png, ids = inputs
    assert demo_resize(frame, 2048).tobytes() == frame.tobytes()
    assert np.array_equal(load_label(colour_png, CITYSCAPES), ids)
    variants: dict[str, Callable[[], object]] = {
        "resize_2048": lambda: demo_resize(frame, 2048),
        "resize_2049": lambda: demo_resize(frame, 2049),
        "label_color_png": lambda: load_label(colour_png, CITYSCAPES),
        "label_trainids_png": lambda: load_label(train_ids_png, CITYSCAPES),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}

    def one_round() -> None:
        for name, run in variants.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)

    benchmark.pedantic(one_round, rounds=ROUNDS, warmup_rounds=1)
    medians = {name: statistics.median(values) for name, values in times.items()}
    benchmark.extra_info.update({f"median_{k}_s": v for k, v in medians.items()})
    benchmark.extra_info["ratio_resize_2049_over_2048"] = (
        medians["resize_2049"] / medians["resize_2048"])
    benchmark.extra_info["ratio_color_over_trainids"] = (
        medians["label_color_png"] / medians["label_trainids_png"])
    for name, value in medians.items():
        print(f"{name}: median {value * 1000:.1f} ms")
