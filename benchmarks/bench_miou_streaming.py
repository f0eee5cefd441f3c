"""Images per second of the mIOU item's dataset pass against a bare sequential loop (issue 14).

Run with `pytest benchmarks/bench_miou_streaming.py -s` (outside `testpaths`). Issue 14's goal:
the item, which decodes and resizes the next images on a thread while the model predicts the
current one, is at least as fast as a bare decode-resize-predict loop (ratio >= 1.0).

Data: 200 generated scenes written once per run (seed 14): 500x375 JPEG photos (a quarter of
them portrait, 375x500), random rectangles and polygons of the bundled label set's classes over
a textured background, each with a palette PNG label map carrying a 255 "void" outline like
PASCAL VOC's. Model: a bundled graph, declared as a user model with this dataset; one loaded
predictor serves every variant:

- item:       `dataset_confusion`, the mIOU item's pass over the dataset (what `check_miou`
              scores), with its prefetch;
- sequential: the same function with the prefetch off (`depth=0`): load, predict, score, one
              image after another in one thread, as the item did before issue 14;
- bare:       what a script does: `Image.open(...).convert("RGB")`, the demo's LANCZOS resize,
              `predict` on the same predictor, the mask back to label size (NEAREST), one
              `np.bincount` confusion matrix; no checks.

Each round runs one full pass of each variant, the order rotated every round, so drift on a
shared machine hits all alike; one warm-up pass of each first (it also warms the file cache).
Images/s per variant (median over rounds) and the paired ratios to bare (median of the
per-round ratios) go into `extra_info` and are printed. The three must give the same matrix.
DEEPLAB_BENCH_THREADS=N pins TensorFlow's intra-op threads (default: its own pools, as the
suite uses without --deeplab-threads); DEEPLAB_BENCH_ROUNDS=N sets the rounds (default 5).
"""

from __future__ import annotations

import json
import os
import statistics
import tarfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pytest_deeplab.catalogue.bundled import fixtures_dir
from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.options import build_options
from pytest_deeplab.session import DeepLabSession
from pytest_deeplab.suite.miou import dataset_confusion

SCENES = 200
SIZE = (500, 375)  # width x height, a typical PASCAL VOC photo
SEED = 14
THREADS = int(os.environ.get("DEEPLAB_BENCH_THREADS", "0")) or None
ROUNDS = int(os.environ.get("DEEPLAB_BENCH_ROUNDS", "5"))
TARGET = 1.0  # issue 14: the item at least as fast as the bare loop
MODELS = ["mini_mnv2_os16", "mini_xception_aspp_os8"]  # the smallest and the largest bundled


def write_scenes(folder: Path, num_classes: int, palette: list[int]) -> tuple[Path, Path]:
    """`SCENES` photo + label pairs, the same for the same seed."""
    rng = np.random.default_rng(SEED)
    images, labels = folder / "images", folder / "labels"
    images.mkdir()
    labels.mkdir()
    base = rng.integers(30, 226, (num_classes, 3))
    for index in range(SCENES):
        width, height = SIZE if rng.random() < 0.75 else SIZE[::-1]
        label = Image.new("L", (width, height), 0)
        draw = ImageDraw.Draw(label)
        for _ in range(int(rng.integers(3, 9))):
            cls = int(rng.integers(1, num_classes))
            cx, cy = rng.uniform(0, width), rng.uniform(0, height)
            radius = rng.uniform(0.08, 0.35) * min(width, height)
            if rng.random() < 0.5:
                box = [cx - radius, cy - radius * rng.uniform(0.4, 1.2), cx + radius, cy + radius]
                draw.rectangle(box, fill=cls, outline=255, width=3)
            else:
                angles = np.sort(rng.uniform(0, 2 * np.pi, int(rng.integers(3, 8))))
                radii = radius * rng.uniform(0.5, 1.0, angles.size)
                points = [(float(cx + r * np.cos(a)), float(cy + r * np.sin(a)))
                          for a, r in zip(angles, radii)]
                draw.polygon(points, fill=cls, outline=255, width=3)
        ids = np.asarray(label)
        colours = np.vstack([base, [[128, 128, 128]] * (256 - num_classes)])
        shade = rng.normal(0, 10, (height, width, 1)) + rng.normal(0, 6, (height, width, 3))
        photo = np.clip(colours[ids] + shade, 0, 255).astype(np.uint8)
        name = f"scene_{index:03d}"
        Image.fromarray(photo).save(images / f"{name}.jpg", quality=90)
        label.putpalette(palette)
        label.save(labels / f"{name}.png")
    return images, labels


@pytest.fixture(scope="module")
def scenes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    minizoo = get_label_set("minizoo")  # the bundled models' label set
    return write_scenes(tmp_path_factory.mktemp("scenes"), minizoo.num_classes,
                        minizoo.palette())


def bundled_graph(name: str, folder: Path) -> tuple[Path, int]:
    root = fixtures_dir()
    manifest = json.loads((root / "minizoo.json").read_text())
    entry = next(m for m in manifest["models"] if m["name"] == name)
    with tarfile.open(root / entry["archive"]) as archive:
        data = archive.extractfile(archive.getmember(entry["member"]))
        assert data is not None
        graph = folder / "frozen_inference_graph.pb"
        graph.write_bytes(data.read())
    return graph, int(entry["input_size"])


def session_for(name: str, images: Path, labels: Path, folder: Path) -> DeepLabSession:
    """A plugin session whose one model is the bundled graph scored on the generated scenes."""
    graph, input_size = bundled_graph(name, folder)
    (folder / "pyproject.toml").write_text(
        "[tool.pytest-deeplab.datasets.scenes]\n"
        f'images = "{images}"\nlabels = "{labels}"\nlabel_set = "minizoo"\n\n'
        f"[tool.pytest-deeplab.models.bench]\n"
        f'path = "{graph}"\nformat = "frozen_graph"\nlabel_set = "minizoo"\n'
        f'input_size = {input_size}\ndataset = "scenes"\n'
    )
    options = build_options(folder, "bench", golden_dir=folder / "golden",
                            cache_dir=folder / "cache", threads=THREADS)
    return DeepLabSession(options)


def bare_loop(predictor: Any, pairs: list[tuple[Path, Path]], input_size: int,
              num_classes: int, ignore: int) -> np.ndarray:
    """A script's decode-resize-predict loop on the same predictor."""
    matrix = np.zeros((num_classes, num_classes), dtype=np.int64)
    for image_path, label_path in pairs:
        image = Image.open(image_path).convert("RGB")
        ratio = input_size / max(image.size)
        image = image.resize((int(ratio * image.width), int(ratio * image.height)),
                             Image.Resampling.LANCZOS)
        truth = np.asarray(Image.open(label_path))
        mask = Image.fromarray(predictor.predict(np.asarray(image)))
        predicted = np.asarray(mask.resize(truth.shape[::-1], Image.Resampling.NEAREST))
        keep = truth != ignore
        index = truth[keep].astype(np.int64) * num_classes + predicted[keep]
        matrix += np.bincount(index, minlength=num_classes**2).reshape(num_classes, -1)
    return matrix


@pytest.mark.parametrize("name", MODELS)
def test_miou_streaming_images_per_second(
    benchmark: Any, name: str, scenes: tuple[Path, Path], tmp_path: Path
) -> None:
    deeplab = session_for(name, *scenes, tmp_path)
    model = deeplab.selected[0]
    predictor = deeplab.predictor(model)
    label_set = deeplab.selection.label_set(model)
    pairs = deeplab.selection.labelled_pairs(model)
    assert len(pairs) == SCENES
    size = deeplab.input_size(model)
    variants: dict[str, Callable[[], np.ndarray]] = {
        "item": lambda: dataset_confusion(deeplab, model)[0],
        "sequential": lambda: dataset_confusion(deeplab, model, depth=0)[0],
        "bare": lambda: bare_loop(predictor, pairs, size, label_set.num_classes,
                                  label_set.ignore_label),
    }
    reference = variants["bare"]()
    for key, run in variants.items():  # warm-up pass, and the same matrix from each
        np.testing.assert_array_equal(run(), reference, err_msg=key)

    seconds: dict[str, list[float]] = {key: [] for key in variants}
    order = list(variants)

    def one_round() -> None:
        order.append(order.pop(0))
        for key in order:
            start = time.perf_counter()
            variants[key]()
            seconds[key].append(time.perf_counter() - start)

    benchmark.pedantic(one_round, rounds=ROUNDS, iterations=1)
    deeplab.close()

    rate = {key: [SCENES / s for s in values] for key, values in seconds.items()}
    median = {key: statistics.median(values) for key, values in rate.items()}
    paired = {key: statistics.median(a / b for a, b in zip(rate[key], rate["bare"]))
              for key in rate}
    benchmark.extra_info.update(
        model=name, scenes=SCENES, scene_size=list(SIZE), input_size=size, rounds=ROUNDS,
        threads=THREADS, load_average=list(os.getloadavg()), images_per_s_median=median,
        images_per_s=rate, paired_ratio_to_bare=paired, target_ratio=TARGET,
    )
    print(f"\n{name}: {SCENES} scenes, input size {size}, {ROUNDS} interleaved rounds, "
          f"load average {os.getloadavg()[0]:.2f}\n" + "\n".join(
              f"  {key:<10} {median[key]:7.1f} images/s   paired ratio to bare "
              f"{paired[key]:.3f}" for key in variants))
    assert paired["item"] >= TARGET, (
        f"the mIOU item ran at {paired['item']:.3f}x the bare loop's images/s "
        f"(goal >= {TARGET})"
    )
