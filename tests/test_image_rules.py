"""How images reach a model: Cityscapes frames unchanged, EXIF orientation ignored for every item
(as the DeepLab demo and eval.py do), and any format Pillow reads, not only JPEG and PNG."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DeepLabPytester, SmallModel
from PIL import Image, features

from pytest_deeplab.data.images import demo_resize
from pytest_deeplab.data.labels import find_pairs

MODEL = "my-small"


def test_a_cityscapes_frame_reaches_the_graph_unchanged() -> None:
    frame = np.random.default_rng(2048).integers(0, 256, (1024, 2048, 3), dtype=np.uint8)
    out = demo_resize(frame, 2048)
    assert out.dtype == np.uint8 and out.shape == frame.shape
    assert out.tobytes() == frame.tobytes()  # bit-identical
    assert out is not frame  # a copy: the session's image cache cannot be altered through it
    # the previous setting, 2049, resampled every frame
    assert demo_resize(frame, 2049).shape == (1024, 2049, 3)


def exif_photo(path: Path, orientation: int = 6) -> None:
    """A 300 x 200 JPEG stored landscape, tagged "rotate 90 CW to display" (a phone portrait)."""
    ys, xs = np.mgrid[0:200, 0:300]
    rgb = np.stack([ys, xs % 256, (xs + ys) % 256], axis=2).astype(np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(path, exif=exif, quality=95)


def test_goldens_of_an_exif_tagged_jpeg_are_of_the_stored_pixels_and_say_so(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    photos = deeplab.path / "photos"
    photos.mkdir()
    exif_photo(photos / "portrait.jpg")
    deeplab.configure(models={MODEL: small_model.model(golden_images=photos)})
    golden = deeplab.path / "golden"
    args = (f"--deeplab-models={MODEL}", "-m", "deeplab_mask", f"--deeplab-golden-dir={golden}")
    deeplab.run(*args, "--deeplab-update-golden").assert_outcomes(passed=1)
    meta = json.loads((golden / MODEL / "portrait.json").read_text())
    assert meta["shape"] == [171, 257]  # 300 x 200 as stored, long side to 257; not [257, 171]
    assert meta["preprocessing"]["exif"] == "ignored"
    deeplab.run(*args).assert_outcomes(passed=1)


def formats() -> list[str]:
    found = [".bmp", ".tif", ".gif", ".ppm"]
    return [*found, ".webp"] if features.check("webp") else found


def test_golden_images_in_any_format_pillow_reads_get_goldens(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    photos = deeplab.path / "photos"
    photos.mkdir()
    with Image.open(sorted(small_model.golden_images.glob("*.png"))[0]) as scene:
        rgb = scene.convert("RGB")
    for suffix in formats():
        rgb.save(photos / f"scene_{suffix[1:]}{suffix}")
    (photos / "notes.txt").write_text("not an image")
    deeplab.configure(models={MODEL: small_model.model(golden_images=photos)})
    golden = deeplab.path / "golden"
    result = deeplab.run(f"--deeplab-models={MODEL}", "-m", "deeplab_mask",
                         f"--deeplab-golden-dir={golden}", "--deeplab-update-golden")
    result.assert_outcomes(passed=len(formats()))
    written = sorted(p.stem for p in (golden / MODEL).glob("*.png"))
    assert written == sorted(f"scene_{s[1:]}" for s in formats())


def test_dataset_images_may_be_bmp_webp_or_tiff(tmp_path: Path) -> None:
    for name in ("a.bmp", "b.TIFF", "c.webp", "d.txt", "e.eps"):
        (tmp_path / "img").mkdir(exist_ok=True)
        (tmp_path / "img" / name).write_bytes(b"")
    (tmp_path / "lbl").mkdir()
    for stem in "abcde":
        (tmp_path / "lbl" / f"{stem}.png").write_bytes(b"")
    pairs = find_pairs(tmp_path / "img", tmp_path / "lbl")
    assert [image.name for image, _ in pairs] == ["a.bmp", "b.TIFF", "c.webp"]


def test_importing_the_plugin_imports_neither_pillow_nor_numpy() -> None:
    code = ("import sys, pytest_deeplab.plugin, pytest_deeplab.data.formats; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'PIL', 'numpy'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_every_exif_orientation_is_read_as_stored(tmp_path: Path, orientation: int) -> None:
    """180 degrees, 90 CW, 90 CCW: all read as stored, for mask and mIOU items alike."""
    from pytest_deeplab.data.images import load_rgb

    exif_photo(tmp_path / "p.jpg", orientation)
    with Image.open(tmp_path / "p.jpg") as stored:
        as_stored = np.asarray(stored.convert("RGB"))
    np.testing.assert_array_equal(load_rgb(tmp_path / "p.jpg"), as_stored)
