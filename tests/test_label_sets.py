"""Label sets that cannot be mixed up: colour label maps decoded through the label set's colours
(exact colours only), and a model's label set agreeing with its dataset's.

Colours are pinned as published (Cityscapes' labels.py; PASCAL's bit-interleaving rule worked
out by hand for a few indices), never taken from the colour maps under test.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from conftest import DeepLabPytester, SmallModel
from PIL import Image

from pytest_deeplab.catalogue.config import ConfigError, load_config_file
from pytest_deeplab.catalogue.selection import build_catalogue
from pytest_deeplab.catalogue.specs import CatalogueError
from pytest_deeplab.data.images import ImageError
from pytest_deeplab.data.labels import load_label
from pytest_deeplab.data.labelsets import get_label_set

PASCAL, CITYSCAPES, ADE20K = (get_label_set(n) for n in ("pascal", "cityscapes", "ade20k"))

# PASCAL: the bits of the index spread over R, G, B from the top bit down (index 15 = 0b001111:
# R, G, B get 128, then R gets 64 -> 192, 128, 128). 255 is VOC's void/border colour.
VOC = {0: (0, 0, 0), 1: (128, 0, 0), 2: (0, 128, 0), 3: (128, 128, 0), 15: (192, 128, 128),
       20: (0, 64, 128), 255: (224, 224, 192)}
# Cityscapes trainIds as labels.py paints them; black and "ground" are void (trainId 255).
CITY = {0: (128, 64, 128), 10: (70, 130, 180), 11: (220, 20, 60), 18: (119, 11, 32)}
CITY_VOID = [(0, 0, 0), (81, 0, 81), (111, 74, 0)]


def paint(indices: np.ndarray, colours: dict[int, tuple[int, int, int]]) -> np.ndarray:
    rgb = np.zeros((*indices.shape, 3), np.uint8)
    for index, colour in colours.items():
        rgb[indices == index] = colour
    return rgb


def test_the_colour_maps_are_the_published_ones() -> None:
    for index, colour in VOC.items():
        assert tuple(int(v) for v in PASCAL.colormap[index]) == colour, index
    for index, colour in CITY.items():
        assert tuple(int(v) for v in CITYSCAPES.colormap[index]) == colour, index


def test_a_voc_mask_resaved_as_rgb_decodes_to_its_classes(tmp_path: Path) -> None:
    truth = np.array([[0, 1, 2, 3], [15, 20, 255, 0]], np.uint8)
    Image.fromarray(paint(truth, VOC)).save(tmp_path / "2007_000033.png")
    np.testing.assert_array_equal(load_label(tmp_path / "2007_000033.png", PASCAL), truth)


def test_a_cityscapes_color_png_decodes_to_train_ids_with_void_ignored(tmp_path: Path) -> None:
    rgb = np.array([[CITY[0], CITY[10], CITY_VOID[0]],
                    [CITY[11], CITY_VOID[1], CITY[18]],
                    [CITY_VOID[2], (153, 153, 153), (0, 0, 142)]], np.uint8)
    Image.fromarray(rgb).save(tmp_path / "frankfurt_gtFine_color.png")
    expected = [[0, 10, 255], [11, 255, 18], [255, 5, 13]]  # pole's and car's colours: 5, 13
    np.testing.assert_array_equal(
        load_label(tmp_path / "frankfurt_gtFine_color.png", CITYSCAPES), expected)


def test_an_opaque_rgba_label_decodes_like_rgb(tmp_path: Path) -> None:
    truth = np.array([[0, 15], [20, 255]], np.uint8)
    rgba = np.dstack([paint(truth, VOC), np.full(truth.shape, 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "l.png")
    np.testing.assert_array_equal(load_label(tmp_path / "l.png", PASCAL), truth)


def test_an_unknown_colour_is_named_with_the_file(tmp_path: Path) -> None:
    rgb = paint(np.zeros((4, 5), np.uint8), VOC)
    rgb[0, :2] = (1, 2, 3)
    rgb[3, 4] = (250, 0, 0)
    path = tmp_path / "labels" / "scene.png"
    path.parent.mkdir()
    Image.fromarray(rgb).save(path)
    with pytest.raises(ImageError) as caught:
        load_label(path, PASCAL)
    assert str(caught.value) == (
        f"{path}: label map colours (1, 2, 3) in 2 pixels, (250, 0, 0) in 1 pixel are not "
        "colours of label set 'pascal'. An RGB label map is read through the label set's colour "
        "map, exact colours only: check the dataset's label_set, and save label maps losslessly "
        "(PNG, no JPEG, no anti-aliasing) or as palette ('P') / grey ('L') PNGs of class indices."
    )


def test_cityscapes_colours_in_a_pascal_dataset_are_refused(tmp_path: Path) -> None:
    Image.fromarray(paint(np.array([[0, 10]]), CITY)).save(tmp_path / "city.png")
    with pytest.raises(ImageError, match=r"colours \(70, 130, 180\) in 1 pixel, \(128, 64, 128\) "
                                         r"in 1 pixel are not colours of label set 'pascal'"):
        load_label(tmp_path / "city.png", PASCAL)


def test_a_jpeg_colour_label_is_refused_not_guessed(tmp_path: Path) -> None:
    truth = np.zeros((32, 32), np.uint8)
    truth[8:24, 8:24] = 15
    Image.fromarray(paint(truth, VOC)).save(tmp_path / "l.jpg", quality=75)
    with pytest.raises(ImageError, match="are not colours of label set 'pascal'"):
        load_label(tmp_path / "l.jpg", PASCAL)


def test_a_colour_two_classes_share_cannot_be_decoded(tmp_path: Path) -> None:
    Image.fromarray(np.full((2, 2, 3), 140, np.uint8)).save(tmp_path / "ade.png")
    with pytest.raises(ImageError) as caught:
        load_label(tmp_path / "ade.png", ADE20K)
    assert str(caught.value) == (
        f"{tmp_path / 'ade.png'}: label map colours (140, 140, 140) (7 road, 49 skyscraper) are "
        "painted for several classes of label set 'ade20k', so the class cannot be told from the "
        "colour. Save this label map as a palette ('P') or grey ('L') PNG of class indices."
    )


# -- a model's label set and its dataset's --------------------------------------------------------


def catalogue_from(tmp_path: Path, toml: str) -> dict[str, str]:
    path = tmp_path / "deeplab.toml"
    path.write_text(toml)
    (tmp_path / "imgs").mkdir(exist_ok=True)
    catalogue = build_catalogue(load_config_file(path), tmp_path)
    return {name: m.label_set for name, m in catalogue.models.items()}


def test_a_model_without_label_set_takes_its_datasets(tmp_path: Path) -> None:
    label_sets = catalogue_from(tmp_path, """
[datasets.city]
images = "imgs"
label_set = "cityscapes"

[models.street]
path = "street.pb"
dataset = "city"

[models.plain]
path = "plain.pb"
""")
    assert label_sets["street"] == "cityscapes"
    assert label_sets["plain"] == "pascal"  # neither a label_set nor a dataset


def test_a_model_whose_label_set_differs_from_its_datasets_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        catalogue_from(tmp_path, """
[datasets.city]
images = "imgs"
label_set = "cityscapes"

[models.street]
path = "street.pb"
dataset = "city"
label_set = "pascal"
""")
    assert str(caught.value) == (
        f"{tmp_path / 'deeplab.toml'}: [models.street]: model 'street' has label_set 'pascal' "
        "but its dataset 'city' has label_set 'cityscapes', so its masks would be scored "
        "against another label set's classes. Make them agree: set the model's label_set to "
        "'cityscapes' (or leave it out to take the dataset's), or point its `dataset` at a "
        "'pascal' dataset."
    )


def test_an_official_pascal_model_on_a_cityscapes_dataset_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model 'mobilenetv2_coco_voc_trainaug' has label_set "
                                          "'pascal' but its dataset 'city' has label_set "
                                          "'cityscapes'"):
        catalogue_from(tmp_path, """
[datasets.city]
images = "imgs"
label_set = "cityscapes"

[models.mobilenetv2_coco_voc_trainaug]
dataset = "city"
""")


def test_redefining_a_bundled_dataset_with_another_label_set_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match=r"bundled model: model 'mini_\w+' has label_set "
                                             "'minizoo' but its dataset 'minizoo-eval' has "
                                             "label_set 'pascal'"):
        catalogue_from(tmp_path, '[datasets.minizoo-eval]\nimages = "imgs"\n')


def test_label_names_are_compared_not_spellings(tmp_path: Path) -> None:
    label_sets = catalogue_from(tmp_path, """
[datasets.voc]
images = "imgs"
label_set = "PASCAL"

[models.m]
path = "m.pb"
dataset = "voc"
label_set = "pascal"
""")
    assert label_sets["m"] == "pascal"


# -- through the plugin ---------------------------------------------------------------------------


def test_the_mismatch_stops_the_run_naming_both(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    config = deeplab.path / "pyproject.toml"
    deeplab.configure(models={"m": small_model.model(dataset="d", label_set="pascal")},
                      datasets={"d": small_model.dataset()})
    result = deeplab.run("--deeplab-models=m", "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert (f"ERROR: {config}: [models.m]: model 'm' has label_set 'pascal' but its dataset 'd' "
            "has label_set 'minizoo'") in result.stderr.str()


def test_rgb_label_maps_score_like_the_palette_ones(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    rgb_labels = deeplab.path / "rgb-labels"
    rgb_labels.mkdir()
    for label in sorted(small_model.labels.glob("*.png")):
        with Image.open(label) as image:
            assert image.mode == "P"
            image.convert("RGB").save(rgb_labels / label.name)
    deeplab.configure(
        models={name: small_model.model(dataset=name, min_miou=0.5, golden_images=None)
                for name in ("palette", "rgb")},
        datasets={"palette": small_model.dataset(),
                  "rgb": small_model.dataset(labels=rgb_labels)},
    )
    junit = deeplab.path / "junit.xml"
    result = deeplab.run("--deeplab-models=palette,rgb", "-m", "deeplab_miou",
                         f"--junitxml={junit}")
    result.assert_outcomes(passed=2)
    miou = {case.get("classname", "").split(".")[-1]: {p.get("name"): p.get("value")
                                                       for p in case.iter("property")}
            for case in ET.parse(junit).getroot().iter("testcase")}
    assert miou["rgb"]["deeplab_miou"] == miou["palette"]["deeplab_miou"]
    assert float(miou["rgb"]["deeplab_miou"] or 0) > 0.5
