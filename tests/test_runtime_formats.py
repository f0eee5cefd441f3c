"""The three model formats behind one predict(): a SavedModel made from a bundled frozen graph
must give exactly the frozen graph's masks."""

from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import pytest

from pytest_deeplab.data.images import demo_resize, load_rgb
from pytest_deeplab.runtime import ModelLoadError, load_predictor

tf = pytest.importorskip("tensorflow")

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MODEL = "mini_mnv2_os16"


@pytest.fixture(scope="module")
def frozen_graph(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("frozen")
    with tarfile.open(FIXTURES / "models" / f"{MODEL}.tar.gz") as archive:
        archive.extractall(folder, filter="data")
    return folder / MODEL / "frozen_inference_graph.pb"


def export_saved_model(graph_path: Path, folder: Path) -> Path:
    """What a team does to serve a zoo graph with TF 2: wrap it and save a serving signature."""
    graph_def = tf.compat.v1.GraphDef()
    graph_def.ParseFromString(graph_path.read_bytes())

    def import_graph(image: object) -> object:
        (mask,) = tf.compat.v1.import_graph_def(
            graph_def, input_map={"ImageTensor:0": image},
            return_elements=["SemanticPredictions:0"], name="",
        )
        return mask

    spec = tf.TensorSpec([1, None, None, 3], tf.uint8)
    wrapped = tf.compat.v1.wrap_function(import_graph, [spec])
    module = tf.Module()
    module.serve = tf.function(lambda image: {"semantic": wrapped(image)}, input_signature=[spec])
    tf.saved_model.save(module, str(folder), signatures={"serving_default": module.serve})
    return folder


def golden_images() -> list[np.ndarray]:
    paths = sorted((FIXTURES / "scenes" / "golden").glob("*.png"))[:3]
    return [demo_resize(load_rgb(p), 257) for p in paths]


def test_a_saved_model_gives_the_frozen_graphs_masks(frozen_graph: Path, tmp_path: Path) -> None:
    saved = export_saved_model(frozen_graph, tmp_path / "saved")
    graph = load_predictor(MODEL, frozen_graph, "frozen_graph",
                           input_tensor="ImageTensor:0", output_tensor="SemanticPredictions:0")
    served = load_predictor(MODEL, saved, "saved_model", input_tensor="", output_tensor="")
    for image in golden_images():
        expected = graph.predict(image)
        assert expected.shape == image.shape[:2]
        np.testing.assert_array_equal(served.predict(image), expected)
    assert served.describe()["format"] == "saved_model"


def test_a_folder_that_is_no_saved_model_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(ModelLoadError, match="not a loadable SavedModel"):
        load_predictor("broken", tmp_path, "saved_model", input_tensor="", output_tensor="")


def test_an_unknown_format_names_the_known_ones(frozen_graph: Path) -> None:
    with pytest.raises(ModelLoadError, match="frozen_graph, tflite, saved_model"):
        load_predictor(MODEL, frozen_graph, "onnx", input_tensor="", output_tensor="")


def test_a_frozen_graphs_logits_output_is_checked_against_the_label_set(
    frozen_graph: Path,
) -> None:
    """With output_tensor on the logits (6 channels here), a 21-class label set is refused at
    load; the class-id output cannot say how many classes it knows, so it is not checked."""
    with pytest.raises(ModelLoadError) as error:
        load_predictor(MODEL, frozen_graph, "frozen_graph", input_tensor="ImageTensor:0",
                       output_tensor="ResizeBilinear_2:0", label_set="pascal", num_classes=21)
    assert str(error.value) == (
        f"{frozen_graph}: the model scores 6 classes (output ResizeBilinear_2:0 has 6 logits "
        f"channels) but its label set 'pascal' has 21. Set label_set in "
        f"[tool.pytest-deeplab.models.{MODEL}] to the set the model was trained on, or choose "
        "the right output_tensor."
    )
    load_predictor(MODEL, frozen_graph, "frozen_graph", input_tensor="ImageTensor:0",
                   output_tensor="SemanticPredictions:0", label_set="pascal", num_classes=21)
