"""TF Lite models driven by the model file: what to feed, what to read, how an image fits.

Every model here is a real conversion by TensorFlow's converter (tests/tflite_builders.py) and
every expected mask comes from a plain tf.lite script (`reference_mask`), never from the plugin.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from tflite_builders import CLASSES, SIZE, build_all, plain_interpreter, reference_mask, scene

from pytest_deeplab.runtime import ModelLoadError, load_predictor
from pytest_deeplab.runtime.tflite_io import TensorSpec, input_table

tf = pytest.importorskip("tensorflow")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return build_all(tf, tmp_path_factory.mktemp("tflite"))


def load(path: Path, **settings: Any) -> Any:
    settings.setdefault("input_tensor", None)  # unset, as the catalogue leaves it
    settings.setdefault("output_tensor", None)
    settings.setdefault("label_set", str(CLASSES))
    settings.setdefault("num_classes", CLASSES)
    return load_predictor(path.stem, path, "tflite", **settings)


# -- what goes in, what comes out ---------------------------------------------------------------

@pytest.mark.parametrize("kind", ["float", "uint8_argmax64", "float_argmax32", "int8_logits"])
def test_predict_matches_a_plain_tflite_script_pixel_for_pixel(tiny: dict[str, Path],
                                                               kind: str) -> None:
    """Float or quantized input, logits or ArgMax output: the same mask a user's own
    pad-normalize-quantize-invoke-argmax script gets, at the image's size."""
    predictor = load(tiny[kind])
    for image in (scene(SIZE, 40, seed=1), scene(23, SIZE, seed=2), scene(SIZE, SIZE, seed=3)):
        mask = predictor.predict(image)
        assert mask.shape == image.shape[:2] and mask.dtype == np.uint8
        np.testing.assert_array_equal(mask, reference_mask(tf, tiny[kind], image))


def test_a_uint8_model_is_fed_exactly_as_tf_lite_quantizes_a_float_input(
    tiny: dict[str, Path],
) -> None:
    """The oracle is TF Lite itself: the same network converted with a float input quantizes
    it with its own QUANTIZE op. The uint8 model fed by predict gives the same masks."""
    uint8, float_in = plain_interpreter(tf, tiny["uint8_argmax64"]), plain_interpreter(
        tf, tiny["int8_float_input"])
    assert uint8.get_input_details()[0]["dtype"] == np.uint8
    assert float_in.get_input_details()[0]["dtype"] == np.float32
    predictor = load(tiny["uint8_argmax64"])
    ramp = np.broadcast_to(np.arange(256, dtype=np.uint8).reshape(16, 16, 1), (16, 16, 3))
    image = np.zeros((SIZE, SIZE, 3), dtype=np.uint8)
    image[:16, :16] = ramp  # every byte value, where the rounding convention shows
    image[20:] = scene(SIZE - 20, SIZE, seed=11)
    for picture in (image, scene(SIZE, 48, seed=12)):
        np.testing.assert_array_equal(predictor.predict(picture),
                                      reference_mask(tf, tiny["int8_float_input"], picture))
    # and code for code: every byte's input value against the output of TF Lite's QUANTIZE op
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lite = tf.lite.Interpreter(model_path=str(tiny["int8_float_input"]),
                                   experimental_preserve_all_tensors=True)
    lite.allocate_tensors()
    (quantize,) = [op for op in lite._get_ops_details() if op["op_name"] == "QUANTIZE"]
    inp = lite.get_input_details()[0]
    batch = np.zeros(inp["shape"], dtype=np.float32)
    batch.reshape(-1)[:768] = np.repeat(np.arange(256, dtype=np.float32) / np.float32(127.5)
                                        - np.float32(1), 3)
    lite.set_tensor(inp["index"], batch)
    lite.invoke()
    codes = lite.get_tensor(quantize["outputs"][0]).reshape(-1)[:768:3].astype(int)
    table, _ = input_table(TensorSpec.from_details(uint8.get_input_details()[0]))
    shift = uint8.get_input_details()[0]["quantization"][1] - int(
        lite.get_tensor_details()[quantize["outputs"][0]]["quantization"][1])
    np.testing.assert_array_equal(table.astype(int), codes + shift)


def test_the_input_size_comes_from_the_file(tiny: dict[str, Path]) -> None:
    assert load(tiny["float"]).input_size == SIZE
    assert load(tiny["uint8_argmax64"]).input_size == SIZE


def test_quantized_input_is_the_normalized_value_quantized_with_its_own_parameters() -> None:
    """Coral's builds (uint8, scale 1/128, zero point 128): within one step of the raw bytes,
    as quantization-aware training saw them; float inputs: RGB / 127.5 - 1; padding: the mean."""
    coral = TensorSpec("input", 0, (1, 513, 513, 3), (1, 513, 513, 3), np.dtype(np.uint8),
                       1 / 128, 128)
    table, pad = input_table(coral)
    raw = np.arange(256)
    assert pad == 128
    assert np.abs(table.astype(int) - raw).max() == 1
    assert table[0] == 0 and table[255] == 255 and table[127] == 127
    assert table[200] == 201  # (200 / 127.5 - 1) * 128 + 128 = 200.78
    float_input = TensorSpec("input", 0, (1, 257, 257, 3), (1, 257, 257, 3),
                             np.dtype(np.float32), 0.0, 0)
    table, pad = input_table(float_input)
    assert pad == 0.0 and table[0] == -1.0 and table[255] == 1.0
    assert table.dtype == np.float32


@pytest.mark.parametrize("kind", ["fp16", "dynamic_range"])
def test_fp16_and_dynamic_range_models_load_and_run(tiny: dict[str, Path], kind: str) -> None:
    weights = {"fp16": "float16", "dynamic_range": "int8"}[kind]
    details = plain_interpreter(tf, tiny[kind]).get_tensor_details()
    assert weights in {np.dtype(d["dtype"]).name for d in details}, "not the conversion meant"
    predictor = load(tiny[kind])
    image = scene(SIZE, 50, seed=4)
    assert "float32" in predictor.describe()["input"]
    np.testing.assert_array_equal(predictor.predict(image), reference_mask(tf, tiny[kind], image))


# -- resize conventions -------------------------------------------------------------------------

def test_pad_crops_the_mask_back_and_stretch_resizes_it_back(tiny: dict[str, Path]) -> None:
    image = scene(30, SIZE, seed=5)  # not square: the conventions differ
    padded = load(tiny["float"]).predict(image)
    stretched = load(tiny["float"], resize="stretch").predict(image)
    assert padded.shape == stretched.shape == (30, SIZE)
    np.testing.assert_array_equal(padded, reference_mask(tf, tiny["float"], image))
    # stretch, as the TF Lite Task Library does it: bilinear to the input size, mask back
    full = np.asarray(Image.fromarray(image).resize((SIZE, SIZE), Image.Resampling.BILINEAR))
    expected = np.asarray(Image.fromarray(reference_mask(tf, tiny["float"], full))
                          .resize((SIZE, 30), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(stretched, expected)


def test_an_image_of_another_size_is_fitted_then_its_mask_returned_at_its_size(
    tiny: dict[str, Path],
) -> None:
    """input_size overridden (images demo-resized to 130, the file says 65): long side to 65
    (bilinear), pad, run, crop, and the mask comes back at 130 x 80 (nearest)."""
    image = scene(130, 80, seed=6)
    mask = load(tiny["float"]).predict(image)
    assert mask.shape == (130, 80)
    fitted = np.asarray(Image.fromarray(image).resize((40, SIZE), Image.Resampling.BILINEAR))
    expected = np.asarray(Image.fromarray(reference_mask(tf, tiny["float"], fitted))
                          .resize((80, 130), Image.Resampling.NEAREST))
    np.testing.assert_array_equal(mask, expected)


def test_padding_is_restored_when_a_smaller_image_follows_a_larger_one(
    tiny: dict[str, Path],
) -> None:
    predictor = load(tiny["float"])
    wide, narrow = scene(SIZE, 60, seed=7), scene(SIZE, 20, seed=8)
    predictor.predict(wide)
    np.testing.assert_array_equal(predictor.predict(narrow),
                                  reference_mask(tf, tiny["float"], narrow))


# -- choosing tensors ---------------------------------------------------------------------------

def test_two_plausible_outputs_without_a_choice_are_an_error_listing_them(
    tiny: dict[str, Path],
) -> None:
    with pytest.raises(ModelLoadError) as error:
        load(tiny["two_outputs"])
    assert str(error.value) == (
        f"{tiny['two_outputs']}: the TF Lite model has 2 outputs that could be the mask: "
        "Identity [1, 65, 65] int64; Identity_1 [1, 65, 65, 6] float32. Say which one with "
        "output_tensor in [tool.pytest-deeplab.models.tiny_two_outputs]."
    )


@pytest.mark.parametrize("output", ["Identity", "Identity_1", "Identity_1:0"])
def test_output_tensor_is_honoured(tiny: dict[str, Path], output: str) -> None:
    predictor = load(tiny["two_outputs"], output_tensor=output)
    image = scene(SIZE, 33, seed=9)
    expected = reference_mask(tf, tiny["two_outputs"], image, output=output.removesuffix(":0"))
    np.testing.assert_array_equal(predictor.predict(image), expected)
    assert predictor.describe()["output"].startswith(output.removesuffix(":0") + " ")


def test_an_unknown_tensor_name_lists_the_real_ones(tiny: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError) as error:
        load(tiny["float"], output_tensor="ResizeBilinear_3")
    assert str(error.value) == (
        f"{tiny['float']}: output_tensor 'ResizeBilinear_3' is not an output of this TF Lite "
        "model; its outputs: Identity [1, 65, 65, 6] float32. Set output_tensor in "
        "[tool.pytest-deeplab.models.tiny_float] to one of them."
    )
    with pytest.raises(ModelLoadError, match=r"input_tensor 'sub_7' is not an input .* its "
                                             r"inputs: image \[1, 65, 65, 3\] float32"):
        load(tiny["float"], input_tensor="sub_7")


def test_a_class_count_unlike_the_label_sets_is_an_error_naming_both(
    tiny: dict[str, Path],
) -> None:
    with pytest.raises(ModelLoadError) as error:
        load(tiny["float"], label_set="pascal", num_classes=21)
    assert str(error.value) == (
        f"{tiny['float']}: the model scores 6 classes (output Identity has 6 logits channels) "
        "but its label set 'pascal' has 21. Set label_set in "
        "[tool.pytest-deeplab.models.tiny_float] to the set the model was trained on (a number "
        "of classes such as 6 works too), or choose the right output_tensor."
    )
    # class ids cannot say how many classes the model knows: no check, no error
    load(tiny["uint8_argmax64"], label_set="pascal", num_classes=21)


# -- XNNPACK ------------------------------------------------------------------------------------

def test_xnnpack_can_be_switched_off_and_the_record_says_so(tiny: dict[str, Path]) -> None:
    on, off = load(tiny["float"], threads=1), load(tiny["float"], threads=1, xnnpack=False)
    assert on.runtime_record()["xnnpack"] is True and on.runtime_record()["delegated_partitions"]
    assert off.runtime_record()["xnnpack"] is False
    assert off.runtime_record()["delegated_partitions"] == 0
    assert off.runtime_record()["threads"] == 1
    interpreter = off.runtime_record()["interpreter"]
    assert interpreter == f"tf.lite (TensorFlow {tf.__version__})" or interpreter.startswith(
        "ai_edge_litert ")
    image = scene(SIZE, 44, seed=10)
    np.testing.assert_array_equal(
        off.predict(image), reference_mask(tf, tiny["float"], image, xnnpack=False))


# -- damaged and foreign files ------------------------------------------------------------------

def test_an_edge_tpu_build_says_so_and_points_to_the_cpu_build(tiny: dict[str, Path]) -> None:
    with pytest.raises(ModelLoadError) as error:
        load(tiny["edgetpu"])
    assert str(error.value) == (
        f"{tiny['edgetpu']}: this is an Edge TPU build (it contains the custom op "
        "'edgetpu-custom-op'), which runs only on a Coral Edge TPU. Test the CPU build of the "
        "same model instead: Coral publishes it beside the Edge TPU file, named without "
        "'_edgetpu' (e.g. deeplabv3_mnv2_pascal_quant.tflite for "
        "deeplabv3_mnv2_pascal_quant_edgetpu.tflite)."
    )


@pytest.mark.parametrize("fraction", [0.05, 0.5, 0.9, 0.99])
def test_a_truncated_file_is_an_error_not_a_crash(tiny: dict[str, Path], tmp_path: Path,
                                                 fraction: float) -> None:
    """A forked child loads it: before the fix this killed the process (SIGSEGV). Interpreters
    that verify the flatbuffer (TF 2.21, LiteRT) say so; older ones (TF 2.15) crash, in a child
    process of the plugin's, and the plugin says that."""
    data = tiny["float"].read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: int(len(data) * fraction)])
    message = load_in_child(cut)
    verified = tuple(
        f"ModelLoadError: {cut}: the TF Lite file is truncated or corrupt "
        f"({cut.stat().st_size} bytes; {why}: " for why in (
            "the interpreter says",  # the flatbuffer verifier
            "its operators cannot be read",  # the op allowlist check, which reads them first
        ))
    probed = f"ModelLoadError: {cut}: the TF Lite interpreter (tf.lite (TensorFlow "
    assert message.startswith((*verified, probed)), message
    if message.startswith(verified):
        assert message.endswith("). Delete it and fetch or copy it again.")
    else:
        assert "crashed on this file (SIGSEGV)" in message


def load_in_child(path: Path) -> str:
    """Load in a forked process and report how it ended: the error, 'loaded', or the signal."""
    return in_child(lambda: load(path))


def in_child(work: Any) -> str:
    """Run `work()` in a forked process: 'loaded', the error it raised, or the signal it died of."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read)
        try:
            work()
            text = "loaded"
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"
        os.write(write, text.encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode()
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return text


@pytest.mark.parametrize(("content", "what"), [
    (b"", "the file is empty (0 bytes)"),
    (b"<!DOCTYPE html><html><body>404</body></html>",
     "it starts like an HTML or XML page (44 bytes), e.g. a failed download"),
    ("frozen graph", "bytes 4-8 are {head!r} ({size} bytes)"),
])
def test_a_file_that_is_no_flatbuffer_says_what_it_looks_like(
    tmp_path: Path, small_model: Any, content: bytes | str, what: str
) -> None:
    path = tmp_path / "model.tflite"
    if content == "frozen graph":  # the bundled frozen graph, declared as TF Lite by mistake
        content = small_model.graph.read_bytes()
        what = what.format(head=content[4:8], size=len(content))
    path.write_bytes(bytes(content))
    with pytest.raises(ModelLoadError) as error:
        load(path)
    assert str(error.value) == (
        f"{path}: not a TF Lite model: {what}; a .tflite file carries the identifier 'TFL3' in "
        "bytes 4-8. If this is a frozen graph, set format = \"frozen_graph\" in "
        "[tool.pytest-deeplab.models.model]; if it was downloaded, delete it and fetch it again "
        "(`pytest-deeplab fetch model`)."
    )


def test_a_corrupted_tensor_shape_is_refused_before_allocation(tiny: dict[str, Path],
                                                               tmp_path: Path) -> None:
    """A flipped byte in a shape asks for terabytes: refused, not handed to the allocator
    (where the kernel's OOM killer ends the process)."""
    from tensorflow.lite.python import schema_py_generated as schema

    data = bytearray(tiny["float"].read_bytes())
    model = schema.Model.GetRootAs(data, 0)
    tensor = model.Subgraphs(0).Tensors(0)
    shape_at = tensor._tab.Vector(tensor._tab.Offset(4))  # Tensor.shape: the first field
    data[shape_at + 4 * 1 + 3] = 0x7F  # height 65 -> 65 + 0x7F000000
    path = tmp_path / "huge.tflite"
    path.write_bytes(bytes(data))
    message = load_in_child(path)
    assert message.startswith(f"ModelLoadError: {path}: tensor "), message
    assert "more than this machine's memory" in message and "the file is corrupt" in message


# -- a frozen graph and its TF Lite conversion ---------------------------------------------------

def test_a_frozen_graph_and_its_float_conversion_give_the_same_masks(
    tmp_path: Path,
) -> None:
    """The bundled float conversion (the network between the graph's padded, normalized input and
    its logits) under `pad`: the graph pads inside itself, the TF Lite path pads outside, and the
    masks on the golden scenes are equal pixel for pixel, at the same size."""
    import json
    import tarfile

    from pytest_deeplab.catalogue.bundled import fixtures_dir
    from pytest_deeplab.data.images import demo_resize, load_rgb

    root = fixtures_dir()
    manifest = json.loads((root / "minizoo.json").read_text())
    floats = [m for m in manifest["models"] if m.get("format") == "tflite"
              and m.get("kind") == "float" and m.get("converted_from")]
    if not floats:
        pytest.skip("the bundled mini-zoo has no float TF Lite conversion")
    entry = floats[0]
    graph_entry = next(m for m in manifest["models"]
                       if m["name"] == entry["converted_from"]["model"])
    with tarfile.open(root / graph_entry["archive"]) as archive:
        archive.extractall(tmp_path, filter="data")
    graph = load_predictor("graph", tmp_path / graph_entry["member"], "frozen_graph",
                           input_tensor="ImageTensor:0", output_tensor="SemanticPredictions:0")
    lite = load(root / entry["file"], label_set=entry["label_set"], num_classes=None)
    assert lite.input_size == graph_entry["input_size"]
    for path in sorted((root / manifest["golden_images"]).glob("*.png")):
        image = demo_resize(load_rgb(path), lite.input_size)
        np.testing.assert_array_equal(lite.predict(image), graph.predict(image), err_msg=path.name)


# -- explain reads TF Lite files as the suite does -------------------------------------------------

def test_explain_refuses_a_truncated_file_as_the_suite_does(tiny: dict[str, Path],
                                                           tmp_path: Path) -> None:
    """`explain` loads through the same verified path: an error naming the file, not a crash."""
    from pytest_deeplab.runtime.intermediates import open_intermediates

    data = tiny["float"].read_bytes()
    cut = tmp_path / "cut.tflite"
    cut.write_bytes(data[: len(data) // 2])
    image = np.zeros((65, 65, 3), np.uint8)
    message = in_child(lambda: open_intermediates(cut, "tflite", input_tensor="", output_tensor="",
                                                  threads=1, image=image))
    assert not message.startswith("killed by signal"), message
    assert message.startswith(f"ModelLoadError: {cut}: the TF Lite "), message


def test_explain_reads_every_intermediate_of_a_tflite_model(tiny: dict[str, Path],
                                                           tmp_path: Path) -> None:
    from pytest_deeplab.runtime.intermediates import open_intermediates

    image = scene(SIZE, SIZE)
    run = open_intermediates(tiny["float"], "tflite", input_tensor=None, output_tensor=None,
                             threads=1, image=image)
    assert len(run.records) >= 3  # the input, the hidden layer, the output
    written = run.dump([r.name for r in run.records], tmp_path)
    for record, entry in zip(run.records, written):
        value = np.load(tmp_path / entry["file"])
        assert list(value.shape) == record.shape, record.name
    import tensorflow as tf

    expected = reference_mask(tf, tiny["float"], image)  # a plain tf.lite script's mask
    np.testing.assert_array_equal(run.mask(), expected)
    logits = np.load(tmp_path / written[-1]["file"])[0]
    np.testing.assert_array_equal(logits.argmax(axis=-1), expected)  # the last tensor made it


@pytest.mark.parametrize("kind", ["float", "uint8_argmax64", "float_argmax32", "int8_logits",
                                  "float_argmax_hw1"])
def test_explains_mask_is_the_suites_mask_for_every_output_kind(
    tiny: dict[str, Path], kind: str
) -> None:
    """explain's TF Lite runs use the suite's predictor, so the two masks are one: class ids of
    shape [1, H, W, 1] included (explain used to take them for logits and see zeros)."""
    from pytest_deeplab.runtime import load_predictor
    from pytest_deeplab.runtime.intermediates import open_intermediates

    image = scene(SIZE - 20, SIZE)  # not square: the pad and the crop back both matter
    suite = load_predictor(kind, tiny[kind], "tflite", threads=1).predict(image)
    explained = open_intermediates(tiny[kind], "tflite", input_tensor=None, output_tensor=None,
                                   threads=1, image=image).mask()
    np.testing.assert_array_equal(explained, suite)
    assert len(np.unique(suite)) >= 3  # a real mask, not a blank that would match anything
