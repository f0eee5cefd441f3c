"""The bundled TF Lite conversions of the mini-zoo under whatever TensorFlow runs the tests.

Why: they put both TF Lite paths on every machine, with no download: full-integer models
(uint8 input with its own scale and zero point, class ids out, as Coral's builds) and a float
model (float input in [-1, 1], logits out, as the official deeplabv3_257_mv_gpu.tflite). These
checks use nothing but tf.lite.Interpreter and a compat.v1 session, independently of the
plugin's runtime: each file matches its manifest entry and was converted from the graph now
committed, its input and output are what the manifest says, it still scores its mIOU threshold,
and its masks on the golden images agree with its frozen graph's about as well as documented.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from pytest_deeplab.data.labelsets import get_label_set
from pytest_deeplab.verdicts.metrics import confusion_matrix, mean_iou, per_class_iou

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MANIFEST = json.loads((FIXTURES / "minizoo.json").read_text())
GRAPHS = {m["name"]: m for m in MANIFEST["models"]
          if m.get("format", "frozen_graph") == "frozen_graph"}
LITE = {m["name"]: m for m in MANIFEST["models"] if m.get("format") == "tflite"}
GOLDEN = sorted((FIXTURES / MANIFEST["golden_images"]).glob("*.png"))
RECONVERT = "re-run `python fixtures/minizoo/tflite_export.py` and commit its output"

# How far under the documented agreement a conversion may fall. int8 masks differ on 0.76 to
# 0.93 % of the golden pixels between XNNPACK and TF Lite's built-in kernels, yet their agreement
# with the frozen graph moved by at most 0.07 points, and by at most 0.14 under other rounding of
# the uint8 input (fixtures/README.md): half a point allows over three times that and still fails
# a quantization gone wrong (11 to 21 % agreement without it). The float conversion matched every
# pixel; 0.1 % is the tolerance the cross-version check gives frozen graphs.
AGREEMENT_MARGIN = {"int8": 0.005, "float": 0.001}


@pytest.fixture(scope="module")
def tf() -> Any:
    import tensorflow  # the tests asking for it are `needs_tf`: skipped without it, failed in CI

    return tensorflow


def _interpreter(tf: Any, name: str) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # tf.lite.Interpreter is deprecated
        interpreter = tf.lite.Interpreter(model_path=str(FIXTURES / LITE[name]["file"]),
                                          num_threads=2)
    interpreter.allocate_tensors()
    return interpreter


def _demo_input(image: np.ndarray, size: int) -> np.ndarray:
    pil = Image.fromarray(image)
    w, h = pil.size
    r = size / max(w, h)
    return np.asarray(pil.resize((int(r * w), int(r * h)), Image.Resampling.LANCZOS))


def _lite_mask(interpreter: Any, resized: np.ndarray) -> np.ndarray:
    """Pad with the mean to the model's square input, scale to [-1, 1], quantize with the
    input's own scale and zero point if it is an integer input (float32, ties to even: what TF
    Lite's own QUANTIZE op gives these models), invoke, arg-max logits, slice back to the
    resized size: the mask the frozen graph returns for the same resized image."""
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    size = int(inp["shape"][1])
    h, w = resized.shape[:2]
    x = np.pad(resized.astype(np.float32), [(0, size - h), (0, size - w), (0, 0)],
               constant_values=127.5)[np.newaxis] / np.float32(127.5) - np.float32(1.0)
    if np.issubdtype(inp["dtype"], np.integer):
        scale, zero_point = inp["quantization"]
        info = np.iinfo(inp["dtype"])
        x = np.clip(np.round(x / np.float32(scale)) + zero_point, info.min, info.max)
    interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
    interpreter.invoke()
    result = interpreter.get_tensor(out["index"])[0]
    mask = result.argmax(axis=-1) if result.ndim == 3 else result
    return np.asarray(mask[:h, :w], dtype=np.int64)


class _Graph:
    """A frozen graph from its tarball in a compat.v1 session, as a zoo user loads it."""

    def __init__(self, tf: Any, entry: dict[str, Any]) -> None:
        with tarfile.open(FIXTURES / entry["archive"], "r:gz") as tar:
            member = tar.extractfile(entry["member"])
            assert member is not None
            graph_def = tf.compat.v1.GraphDef()
            graph_def.ParseFromString(member.read())
        self.graph = tf.Graph()
        with self.graph.as_default():
            tf.compat.v1.import_graph_def(graph_def, name="")
        config = tf.compat.v1.ConfigProto(intra_op_parallelism_threads=2,
                                          inter_op_parallelism_threads=1)
        self.session = tf.compat.v1.Session(graph=self.graph, config=config)

    def mask(self, resized: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run("SemanticPredictions:0",
                                           {"ImageTensor:0": [resized]})[0])


@pytest.fixture(scope="module")
def graph(tf: Any) -> Iterator[Any]:
    cache: dict[str, _Graph] = {}

    def get(name: str) -> _Graph:
        if name not in cache:
            cache[name] = _Graph(tf, GRAPHS[name])
        return cache[name]

    yield get
    for loaded in cache.values():
        loaded.session.close()


def test_every_graph_has_an_int8_conversion_and_one_has_a_float_one() -> None:
    kinds = {(e["converted_from"]["model"], e["kind"]) for e in LITE.values()}
    assert {(name, "int8") for name in GRAPHS} <= kinds, RECONVERT
    assert ("mini_mnv2_os16", "float") in kinds, RECONVERT


@pytest.mark.parametrize("name", sorted(LITE))
def test_file_matches_manifest_and_its_graph(name: str) -> None:
    entry = LITE[name]
    data = (FIXTURES / entry["file"]).read_bytes()
    assert len(data) == entry["size"] <= 3 * 1024 * 1024, f"{entry['file']}: {RECONVERT}"
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{entry['file']}: {RECONVERT}"
    source = entry["converted_from"]
    assert source["pb_sha256"] == GRAPHS[source["model"]]["pb_sha256"], (
        f"{name} was converted from another {source['model']} graph than the one committed: "
        f"{RECONVERT}"
    )


@pytest.mark.needs_tf
@pytest.mark.parametrize("name", sorted(LITE))
def test_input_and_output_are_what_the_manifest_says(tf: Any, name: str) -> None:
    entry = LITE[name]
    interpreter = _interpreter(tf, name)
    (inp,), (out,) = interpreter.get_input_details(), interpreter.get_output_details()
    assert np.dtype(inp["dtype"]).name == entry["input"]["dtype"]
    assert [int(v) for v in inp["shape"]] == entry["input"]["shape"]
    assert entry["input"]["shape"] == [1, entry["input_size"], entry["input_size"], 3]
    assert inp["name"] == entry["input_tensor"] and out["name"] == entry["output_tensor"]
    assert np.dtype(out["dtype"]).name == entry["output"]["dtype"]
    assert [int(v) for v in out["shape"]] == entry["output"]["shape"]
    scale, zero_point = inp["quantization"]
    if entry["kind"] == "int8":
        assert entry["output"]["kind"] == "class_ids" and len(out["shape"]) == 3
        expected = entry["input"]["quantization"]
        assert scale == pytest.approx(expected["scale"], rel=1e-6)
        assert zero_point == expected["zero_point"]
        # The uint8 codes cover the whole normalized range [-1, 1], to within one step.
        assert (0 - zero_point) * scale <= -1 + scale and (255 - zero_point) * scale >= 1 - scale
    else:
        assert entry["output"]["kind"] == "logits" and len(out["shape"]) == 4
        assert out["shape"][-1] == get_label_set(entry["label_set"]).num_classes
        assert (scale, zero_point) == (0.0, 0) and "quantization" not in entry["input"]


@pytest.mark.needs_tf
@pytest.mark.parametrize("name", sorted(LITE))
def test_masks_agree_with_the_frozen_graph(tf: Any, graph: Any, name: str) -> None:
    entry = LITE[name]
    interpreter = _interpreter(tf, name)
    frozen = graph(entry["converted_from"]["model"])
    equal = total = 0
    for path in GOLDEN:
        resized = _demo_input(np.asarray(Image.open(path).convert("RGB")), entry["input_size"])
        expected, mask = frozen.mask(resized), _lite_mask(interpreter, resized)
        assert mask.shape == expected.shape == resized.shape[:2]
        equal += int(np.count_nonzero(mask == expected))
        total += mask.size
    documented = entry["agreement_with_frozen_graph"]
    assert total == documented["pixels"]
    floor = documented["fraction"] - AGREEMENT_MARGIN[entry["kind"]]
    assert equal / total >= floor, (
        f"{name}: its masks equal {entry['converted_from']['model']}'s on {equal} of {total} "
        f"golden pixels ({100 * equal / total:.3f} %), under {100 * floor:.2f} % "
        f"(documented {100 * documented['fraction']:.3f} % under TF "
        f"{entry['measured_with']['tensorflow']}, minus the margin)"
    )


@pytest.mark.needs_tf
@pytest.mark.parametrize("name", sorted(LITE))
def test_miou_meets_threshold(tf: Any, name: str) -> None:
    entry = LITE[name]
    labels = get_label_set(entry["label_set"])
    dataset = MANIFEST["datasets"][entry["dataset"]]
    interpreter = _interpreter(tf, name)
    cm = np.zeros((labels.num_classes, labels.num_classes), dtype=np.int64)
    for path in sorted((FIXTURES / dataset["images"]).glob("*.png")):
        image = np.asarray(Image.open(path).convert("RGB"))
        truth = np.asarray(Image.open(FIXTURES / dataset["labels"] / path.name))
        mask = _lite_mask(interpreter, _demo_input(image, entry["input_size"]))
        mask = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize(
            truth.shape[::-1], Image.Resampling.NEAREST))
        cm += confusion_matrix(truth, mask, labels.num_classes, labels.ignore_label)
    miou = mean_iou(cm)
    assert miou >= entry["min_miou"], (
        f"{name}: mIOU {miou:.4f} < threshold {entry['min_miou']} (measured "
        f"{entry['measured_miou']} under TF {entry['measured_with']['tensorflow']}); "
        f"per class {np.round(per_class_iou(cm), 3).tolist()}"
    )


def test_golden_images_are_not_the_calibration_data() -> None:
    """The int8 models were calibrated on the evaluation scenes; the golden images they are
    compared on must be other images."""
    evaluation = {hashlib.sha256(p.read_bytes()).hexdigest()
                  for p in (FIXTURES / "scenes" / "images").glob("*.png")}
    golden = {hashlib.sha256(p.read_bytes()).hexdigest() for p in GOLDEN}
    assert len(golden) >= 6 and not golden & evaluation
    assert all(e["conversion"]["representative_dataset"].startswith("scenes/images")
               for e in LITE.values() if e["kind"] == "int8")
