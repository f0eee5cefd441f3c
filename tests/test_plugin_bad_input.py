"""Bad input gets a clear error naming the file, never a traceback or a corrupted golden:
corrupt graphs, wrong tensor names, images that are not images, label maps of the wrong size."""

from __future__ import annotations

import shutil

import pytest
from conftest import DeepLabPytester, SmallModel
from PIL import Image

from pytest_deeplab.data.labels import find_pairs
from pytest_deeplab.data.listing import list_images

MODEL = "my-small"


def run(project: DeepLabPytester, *args: str) -> pytest.RunResult:
    return project.run(f"--deeplab-models={MODEL}", "--benchmark-disable",
                       f"--deeplab-golden-dir={project.path / 'golden'}", *args)


def test_a_truncated_graph_fails_naming_the_file(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    data = small_model.graph.read_bytes()
    broken = deeplab.path / "models" / "truncated.pb"
    broken.parent.mkdir()
    broken.write_bytes(data[: len(data) // 2])
    deeplab.configure(models={MODEL: small_model.model(path=broken)})
    result = run(deeplab, "-m", "deeplab_latency")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"ModelLoadError: {broken}: not a frozen TensorFlow graph (*); the file is "
        f"{len(data) // 2} bytes. Is it truncated or corrupt?*"
    ])
    assert "Traceback" not in result.stdout.str()


def test_a_file_that_is_not_a_graph_fails_naming_the_file(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    broken = deeplab.path / "notes.pb"
    broken.write_text("this is not a graph, it is a README saved with the wrong name\n" * 3)
    deeplab.configure(models={MODEL: small_model.model(path=broken)})
    result = run(deeplab, "-m", "deeplab_latency")
    result.assert_outcomes(failed=1)
    assert f"ModelLoadError: {broken}: " in result.stdout.str()


def test_a_missing_model_file_is_a_usage_error(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    gone = deeplab.path / "gone.pb"
    deeplab.configure(models={MODEL: small_model.model(path=gone)})
    result = run(deeplab, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*{MODEL}: {gone} does not exist*"])


def test_a_wrong_input_tensor_lists_the_likely_tensors(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    deeplab.configure(models={MODEL: small_model.model(input_tensor="Image:0")})
    result = run(deeplab, "-m", "deeplab_latency")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"ModelLoadError: {small_model.graph}: tensor 'Image:0' or 'SemanticPredictions:0' is "
        "not in the graph. Likely inputs: *ImageTensor:0*; likely outputs: "
        "*SemanticPredictions:0*Set input_tensor / output_tensor in *"
    ])


def test_a_golden_image_that_is_not_an_image_fails_naming_the_file(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    photos = deeplab.path / "photos"
    photos.mkdir()
    (photos / "holiday.jpg").write_bytes(b"<html>404 Not Found</html>")
    deeplab.configure(models={MODEL: small_model.model(golden_images=photos)})
    result = run(deeplab, "-m", "deeplab_mask")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"ImageError: {photos / 'holiday.jpg'}: image is not an image Pillow can read*"
    ])
    assert not (deeplab.path / "golden").exists()


def test_a_truncated_golden_image_fails_naming_the_file(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    photos = deeplab.path / "photos"
    photos.mkdir()
    source = list_images(small_model.golden_images)[0].path
    data = source.read_bytes()
    (photos / source.name).write_bytes(data[: len(data) // 3])
    deeplab.configure(models={MODEL: small_model.model(golden_images=photos)})
    result = run(deeplab, "-m", "deeplab_mask", "--deeplab-update-golden")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"ImageError: {photos / source.name}: image is corrupt or "
                                 "truncated*"])
    assert not (deeplab.path / "golden").exists(), "nothing may be written from a bad image"


def test_a_label_map_of_the_wrong_size_names_both_sizes(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    image, label = find_pairs(small_model.images, small_model.labels,
                              small_model.label_suffix)[0]
    images, labels = deeplab.path / "images", deeplab.path / "labels"
    images.mkdir()
    labels.mkdir()
    shutil.copy(image, images / image.name)
    with Image.open(label) as original:
        width, height = original.size
        original.resize((width // 2, height // 2), Image.Resampling.NEAREST).save(
            labels / label.name
        )
    deeplab.configure(
        models={MODEL: small_model.model(dataset="mine", min_miou=0.1)},
        datasets={"mine": small_model.dataset(images=images, labels=labels)},
    )
    result = run(deeplab, "-m", "deeplab_miou")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([
        f"ImageError: {labels / label.name}: label map is {height // 2} x {width // 2} (height x "
        f"width) but its image is {height} x {width}*"
    ])


def test_an_image_without_a_label_is_listed(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    image, _ = find_pairs(small_model.images, small_model.labels, small_model.label_suffix)[0]
    images, labels = deeplab.path / "images", deeplab.path / "labels"
    images.mkdir()
    labels.mkdir()
    shutil.copy(image, images / "lonely.png")
    deeplab.configure(
        models={MODEL: small_model.model(dataset="mine", min_miou=0.1)},
        datasets={"mine": small_model.dataset(images=images, labels=labels)},
    )
    result = run(deeplab, "-m", "deeplab_miou")
    result.assert_outcomes(failed=1)
    assert "1 of 1 images have no label" in result.stdout.str()
    assert "lonely.png" in result.stdout.str()


def test_a_corrupt_golden_json_says_how_to_recreate_it(
    deeplab: DeepLabPytester, small_model: SmallModel
) -> None:
    deeplab.configure(models={MODEL: small_model.model()})
    run(deeplab, "-m", "deeplab_mask", "--deeplab-update-golden").assert_outcomes(
        passed=len(list_images(small_model.golden_images))
    )
    json_path = sorted((deeplab.path / "golden" / MODEL).glob("*.json"))[0]
    json_path.write_text("{ not json")
    result = run(deeplab, "-m", "deeplab_mask", "-k", json_path.stem)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines([f"GoldenError: {json_path}: is not valid JSON*Re-create it with "
                                 f"`pytest --deeplab-models={MODEL} --deeplab-update-golden*"])
