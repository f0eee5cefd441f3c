"""Reading photographs and label maps the way DeepLab does, and refusing bad files clearly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pytest_deeplab.data.images import ImageError, demo_resize, load_rgb
from pytest_deeplab.data.labels import find_pairs, load_label
from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.data.masks import colorize, read_mask_png, resize_mask, save_mask_png

PASCAL = get_label_set("pascal")


def gradient(height: int = 6, width: int = 8) -> np.ndarray:
    """A small RGB image whose pixels are all different, so any flip or rotation shows."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([ys * 40, xs * 30, ys * 10 + xs], axis=2).astype(np.uint8)


# --------------------------------------------------------------------------- load_rgb


def test_rgb_png_round_trips(tmp_path: Path) -> None:
    rgb = gradient()
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = load_rgb(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (6, 8, 3)
    np.testing.assert_array_equal(out, rgb)


def test_grey_becomes_three_equal_channels(tmp_path: Path) -> None:
    Image.fromarray(np.full((4, 5), 77, np.uint8), "L").save(tmp_path / "g.png")
    out = load_rgb(tmp_path / "g.png")
    assert out.shape == (4, 5, 3)
    assert (out == 77).all()


def test_rgba_drops_alpha_like_the_demo(tmp_path: Path) -> None:
    """A fully transparent red pixel stays red: the demo's convert('RGB') ignores alpha."""
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 0
    Image.fromarray(rgba, "RGBA").save(tmp_path / "t.png")
    out = load_rgb(tmp_path / "t.png")
    assert out.shape == (2, 2, 3)
    assert (out[..., 0] == 200).all()


def test_la_drops_alpha(tmp_path: Path) -> None:
    Image.new("LA", (3, 2), (90, 10)).save(tmp_path / "la.png")
    assert (load_rgb(tmp_path / "la.png") == 90).all()


def test_palette_image_gives_its_colours(tmp_path: Path) -> None:
    mask = np.array([[0, 1], [15, 15]], np.uint8)
    save_mask_png(mask, tmp_path / "p.png", PASCAL)
    out = load_rgb(tmp_path / "p.png")
    np.testing.assert_array_equal(out[1, 1], PASCAL.colormap[15])  # person's colour


def test_sixteen_bit_grey_is_scaled_to_eight_bits(tmp_path: Path) -> None:
    values = np.array([[0, 257, 65535]], np.uint16)
    Image.fromarray(values).save(tmp_path / "16.png")
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    out = load_rgb(tmp_path / "16.png")
    np.testing.assert_array_equal(out[0, :, 0], [0, 1, 255])


def test_cmyk_jpeg_is_converted(tmp_path: Path) -> None:
    Image.new("CMYK", (8, 8), (0, 255, 255, 0)).save(tmp_path / "c.jpg")  # pure red in CMYK
    out = load_rgb(tmp_path / "c.jpg")
    assert out.shape == (8, 8, 3)
    assert out[..., 0].mean() > 200 and out[..., 1].mean() < 60


def test_one_bit_image_is_converted(tmp_path: Path) -> None:
    Image.new("1", (4, 3), 1).save(tmp_path / "b.png")
    assert (load_rgb(tmp_path / "b.png") == 255).all()


def test_exif_orientation_is_ignored_like_the_deeplab_demo(tmp_path: Path) -> None:
    """One rule for every item: the stored pixels, as the demo and eval.py decode them (and as
    label maps are drawn), even when an EXIF tag says the photo is displayed rotated."""
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(gradient(60, 80)).save(tmp_path / "phone.jpg", exif=exif, quality=95)
    with Image.open(tmp_path / "phone.jpg") as stored:
        assert stored.getexif()[0x0112] == 6  # the tag really is in the file
        as_stored = np.asarray(stored.convert("RGB"))
    out = load_rgb(tmp_path / "phone.jpg")
    assert out.shape == (60, 80, 3)  # stored landscape, not turned upright to 80 x 60
    np.testing.assert_array_equal(out, as_stored)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("this is a text file")
    with pytest.raises(ImageError, match=r"notes\.png: image is not an image Pillow can read"):
        load_rgb(path)


def test_truncated_image(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ImageError, match="corrupt or truncated") as info:
        load_rgb(path)
    assert str(path) in str(info.value) and "Re-export" in str(info.value)


def test_missing_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not exist"):
        load_rgb(tmp_path / "nope.jpg")


def test_image_error_is_a_value_error() -> None:
    assert issubclass(ImageError, ValueError)


# --------------------------------------------------------------------------- demo_resize


def test_demo_resize_long_side_to_input_size() -> None:
    out = demo_resize(np.zeros((375, 500, 3), np.uint8), 513)
    # ratio = 513 / 500; (int(1.026 * 500), int(1.026 * 375)) = (513, 384)
    assert out.shape == (384, 513, 3)


def test_demo_resize_portrait_and_downscale() -> None:
    assert demo_resize(np.zeros((1000, 300, 3), np.uint8), 257).shape == (257, 77, 3)


def test_demo_resize_is_pillow_lanczos() -> None:
    rgb = gradient(30, 40)
    # DeepLab's demo resizes with PIL's ANTIALIAS filter, named LANCZOS since Pillow 2.7
    expected = np.asarray(Image.fromarray(rgb).resize((20, 15), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(demo_resize(rgb, 20), expected)


def test_demo_resize_rejects_grey_arrays() -> None:
    with pytest.raises(ValueError, match="HxWx3"):
        demo_resize(np.zeros((4, 4), np.uint8), 513)


# --------------------------------------------------------------------------- load_label


def test_palette_label_gives_indices_not_colours(tmp_path: Path) -> None:
    truth = np.array([[0, 1, 255], [15, 20, 0]], np.uint8)
    save_mask_png(truth, tmp_path / "l.png", PASCAL)
    np.testing.assert_array_equal(load_label(tmp_path / "l.png", PASCAL), truth)


def test_grey_label_gives_values(tmp_path: Path) -> None:
    truth = np.array([[0, 18], [255, 3]], np.uint8)
    Image.fromarray(truth, "L").save(tmp_path / "l.png")
    out = load_label(tmp_path / "l.png", get_label_set("cityscapes"), expected_shape=(2, 2))
    np.testing.assert_array_equal(out, truth)


def test_rgb_label_with_transparency_is_refused_with_the_fix(tmp_path: Path) -> None:
    rgba = np.zeros((3, 3, 4), np.uint8)
    rgba[..., 3] = 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    with pytest.raises(ImageError) as info:
        load_label(tmp_path / "rgba.png", PASCAL)
    message = str(info.value)
    assert "rgba.png" in message and "'RGBA' (colour image with alpha)" in message
    assert "palette ('P') PNG" in message and "grey ('L')" in message


def test_label_values_outside_the_label_set(tmp_path: Path) -> None:
    truth = np.array([[0, 21, 22], [33, 255, 1]], np.uint8)
    Image.fromarray(truth, "L").save(tmp_path / "bad.png")
    with pytest.raises(ImageError) as info:
        load_label(tmp_path / "bad.png", PASCAL)
    message = str(info.value)
    assert "bad.png" in message
    assert "label values 21, 22, 33 are not classes of label set 'pascal'" in message
    assert "21 classes 0..20, ignore label 255" in message


def test_ade20k_ignore_label_zero_is_a_valid_value(tmp_path: Path) -> None:
    ade = get_label_set("ade20k")
    truth = np.array([[0, 150]], np.uint8)
    Image.fromarray(truth, "L").save(tmp_path / "a.png")
    np.testing.assert_array_equal(load_label(tmp_path / "a.png", ade), truth)
    Image.fromarray(np.array([[255]], np.uint8), "L").save(tmp_path / "b.png")
    with pytest.raises(ImageError, match="label values 255"):
        load_label(tmp_path / "b.png", ade)


def test_label_of_the_wrong_size_names_both_sizes(tmp_path: Path) -> None:
    Image.fromarray(np.zeros((375, 500), np.uint8), "L").save(tmp_path / "l.png")
    with pytest.raises(ImageError) as info:
        load_label(tmp_path / "l.png", PASCAL, expected_shape=(500, 375))
    assert "label map is 375 x 500 (height x width) but its image is 500 x 375" in str(info.value)


def test_corrupt_label(tmp_path: Path) -> None:
    (tmp_path / "l.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(ImageError, match="label map"):
        load_label(tmp_path / "l.png", PASCAL)


# --------------------------------------------------------------------------- masks


def test_mask_png_round_trip_keeps_indices_and_palette(tmp_path: Path) -> None:
    mask = np.random.default_rng(1).integers(0, 21, (17, 23)).astype(np.uint8)
    path = save_mask_png(mask, tmp_path / "sub" / "m.png", PASCAL)
    with Image.open(path) as image:
        assert image.mode == "P"
        assert image.getpalette()[: 3 * 21] == PASCAL.palette()[: 3 * 21]
    np.testing.assert_array_equal(read_mask_png(path), mask)
    assert [p.name for p in path.parent.iterdir()] == ["m.png"]  # no temp files left


def test_save_mask_accepts_int64_predictions(tmp_path: Path) -> None:
    mask = np.array([[0, 5], [20, 1]], np.int64)  # SemanticPredictions:0 is int64 in some graphs
    np.testing.assert_array_equal(
        read_mask_png(save_mask_png(mask, tmp_path / "m.png", PASCAL)), mask
    )


def test_save_mask_refuses_values_a_palette_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"0\.\.255"):
        save_mask_png(np.array([[300]]), tmp_path / "m.png", PASCAL)
    assert not (tmp_path / "m.png").exists()


def test_failed_save_leaves_the_old_file_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = save_mask_png(np.zeros((4, 4), np.uint8), tmp_path / "m.png", PASCAL)

    def explode(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"half a PNG")  # type: ignore[attr-defined]
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", explode)
    with pytest.raises(OSError, match="disk full"):
        save_mask_png(np.ones((4, 4), np.uint8), path, PASCAL)
    monkeypatch.undo()
    np.testing.assert_array_equal(read_mask_png(path), np.zeros((4, 4)))
    assert [p.name for p in tmp_path.iterdir()] == ["m.png"]


def test_read_mask_png_refuses_rgb(tmp_path: Path) -> None:
    Image.fromarray(gradient()).save(tmp_path / "m.png")
    with pytest.raises(ImageError, match="--deeplab-update-golden"):
        read_mask_png(tmp_path / "m.png")


def test_resize_mask_is_nearest_neighbour() -> None:
    mask = np.array([[0, 15], [15, 0]], np.uint8)
    out = resize_mask(mask, (4, 6))
    assert out.shape == (4, 6)
    assert set(np.unique(out).tolist()) == {0, 15}  # no blended in-between classes
    np.testing.assert_array_equal(out[:2, :3], 0)


def test_colorize_uses_the_label_set_colours() -> None:
    cityscapes = get_label_set("cityscapes")
    out = colorize(np.array([[0, 18]], np.uint8), cityscapes)
    np.testing.assert_array_equal(out[0], [[128, 64, 128], [119, 11, 32]])  # road, bicycle


def test_ade20k_colours_match_deeplab() -> None:
    ade = get_label_set("ade20k")
    out = colorize(np.array([[0, 1, 13, 150]], np.uint8), ade)
    np.testing.assert_array_equal(out[0], [[0, 0, 0], [120, 120, 120], [150, 5, 61], [92, 0, 255]])


# --------------------------------------------------------------------------- find_pairs


def _touch(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")


def test_find_pairs_matches_stems_with_suffix(tmp_path: Path) -> None:
    for name in ("b.JPG", "a.jpeg", "c.png", "notes.txt"):
        _touch(tmp_path / "img" / name)
    for stem in ("a", "b", "c", "unused"):
        _touch(tmp_path / "lbl" / f"{stem}_gt.png")
    pairs = find_pairs(tmp_path / "img", tmp_path / "lbl", label_suffix="_gt")
    assert [(i.name, label.name) for i, label in pairs] == [
        ("a.jpeg", "a_gt.png"),
        ("b.JPG", "b_gt.png"),
        ("c.png", "c_gt.png"),
    ]


def test_find_pairs_lists_images_without_labels(tmp_path: Path) -> None:
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        _touch(tmp_path / "img" / name)
    _touch(tmp_path / "lbl" / "b.png")
    with pytest.raises(ImageError) as info:
        find_pairs(tmp_path / "img", tmp_path / "lbl")
    assert "2 of 3 images have no label <stem>.png here: a.jpg, c.jpg" in str(info.value)
    assert "label_suffix" in str(info.value)


def test_find_pairs_empty_or_missing_folder(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "lbl").mkdir()
    with pytest.raises(ImageError, match="holds no"):
        find_pairs(tmp_path / "img", tmp_path / "lbl")
    with pytest.raises(ImageError, match="labels folder does not exist"):
        find_pairs(tmp_path / "img", tmp_path / "missing")


def test_find_pairs_refuses_two_images_with_one_stem(tmp_path: Path) -> None:
    _touch(tmp_path / "img" / "a.jpg")
    _touch(tmp_path / "img" / "a.png")
    _touch(tmp_path / "lbl" / "a.png")
    with pytest.raises(ImageError, match="share the stem 'a'"):
        find_pairs(tmp_path / "img", tmp_path / "lbl")
