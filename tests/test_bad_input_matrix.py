"""Bad input, tried systematically and as a user meets it: golden-image folders and datasets in a
throwaway project, run through the plugin; Hypothesis where inputs can be generated.

The messages asserted here are the ones docs/bad-input.md lists. Odd but valid images (grey,
alpha, palette, 16-bit, CMYK JPEG, EXIF-tagged, 1x1, 8000x6000) must just work; broken ones
must fail their own item with an `ImageError` naming the file and the fix, and write nothing.
"""

from __future__ import annotations

import io
import json
import shutil
import struct
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, SMALL, DeepLabPytester, SmallModel, minizoo_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from pytest_deeplab.data.images import ImageError, demo_resize, load_rgb
from pytest_deeplab.data.labels import load_label
from pytest_deeplab.data.labelsets import get_label_set

MODEL = "my-small"
SCENE = FIXTURES / "scenes" / "golden" / "golden_02_300x300.png"


def scene(size: tuple[int, int] | None = None) -> Image.Image:
    with Image.open(SCENE) as image:
        rgb = image.convert("RGB")
    return rgb.resize(size) if size else rgb


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size (for the decompression-bomb check) without the pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr)
            + png_chunk(b"IDAT", zlib.compress(b"\0" * 64)) + png_chunk(b"IEND", b""))


def exif_rotated(image: Image.Image, orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif)
    return out.getvalue()


def odd_images(folder: Path) -> dict[str, tuple[int, int]]:
    """Valid images in odd modes and sizes; returns image id -> expected mask (height, width)
    at input size 257."""
    folder.mkdir()
    base = scene()
    base.convert("L").save(folder / "grey.png")
    base.convert("LA").save(folder / "grey_alpha.png")
    rgba = base.convert("RGBA")
    rgba.putalpha(90)
    rgba.save(folder / "rgba.png")
    base.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    base.convert("1").save(folder / "bilevel.png")
    Image.fromarray(np.asarray(base.convert("L")).astype(np.uint16) * 257).save(
        folder / "grey16.png")
    base.convert("CMYK").save(folder / "cmyk.jpg")
    (folder / "exif_rotated.jpg").write_bytes(exif_rotated(base.crop((0, 0, 300, 200)), 6))
    Image.new("RGB", (1, 1), (200, 30, 30)).save(folder / "tiny_1x1.png")
    Image.new("RGB", (3, 2), (30, 200, 30)).save(folder / "tiny_3x2.png")
    Image.new("RGB", (1, 700), (30, 30, 200)).save(folder / "sliver_1x700.png")
    scene((8000, 6000)).save(folder / "huge_8000x6000.jpg", quality=70)
    square = (257, 257)
    return {
        "grey": square, "grey_alpha": square, "rgba": square, "palette": square,
        "bilevel": square, "grey16": square, "cmyk": square,
        "exif_rotated": (171, 257),  # stored 300 x 200 landscape; EXIF ignored, as stored
        "tiny_1x1": square, "tiny_3x2": (171, 257), "sliver_1x700": (257, 1),
        "huge_8000x6000": (192, 257),
    }


def broken_images(folder: Path) -> dict[str, str]:
    """Broken files; returns file name -> the start of the message its item fails with."""
    folder.mkdir()
    data = SCENE.read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 3])
    (folder / "empty.png").write_bytes(b"")
    (folder / "html.jpg").write_bytes(b"<html><body>404 Not Found</body></html>")
    corrupt = bytearray(data)
    corrupt[20] ^= 0xFF  # inside IHDR: its CRC no longer matches
    (folder / "bad_crc.png").write_bytes(bytes(corrupt))
    out = io.BytesIO()
    scene().save(out, "JPEG")
    (folder / "truncated_jpeg.jpg").write_bytes(out.getvalue()[: len(out.getvalue()) // 2])
    (folder / "bomb_30000x30000.png").write_bytes(png_header_only(30000, 30000))
    (folder / "folder.png").mkdir()
    unreadable = "image is not an image Pillow can read (cannot identify image file"
    return {
        "truncated.png": "image is corrupt or truncated (image file is truncated). Re-export or "
                         "re-download the file.",
        "empty.png": unreadable,
        "html.jpg": unreadable,
        "bad_crc.png": unreadable,
        "truncated_jpeg.jpg": "image is corrupt or truncated (image file is truncated",
        "bomb_30000x30000.png": "image is implausibly large (Image size (900000000 pixels) "
                                "exceeds limit of",
        "folder.png": "image does not exist or is not a file. Check the path.",
    }


def masks(project: DeepLabPytester, *args: str) -> pytest.RunResult:
    return project.run(f"--deeplab-models={MODEL}", "-m", "deeplab_mask",
                       f"--deeplab-golden-dir={project.path / 'golden'}", *args)


# -- golden images ------------------------------------------------------------------------------


def test_odd_but_valid_images_get_goldens_of_the_right_shape_and_then_pass(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    photos = deeplab.path / "photos"
    expected = odd_images(photos)
    deeplab.configure(models={MODEL: small_model.model(golden_images=photos)})
    masks(deeplab, "--deeplab-update-golden").assert_outcomes(passed=len(expected))
    for image_id, shape in expected.items():
        meta = json.loads((deeplab.path / "golden" / MODEL / f"{image_id}.json").read_text())
        assert tuple(meta["shape"]) == shape, image_id
    masks(deeplab).assert_outcomes(passed=len(expected))


def test_broken_images_fail_their_own_item_naming_the_file_and_write_nothing(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    photos = deeplab.path / "photos"
    expected = broken_images(photos)
    shutil.copy(SCENE, photos / "fine.png")
    deeplab.configure(models={MODEL: small_model.model(golden_images=photos)})
    result = masks(deeplab, "--deeplab-update-golden")
    result.assert_outcomes(passed=1, failed=len(expected))
    out = result.stdout.str()
    for name, message in expected.items():
        assert f"ImageError: {photos / name}: {message}" in out, name
    assert "Traceback" not in out
    written = sorted(p.name for p in (deeplab.path / "golden" / MODEL).iterdir())
    assert written == ["fine.json", "fine.png"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (("scene.jpg", "scene.png"),
         "{photos}/scene.png: two images share the stem 'scene' (scene.jpg and scene.png), so "
         "they would share one golden mask and one test id. Rename or remove one of them."),
        (("my photo.png",),
         "{photos}/my photo.png: the name 'my photo' cannot name a golden mask or a test id. "
         "Rename the image using letters, digits, '.', '_', '+', '-' (no spaces)."),
        ((), "image directory {photos} does not exist"),
    ],
    ids=["same-stem", "space-in-name", "missing-folder"],
)
def test_golden_image_folders_that_cannot_work_are_usage_errors(
    deeplab: DeepLabPytester, small_model: SmallModel, files: tuple[str, ...], message: str
) -> None:
    photos = deeplab.path / "photos"
    if files:
        photos.mkdir()
    for name in files:
        scene((40, 30)).save(photos / name)
    deeplab.configure(models={MODEL: small_model.model(golden_images=photos)})
    result = masks(deeplab, "--deeplab-update-golden")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (f"ERROR: model {MODEL} (its golden_images, or its dataset's images): "
            + message.format(photos=photos)) in result.stderr.str()
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert not (deeplab.path / "golden").exists()


# -- label maps ---------------------------------------------------------------------------------


def off_colour(label: Path) -> np.ndarray:
    """The label map in its palette's colours, one pixel painted a colour no class has."""
    with Image.open(label) as image:
        rgb = np.array(image.convert("RGB"))
    rgb[0, 0] = (1, 2, 3)
    return rgb


def bad_labels(root: Path, image: Path, label: Path) -> dict[str, str]:
    """One dataset per broken label map; returns dataset -> message after the label's path."""
    truth = np.asarray(Image.open(label))
    writers: dict[str, Any] = {
        "values": lambda p: Image.fromarray(
            np.where(truth == 3, 7, np.where(truth == 4, 42, truth)).astype(np.uint8)).save(p),
        "rgb": lambda p: Image.fromarray(off_colour(label)).save(p),
        "sixteen": lambda p: Image.fromarray(truth.astype(np.uint16)).save(p),
        "alpha": lambda p: Image.open(label).convert("LA").save(p),
        "truncated": lambda p: p.write_bytes(label.read_bytes()[:200]),
        "taller": lambda p: Image.fromarray(np.pad(truth, ((0, 1), (0, 0)))).save(p),
    }
    h, w = truth.shape
    for name, write in writers.items():
        (root / name / "images").mkdir(parents=True)
        (root / name / "labels").mkdir()
        shutil.copy(image, root / name / "images" / image.name)
        write(root / name / "labels" / label.name)
    fix = ("Save label maps as palette ('P') PNGs, as PASCAL VOC's SegmentationClass does, as "
           "single-channel grey ('L') PNGs whose pixel values are the class indices, or as RGB "
           "PNGs in the label set's colours.")
    return {
        "values": "label values 7, 42 are not classes of label set 'minizoo' (6 classes 0..5, "
                  "ignore label 255). Check the dataset's label_set",
        "rgb": "label map colours (1, 2, 3) in 1 pixel are not colours of label set 'minizoo'. "
               "An RGB label map is read through the label set's colour map, exact colours only: "
               "check the dataset's label_set, and save label maps losslessly (PNG, no JPEG, no "
               "anti-aliasing) or as palette ('P') / grey ('L') PNGs of class indices.",
        "sixteen": f"label map has mode 'I;16' (not a palette or grey image); class indices "
                   f"cannot be read from it reliably. {fix}",
        "alpha": "label map has mode 'LA' (grey with alpha)",
        "truncated": "label map is corrupt or truncated (",
        "taller": f"label map is {h + 1} x {w} (height x width) but its image is {h} x {w}. "
                  "Label maps must have exactly the size of their image",
    }


def test_broken_label_maps_fail_the_miou_item_naming_the_file(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    image = sorted(small_model.images.glob("*.png"))[0]
    label = small_model.labels / f"{image.stem}{small_model.label_suffix}.png"
    root = deeplab.path / "data"
    expected = bad_labels(root, image, label)
    deeplab.configure(
        models={f"m-{name}": small_model.model(dataset=name, min_miou=0.1, golden_images=None)
                for name in expected},
        datasets={name: small_model.dataset(images=root / name / "images",
                                            labels=root / name / "labels", label_suffix="")
                  for name in expected},
    )
    names = ",".join(f"m-{name}" for name in expected)
    result = deeplab.run(f"--deeplab-models={names}", "-m", "deeplab_miou")
    result.assert_outcomes(failed=len(expected))
    out = result.stdout.str()
    for name, message in expected.items():
        assert f"ImageError: {root / name / 'labels' / label.name}: {message}" in out, name


# -- configuration ------------------------------------------------------------------------------

GRAPH = "GRAPH"  # replaced by the small model's path


CONFIGS: dict[str, tuple[str, str]] = {
    "toml-syntax": ('[models.m]\npath = "GRAPH\n', "not valid TOML: Illegal character '\\n' "
                    "(at line 2, column"),
    "not-utf8": ('[models.m]\npath = "GRAPH"\nlabel_set = "\udce9"\n',
                 "not UTF-8 text ('utf-8' codec can't decode byte 0xe9"),
    "table-not-a-table": ('[tool]\npytest-deeplab = 5\n',
                          "[tool.pytest-deeplab] must be a table"),
    "models-a-list": ('models = ["m"]\n', "[models] must hold one table per name, e.g. "
                      "[tool.pytest-deeplab.models.NAME]"),
    "unknown-label-set": ('[models.m]\npath = "GRAPH"\nlabel_set = "pascal_voc"\n',
                          "[models.m]: unknown label set 'pascal_voc': use pascal, cityscapes, "
                          "ade20k, minizoo, or a number of classes from 1 to 255"),
    "label-set-300": ('[models.m]\npath = "GRAPH"\nlabel_set = 300\n',
                      "[models.m]: unknown label set 300"),
    "input-size-string": ('[models.m]\npath = "GRAPH"\ninput_size = "513"\n',
                          "[models.m]: input_size must be a whole number of pixels (e.g. 513)"),
    "min-miou-string": ('[models.m]\npath = "GRAPH"\nmin_miou = "0.7"\n',
                        "[models.m]: min_miou must be a number between 0 and 1, got '0.7'"),
    "min-miou-percent": ('[models.m]\npath = "GRAPH"\nmin_miou = 70\n',
                         "[models.m]: min_miou must be a number between 0 and 1, got 70"),
    "path-a-list": ('[models.m]\npath = ["GRAPH"]\n',
                    "[models.m]: path must be a string (in quotes), got list"),
    "format-unknown": ('[models.m]\npath = "GRAPH"\nformat = "onnx"\n',
                       "[models.m]: format must be one of frozen_graph, tflite, saved_model"),
    "per-class-not-a-table": ('[models.m]\npath = "GRAPH"\nmin_iou_per_class = 0.5\n',
                              "[models.m]: min_iou_per_class must be a table"),
    "dataset-without-images": ('[datasets.d]\nlabels = "x"\n',
                               "[datasets.d]: 'images' (a directory of *.jpg / *.png) is "
                               "required"),
    "labels-a-bool": ('[datasets.d]\nimages = "x"\nlabels = false\n',
                      "[datasets.d]: labels must be a string (in quotes), got bool False"),
    "label-set-mismatch": ('[datasets.d]\nimages = "x"\nlabel_set = "minizoo"\n\n'
                           '[models.m]\npath = "GRAPH"\ndataset = "d"\nlabel_set = "pascal"\n',
                           "[models.m]: model 'm' has label_set 'pascal' but its dataset 'd' has "
                           "label_set 'minizoo', so its masks would be scored against another "
                           "label set's classes. Make them agree: set the model's label_set to "
                           "'minizoo' (or leave it out to take the dataset's), or point its "
                           "`dataset` at a 'pascal' dataset."),
}


@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_malformed_configuration_is_a_usage_error_naming_the_file(
    deeplab: DeepLabPytester, small_model: SmallModel, case: str
) -> None:
    text, message = CONFIGS[case]
    config = deeplab.path / "deeplab.toml"
    text = text.replace(GRAPH, str(small_model.graph))
    config.write_bytes(text.encode("utf-8", "surrogateescape"))
    result = deeplab.run(f"--deeplab-config={config}", "--deeplab-models=all", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"ERROR: {config}: {message}" in err, err
    assert "Traceback" not in err and "INTERNALERROR" not in err + result.stdout.str()


# -- Hypothesis ---------------------------------------------------------------------------------

MODES = ("RGB", "L", "LA", "RGBA", "P", "1", "I;16", "CMYK", "RGB-exif")


@pytest.fixture(scope="module")
def predictor(
    tmp_path_factory: pytest.TempPathFactory, tensorflow_preloaded: None
) -> Iterator[Any]:
    from pytest_deeplab.runtime import load_predictor

    entry = next(m for m in minizoo_manifest()["models"] if m["name"] == SMALL)
    with tarfile.open(FIXTURES / entry["archive"]) as archive:
        data = archive.extractfile(archive.getmember(entry["member"]))
        assert data is not None
        graph = tmp_path_factory.mktemp("hypothesis-graph") / "graph.pb"
        graph.write_bytes(data.read())
    loaded = load_predictor(SMALL, graph, "frozen_graph", input_tensor="ImageTensor:0",
                            output_tensor="SemanticPredictions:0", threads=2)
    yield loaded
    getattr(loaded, "close", lambda: None)()


def encode(mode: str, width: int, height: int, seed: int, orientation: int) -> tuple[bytes, str]:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    image = Image.fromarray(pixels)
    out = io.BytesIO()
    if mode == "RGB-exif":
        return exif_rotated(image, orientation), ".jpg"
    if mode == "CMYK":
        image.convert("CMYK").save(out, "JPEG")
        return out.getvalue(), ".jpg"
    if mode == "I;16":
        grey = np.asarray(image.convert("L")).astype(np.uint16) * 257
        Image.fromarray(grey).save(out, "PNG")
        return out.getvalue(), ".png"
    image.convert(mode).save(out, "PNG")
    return out.getvalue(), ".png"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(MODES),
    width=st.integers(1, 900),
    height=st.integers(1, 900),
    seed=st.integers(0, 2**16),
    orientation=st.integers(1, 8),
    cut=st.one_of(st.none(), st.floats(0.0, 0.99)),
)
def test_any_size_and_mode_gives_a_mask_or_an_image_error(
    predictor: Any, mode: str, width: int, height: int, seed: int, orientation: int,
    cut: float | None,
) -> None:
    """Whole files give a mask of the resized image's size; cut files an ImageError; never any
    other exception."""
    data, suffix = encode(mode, width, height, seed, orientation)
    if cut is not None:
        data = data[: int(len(data) * cut)]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"image{suffix}"
        path.write_bytes(data)
        try:
            rgb = load_rgb(path)
        except ImageError as exc:
            assert cut is not None, f"a whole {mode} image was refused: {exc}"
            assert str(path) in str(exc)
            return
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert rgb.shape[:2] == (height, width)  # stored pixels: an EXIF orientation is ignored
    resized = demo_resize(rgb, 257)
    assert max(resized.shape[:2]) == 257 and min(resized.shape[:2]) >= 1
    mask = predictor.predict(resized)
    assert mask.shape == resized.shape[:2]
    assert int(mask.min()) >= 0 and int(mask.max()) < 6


MINIZOO = get_label_set("minizoo")


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.integers(0, 255), min_size=1, max_size=400),
    width=st.integers(1, 40),
)
def test_label_values_outside_the_label_set_are_named(values: list[int], width: int) -> None:
    truth = np.resize(np.array(values, dtype=np.uint8), (max(1, len(values) // width), width))
    bad = sorted({int(v) for v in np.unique(truth)} - {*range(6), 255})
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "label.png"
        Image.fromarray(truth).save(path)
        if not bad:
            assert np.array_equal(load_label(path, MINIZOO), truth)
            return
        with pytest.raises(ImageError) as caught:
            load_label(path, MINIZOO)
    shown = ", ".join(str(v) for v in bad[:10])
    more = f" and {len(bad) - 10} more" if len(bad) > 10 else ""
    assert f"label values {shown}{more} are not classes of label set 'minizoo'" in str(
        caught.value)
    assert str(path) in str(caught.value)

