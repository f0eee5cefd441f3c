"""The bundled mini-zoo under whatever TensorFlow runs the tests.

Why: fixtures/ holds the models every other test uses; these checks prove, per TensorFlow
version (tox environment), that each tarball matches its manifest, loads with plain compat.v1
TensorFlow, has the zoo's input/output signature, returns masks of the input's size, and still
scores its mIOU threshold on the committed evaluation set. (The TF Lite conversions of these
graphs have their own checks: tests/test_bundled_tflite.py.)
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.verdicts.metrics import confusion_matrix, mean_iou, per_class_iou

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST = json.loads((FIXTURES / "minizoo.json").read_text())
MODELS = {m["name"]: m for m in MANIFEST["models"]
          if m.get("format", "frozen_graph") == "frozen_graph"}


def _tarball(name: str) -> bytes:
    return (FIXTURES / MODELS[name]["archive"]).read_bytes()


def _graph_bytes(name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(_tarball(name)), mode="r:gz") as tar:
        fh = tar.extractfile(MODELS[name]["member"])
        assert fh is not None
        return fh.read()


def _demo_input(image: np.ndarray, size: int) -> np.ndarray:
    pil = Image.fromarray(image)
    w, h = pil.size
    r = size / max(w, h)
    return np.asarray(pil.resize((int(r * w), int(r * h)), Image.Resampling.LANCZOS))


def test_manifest_describes_three_architectures() -> None:
    assert len(MODELS) >= 3
    madds = [m["multiply_adds"] for m in MODELS.values()]
    assert max(madds) >= 3 * min(madds)
    assert {(m["aspp"], m["decoder"]) for m in MODELS.values()} >= {(False, False),
                                                                   (True, False), (True, True)}
    dataset = MANIFEST["datasets"]["minizoo-eval"]
    assert len(list((FIXTURES / dataset["images"]).glob("*.png"))) >= 24
    assert len(list((FIXTURES / MANIFEST["golden_images"]).glob("*.png"))) >= 6


@pytest.mark.parametrize("name", sorted(MODELS))
def test_archive_matches_manifest(name: str) -> None:
    data = _tarball(name)
    spec = MODELS[name]
    assert len(data) == spec["size"]
    assert hashlib.sha256(data).hexdigest() == spec["sha256"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        tops = {m.name.split("/")[0] for m in tar.getmembers()}
    assert tops == {name}, "a zoo tarball has exactly one top folder"
    pb = _graph_bytes(name)
    assert len(pb) == spec["pb_size"] <= 5 * 1024 * 1024
    assert hashlib.sha256(pb).hexdigest() == spec["pb_sha256"]


@pytest.fixture(scope="module")
def tf() -> Any:
    return pytest.importorskip(
        "tensorflow", reason="TensorFlow is not importable: the bundled graphs cannot be run"
    )


class _Loaded:
    """One frozen graph in a compat.v1 session, loaded exactly as a zoo user would."""

    def __init__(self, tf: Any, pb: bytes) -> None:
        graph_def = tf.compat.v1.GraphDef()
        graph_def.ParseFromString(pb)
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=2,
                                          inter_op_parallelism_threads=1)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)

    def predict(self, image: np.ndarray) -> np.ndarray:
        return self.session.run("SemanticPredictions:0", {"ImageTensor:0": [image]})


@pytest.fixture(scope="module")
def loaded(tf: Any) -> Any:
    cache: dict[str, _Loaded] = {}

    def get(name: str) -> _Loaded:
        if name not in cache:
            cache[name] = _Loaded(tf, _graph_bytes(name))
        return cache[name]

    yield get
    for model in cache.values():
        model.session.close()


@pytest.mark.needs_tf
@pytest.mark.parametrize("name", sorted(MODELS))
def test_signature_is_the_zoo_one(tf: Any, loaded: Any, name: str) -> None:
    graph = loaded(name).graph
    image = graph.get_tensor_by_name("ImageTensor:0")
    out = graph.get_tensor_by_name("SemanticPredictions:0")
    assert image.dtype == tf.uint8
    assert image.shape.as_list() == [1, None, None, 3]
    assert out.dtype == tf.int64


@pytest.mark.needs_tf
@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("size", [(37, 91), (257, 193), (201, 257), (513, 129)])
def test_mask_has_input_size(loaded: Any, name: str, size: tuple[int, int]) -> None:
    golden = sorted((FIXTURES / MANIFEST["golden_images"]).glob("*.png"))[0]
    w, h = size
    image = np.asarray(Image.open(golden).convert("RGB").resize((w, h)))
    mask = loaded(name).predict(image)
    assert mask.shape == (1, h, w)
    assert mask.dtype == np.int64
    assert mask.min() >= 0 and mask.max() < get_label_set("minizoo").num_classes


@pytest.mark.needs_tf
@pytest.mark.parametrize("name", sorted(MODELS))
def test_miou_meets_threshold(loaded: Any, name: str) -> None:
    spec = MODELS[name]
    labels = get_label_set(spec["label_set"])
    dataset = MANIFEST["datasets"][spec["dataset"]]
    model = loaded(name)
    cm = np.zeros((labels.num_classes, labels.num_classes), dtype=np.int64)
    for path in sorted((FIXTURES / dataset["images"]).glob("*.png")):
        image = np.asarray(Image.open(path).convert("RGB"))
        truth = np.asarray(Image.open(FIXTURES / dataset["labels"] / path.name))
        mask = model.predict(_demo_input(image, spec["input_size"]))[0].astype(np.uint8)
        mask = np.asarray(Image.fromarray(mask).resize(truth.shape[::-1],
                                                       Image.Resampling.NEAREST))
        cm += confusion_matrix(truth, mask, labels.num_classes, labels.ignore_label)
    miou = mean_iou(cm)
    assert miou >= spec["min_miou"], (
        f"{name}: mIOU {miou:.4f} < threshold {spec['min_miou']} "
        f"(measured {spec['measured_miou']} under TF {spec['measured_with']['tensorflow']}); "
        f"per class {np.round(per_class_iou(cm), 3).tolist()}"
    )
