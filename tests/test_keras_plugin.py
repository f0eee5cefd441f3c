"""Keras 3 `.keras` models through the plugin: the bundled Keras mini model in the suite, class
ids and logits out, fixed and any input size, `normalize`, and a Lambda layer refused.

The tiny models compute class ids from the red channel only, so every expected mask is written
down from the image (red = 51 * class id), not from the code under test."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, DeepLabPytester, minizoo_manifest
from PIL import Image
from test_keras_safety import lambda_model

from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.formats.keras_predictor import KerasPredictor

keras = pytest.importorskip("keras")
BUNDLED = "mini_keras_deeplabv3plus"
SIDE = 40


@pytest.fixture(scope="module", autouse=True)
def keras_preloaded(tensorflow_preloaded: None) -> None:
    """Keras is imported out here, once: pytester's in-process runs drop what they import."""


def striped(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """An image of vertical stripes whose red channel is 51 * class id, and those ids."""
    ids = (np.arange(width) * 6 // width)[np.newaxis].repeat(height, axis=0).astype(np.uint8)
    image = np.stack([ids * 51, 255 - ids * 40, np.full_like(ids, 90)], axis=-1)
    return image.astype(np.uint8), ids


def red_to_ids(path: Path, rank: int) -> Path:
    """Fixed 40x40 input, raw values (normalize = "none"): class id = red / 51 as a float,
    out as [1, H, W, 1] (rank 4) or [1, H, W] (rank 3)."""
    inputs = keras.Input((SIDE, SIDE, 3))
    conv = keras.layers.Conv2D(1, 1, use_bias=False, name="ids")
    x = conv(inputs)
    conv.set_weights([np.array([1 / 51, 0, 0], np.float32).reshape(1, 1, 3, 1)])
    if rank == 3:
        x = keras.layers.Reshape((SIDE, SIDE), name="squeeze")(x)
    keras.Model(inputs, x).save(path)
    return path


def red_to_logits(path: Path, normalize: str) -> Path:
    """Any input size; logits whose arg-max is the class id when the input is scaled by
    `normalize`: logit_c = c * k(v) - c^2 / 2 peaks at c = k(v), k(v) the red byte / 51."""
    scale, offset = {"none": (1 / 51, 0.0), "unit": (5.0, 0.0), "deeplab": (2.5, 2.5)}[normalize]
    c = np.arange(6, dtype=np.float32)
    inputs = keras.Input((None, None, 3))
    conv = keras.layers.Conv2D(6, 1, name="logits")
    out = conv(inputs)
    kernel = np.zeros((1, 1, 3, 6), np.float32)
    kernel[0, 0, 0] = c * scale
    conv.set_weights([kernel, c * offset - c * c / 2])
    keras.Model(inputs, out).save(path)
    return path


@pytest.mark.parametrize("normalize", ["deeplab", "unit", "none"])
def test_normalize_scales_the_input_and_any_size_is_fed_as_it_is(tmp_path: Path,
                                                                 normalize: str) -> None:
    model = red_to_logits(tmp_path / f"{normalize}.keras", normalize)
    image, ids = striped(37, 53)
    predictor = KerasPredictor("m", model, normalize=normalize, num_classes=6)
    assert predictor.input_size is None
    assert np.array_equal(predictor.predict(image), ids)
    for other in {"deeplab", "unit", "none"} - {normalize}:  # the scaling really is applied
        wrong = KerasPredictor("m", model, normalize=other, num_classes=6).predict(image)
        assert not np.array_equal(wrong, ids)


def test_a_logits_output_must_score_the_label_sets_classes(tmp_path: Path) -> None:
    model = red_to_logits(tmp_path / "six.keras", "none")
    with pytest.raises(ModelLoadError, match=re.escape(
            f"{model}: the model scores 6 classes (its output has 6 logits channels) but its "
            "label set 'pascal' has 21. Set label_set in [tool.pytest-deeplab.models.six]")):
        KerasPredictor("six", model, label_set="pascal", num_classes=21)


@pytest.mark.parametrize("rank", [4, 3])
def test_class_ids_out_of_a_fixed_size_model_through_the_suite(
    deeplab: DeepLabPytester, rank: int
) -> None:
    """[1, H, W, 1] and [1, H, W] class ids, a 40x40 input: a 40x24 image is padded (its mask
    cropped back), a 24x40 one too; the goldens the suite writes are the images' class ids."""
    model = red_to_ids(deeplab.path / "ids.keras", rank)
    folder = deeplab.path / "photos"
    folder.mkdir()
    expected = {}
    for stem, (h, w) in {"wide": (24, SIDE), "tall": (SIDE, 24)}.items():
        image, ids = striped(h, w)
        Image.fromarray(image).save(folder / f"{stem}.png")
        expected[stem] = ids
    deeplab.configure(models={"ids": {"path": model, "label_set": 6, "normalize": "none",
                                      "golden_images": folder}})
    result = deeplab.run("--deeplab-models=ids", "-m", "deeplab_mask", "--deeplab-update-golden")
    result.assert_outcomes(passed=2)
    for stem, ids in expected.items():
        golden = np.asarray(Image.open(deeplab.path / "deeplab-golden" / "ids" / f"{stem}.png"))
        assert np.array_equal(golden, ids), stem
        meta = json.loads((deeplab.path / "deeplab-golden" / "ids" / f"{stem}.json").read_text())
        assert meta["preprocessing"]["input_size"] == SIDE  # from the file: nothing configured
    deeplab.run("--deeplab-models=ids", "-m", "deeplab_mask").assert_outcomes(passed=2)


def test_a_lambda_layer_fails_its_models_items_and_never_runs(deeplab: DeepLabPytester) -> None:
    marker = deeplab.path / "lambda-ran.txt"
    model = lambda_model(deeplab.path / "lam.keras", marker)
    folder = deeplab.path / "photos"
    folder.mkdir()
    Image.fromarray(striped(30, 40)[0]).save(folder / "one.png")
    deeplab.configure(models={"lam": {"path": model, "label_set": 6, "input_size": 40,
                                      "golden_images": folder}})
    result = deeplab.run("--deeplab-models=lam", "-m", "deeplab_mask")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"*KerasRefusedError: {model}: model lam was not loaded: 2 object(s) in its config.json "
        "are not allowed:",
        "*  - Lambda at layer preprocess: Lambda layer 'preprocess' holds Python bytecode that "
        "would run when the model loads",
        "*Rebuild the model from built-in Keras layers*"])
    assert not marker.exists()


@pytest.mark.parametrize(("settings", "message"), [
    ({"format": "keras", "normalize": "zero-one"},
     "normalize must be \"deeplab\" (x / 127.5 - 1, DeepLab's [-1, 1]), \"unit\" (x / 255) or "
     "\"none\" (the raw 0..255 values as float32), got 'zero-one'"),
    ({"format": "frozen_graph", "normalize": "unit"},
     "normalize applies to Keras 3 models only (format = \"keras\"); this model is a "
     "frozen_graph"),
    ({"format": "keras", "xnnpack": False},
     "xnnpack applies to TF Lite models only"),
])
def test_bad_keras_settings_are_usage_errors(deeplab: DeepLabPytester, settings: dict[str, Any],
                                             message: str) -> None:
    deeplab.configure(models={"k": {"path": deeplab.path / "k.keras", "label_set": 6,
                                    **settings}})
    result = deeplab.run("--deeplab-models=k")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: {deeplab.path / 'pyproject.toml'}: [models.k]: {message}" in \
        result.stderr.str()


def test_the_bundled_keras_model_runs_in_the_suite_with_its_goldens_and_threshold(
    deeplab: DeepLabPytester,
) -> None:
    entry = next(m for m in minizoo_manifest()["models"] if m["name"] == BUNDLED)
    assert entry["format"] == "keras" and (FIXTURES / entry["file"]).is_file()
    goldens = sorted((FIXTURES / "golden" / BUNDLED).glob("*.png"))
    assert len(goldens) == len(list((FIXTURES / "scenes" / "golden").glob("*.png"))) == 6
    junit = deeplab.path / "keras.xml"
    result = deeplab.run(f"--deeplab-models={BUNDLED}", "-m", "deeplab_mask or deeplab_miou",
                         "--deeplab-threads=2", f"--junitxml={junit}")
    result.assert_outcomes(passed=7)  # 6 golden images, one mIOU over the 24 labelled scenes
    miou = float(re.findall(r'name="deeplab_miou" value="([0-9.]+)"', junit.read_text())[0])
    assert miou >= entry["min_miou"]
    assert abs(miou - entry["measured_miou"]) < 5e-4  # the figure the README and manifest quote
    result.stdout.fnmatch_lines([f"{BUNDLED} *{entry['measured_miou']:.4f} >= "
                                 f"{entry['min_miou']:.2f} ok*100.000 %*"])


def test_explain_reads_every_layer_of_the_bundled_keras_model(tmp_path: Path) -> None:
    """explain's view of a Keras model: every layer's output, the mask the suite computes."""
    from pytest_deeplab.data.images import demo_resize, load_rgb
    from pytest_deeplab.runtime.intermediates import open_intermediates

    golden = sorted((FIXTURES / "scenes" / "golden").glob("*.png"))[0]
    image = demo_resize(load_rgb(golden), 257)
    run = open_intermediates(FIXTURES / "models" / f"{BUNDLED}.keras", "keras", input_tensor=None,
                             output_tensor=None, threads=2, image=image)
    shapes = {r.name: r.shape for r in run.records}
    assert shapes["aspp_concat"] == [1, 17, 17, 5 * 64]  # five ASPP branches at stride 16
    assert shapes["decoder_concat"] == [1, 65, 65, 64 + 24]  # upsampled ASPP + low level
    assert run.records[-1].name == "logits_upsample" == run.describe()["logits"]
    (written,) = run.dump(["logits_upsample"], tmp_path)
    logits = np.load(tmp_path / written["file"])
    h, w = image.shape[:2]
    assert np.array_equal(logits[0, :h, :w].argmax(axis=-1), run.mask())
    run.close()
