"""Model files are programs: a file holding an op outside the allowlist is refused before any
of it runs, in the suite, explain and inspect, and nothing it would write is written.

The hostile corpus (tests/hostile_models.py) is built here from plain TensorFlow; the first test
proves that the corpus's writers really write when TensorFlow runs them unchecked, so every
"no marker" assertion below could fail.
"""

from __future__ import annotations

import json
import tarfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import FIXTURES, REAL_ZOO, DeepLabPytester, SmallModel, requires_real_zoo
from hostile_models import CORPUS, Hostile

from pytest_deeplab.cli.main import main
from pytest_deeplab.runtime import load_predictor
from pytest_deeplab.runtime.formats import get_format
from pytest_deeplab.runtime.safety import allowlist
from pytest_deeplab.runtime.safety.findings import UnsafeModelError

pytestmark = pytest.mark.needs_tf
GOLDEN = FIXTURES / "scenes" / "golden" / "golden_00_200x150.png"


@pytest.fixture(scope="module")
def built(small_model: SmallModel, tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, tuple[Hostile, Path, Path]]:
    """Every hostile model once: name -> (case, model path, the marker its payload writes)."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef.FromString(small_model.graph.read_bytes())
    made = {}
    for case in CORPUS:
        folder = tmp_path_factory.mktemp(case.name)
        marker = folder / "marker.txt"
        made[case.name] = (case, case.build(tf, graph_def, marker, folder), marker)
    return made


def run_unchecked(case: Hostile, path: Path) -> None:
    """What a plain script does with the file: TensorFlow alone, no allowlist."""
    import tensorflow as tf

    image = np.zeros((1, 40, 40, 3), np.uint8)
    if case.format == "frozen_graph":
        graph = tf.Graph()
        with graph.as_default():
            tf.compat.v1.import_graph_def(tf.compat.v1.GraphDef.FromString(path.read_bytes()),
                                          name="")
        with tf.compat.v1.Session(graph=graph) as session:
            session.run("SemanticPredictions:0", {"ImageTensor:0": image})
    else:
        tf.saved_model.load(str(path)).signatures["serving_default"](image=tf.constant(image))


def test_the_corpus_is_large_and_spans_every_format() -> None:
    assert len(CORPUS) >= 12
    assert {c.format for c in CORPUS} == {"frozen_graph", "saved_model", "tflite"}
    assert len({c.op for c in CORPUS}) >= 8  # far beyond WriteFile, ReadFile, MatchingFiles


def test_the_writers_really_write_when_tensorflow_runs_them_unchecked(
    built: dict[str, tuple[Hostile, Path, Path]], tmp_path: Path
) -> None:
    writers = [c for c in CORPUS if c.writes]
    assert len(writers) >= 6
    for case in writers:
        _, path, marker = built[case.name]
        run_unchecked(case, path)
        assert marker.exists(), f"{case.name}: the payload did not write {marker}"
        marker.unlink()


@pytest.mark.parametrize("name", [c.name for c in CORPUS])
def test_each_hostile_model_is_refused_before_it_runs_naming_the_op(
    built: dict[str, tuple[Hostile, Path, Path]], name: str
) -> None:
    case, path, marker = built[name]
    with pytest.raises(UnsafeModelError) as refused:
        load_predictor(f"hostile-{name}", path, case.format, input_tensor="ImageTensor:0",
                       output_tensor="SemanticPredictions:0", num_classes=6)
    message = str(refused.value)
    assert f"model hostile-{name}: refused before anything in it ran" in message
    assert case.op in refused.value.report.refused_types()
    assert f"- {case.op}:" in message  # the op, then the node (and function) that holds it
    assert "allow_ops = [" in message and f"[tool.pytest-deeplab.models.hostile-{name}]" in message
    assert not marker.exists()


def test_a_refused_model_fails_its_own_items_and_the_others_still_run(
    deeplab: DeepLabPytester, small_model: SmallModel,
    built: dict[str, tuple[Hostile, Path, Path]],
) -> None:
    hostile = ["graph-writefile-control-edge", "savedmodel-load-time-initializer",
               "tflite-flex-writefile"]
    models: dict[str, dict[str, Any]] = {"honest": small_model.model()}
    for name in hostile:
        case, path, _ = built[name]
        models[name] = small_model.model(path=path, format=case.format)
    deeplab.configure(models=models)
    written = deeplab.run("--deeplab-models=user", "-m", "deeplab_mask",
                          "--deeplab-update-golden")
    golden = deeplab.path / "deeplab-golden"
    assert sorted(p.name for p in golden.iterdir()) == ["honest"]  # nothing of theirs written
    assert written.ret == pytest.ExitCode.TESTS_FAILED
    junit = deeplab.path / "junit.xml"
    result = deeplab.run("--deeplab-models=user", "-m", "deeplab_mask", f"--junitxml={junit}")
    images = len(list(small_model.golden_images.glob("*.png")))
    result.assert_outcomes(passed=images, failed=images * len(hostile))
    out = result.stdout.str()
    for name in hostile:
        assert f"model {name}: refused before anything in it ran" in out
        assert not built[name][2].exists()
    assert "FlexWriteFile: operator" in out and "Flex ops run TensorFlow kernels" in out
    skipped = [c for c in ET.parse(junit).getroot().iter("testcase")
               if c.find("skipped") is not None]
    assert skipped == []  # a refusal is a failure, never a skip


def test_allow_ops_lets_exactly_the_named_op_through_and_says_so_everywhere(
    deeplab: DeepLabPytester, small_model: SmallModel,
    built: dict[str, tuple[Hostile, Path, Path]],
) -> None:
    _case, path, marker = built["graph-writefile-control-edge"]
    deeplab.configure(models={"trusted": small_model.model(path=path, allow_ops=["WriteFile"]),
                              "not-enough": small_model.model(path=built["graph-readfile"][1],
                                                              allow_ops=["WriteFile"])})
    junit, report = deeplab.path / "junit.xml", deeplab.path / "report.html"
    result = deeplab.run("--deeplab-models=user", "-m", "deeplab_mask", "--deeplab-update-golden",
                         f"--junitxml={junit}", f"--deeplab-report={report}")
    images = len(list(small_model.golden_images.glob("*.png")))
    result.assert_outcomes(passed=images, failed=images)
    assert marker.exists()  # the team allowed WriteFile for this one model: it ran
    marker.unlink()  # the other tests assert that refused runs leave no marker
    assert "model not-enough: refused" in result.stdout.str()  # ReadFile is still refused
    metadata = json.loads(next((deeplab.path / "deeplab-golden" / "trusted").glob("*.json"))
                          .read_text())
    assert metadata["allow_ops"] == ["WriteFile"]
    properties = {(p.get("name"), p.get("value")) for p in ET.parse(junit).getroot().iter(
        "property")}
    assert ("deeplab_allow_ops", "WriteFile") in properties
    assert "ops allowed outside the allowlist: WriteFile" in report.read_text()


def test_allow_ops_takes_op_names_only(deeplab: DeepLabPytester, small_model: SmallModel) -> None:
    deeplab.configure(models={"m": small_model.model(allow_ops="*")})
    result = deeplab.run("--deeplab-models=user")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "allow_ops must be a list of op names" in result.stderr.str()


def test_inspect_shows_the_verdict_and_the_ops_outside_the_allowlist(
    built: dict[str, tuple[Hostile, Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, path, _ = built["graph-library-function"]
    code = main(["inspect", str(path)])
    out = capsys.readouterr().out
    assert code == 1
    assert "refused before anything in it ran" in out
    assert "- WriteFile: node 'WriteFile' in function __inference_payload" in out
    assert main(["inspect", "mini_mnv2_os16"]) == 0
    assert "op allowlist   passed: 320 ops of 31 types" in capsys.readouterr().out


def test_explain_refuses_a_hostile_graph_on_both_sides(
    built: dict[str, tuple[Hostile, Path, Path]], capsys: pytest.CaptureFixture[str]
) -> None:
    _, path, marker = built["graph-writefile-control-edge"]
    assert not marker.exists()
    code = main(["explain", str(path), "--against", str(path), "--image", str(GOLDEN),
                 "--input-size", "257"])
    err = capsys.readouterr().err
    assert code == 2
    assert "WriteFile" in err and "allowlist" in err
    assert not marker.exists()


def saved_model_of_bundled_graph(graph: Path, folder: Path) -> Path:
    """The bundled frozen graph re-exported as a SavedModel, as a team moving to TF 2 would."""
    import tensorflow as tf

    graph_def = tf.compat.v1.GraphDef.FromString(graph.read_bytes())
    wrapped = tf.compat.v1.wrap_function(
        lambda: tf.compat.v1.import_graph_def(graph_def, name=""), [])
    pruned = wrapped.prune(wrapped.graph.get_tensor_by_name("ImageTensor:0"),
                           wrapped.graph.get_tensor_by_name("SemanticPredictions:0"))
    module = tf.Module()
    module.serve = tf.function(lambda image: {"mask": pruned(image)},
                               input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
    tf.saved_model.save(module, str(folder), signatures=module.serve)
    return folder


def keras_deeplab_like(tf: Any) -> Any:
    """Atrous separable convolutions, an ASPP with image pooling and a decoder: Keras layers."""
    keras = tf.keras
    inputs = keras.Input((65, 65, 3))
    low = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.SeparableConv2D(16, 3, strides=2, padding="same", activation="relu")(low)
    branches = [keras.layers.Conv2D(8, 1, activation="relu")(x)] + [
        keras.layers.SeparableConv2D(8, 3, dilation_rate=r, padding="same")(x) for r in (2, 3)]
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True)(x)
    pooled = keras.layers.UpSampling2D(17, interpolation="bilinear")(
        keras.layers.Conv2D(8, 1)(pooled))
    aspp = keras.layers.Concatenate()([*branches, pooled])
    up = keras.layers.Resizing(33, 33, interpolation="bilinear")(aspp)
    merged = keras.layers.Concatenate()([up, keras.layers.BatchNormalization()(low)])
    logits = keras.layers.Conv2D(6, 1)(keras.layers.DepthwiseConv2D(3, padding="same")(merged))
    return keras.Model(inputs, keras.layers.Resizing(65, 65)(logits))


def legitimate_models(tmp: Path, small_model: SmallModel) -> list[tuple[str, Path, str]]:
    import tensorflow as tf

    found = [(p.name, p, "tflite") for p in sorted((FIXTURES / "models").glob("*.tflite"))]
    for archive in sorted((FIXTURES / "models").glob("*.tar.gz")):
        with tarfile.open(archive) as tar:
            tar.extractall(tmp / archive.stem, filter="data")
        found += [(archive.name, p, "frozen_graph") for p in (tmp / archive.stem).rglob("*.pb")]
    found.append(("savedmodel-of-bundled-graph",
                  saved_model_of_bundled_graph(small_model.graph, tmp / "bundled_sm"),
                  "saved_model"))
    network = keras_deeplab_like(tf)
    network.export(str(tmp / "keras_sm"))
    found.append(("keras-deeplab-like (SavedModel)", tmp / "keras_sm", "saved_model"))
    tflite = tmp / "keras.tflite"
    tflite.write_bytes(tf.lite.TFLiteConverter.from_keras_model(network).convert())
    found.append(("keras-deeplab-like (TF Lite)", tflite, "tflite"))
    if REAL_ZOO.is_dir():
        found += [(p.name, p, "tflite") for p in sorted(REAL_ZOO.rglob("*.tflite"))]
        found += [(p.name, p, "frozen_graph") for p in sorted(REAL_ZOO.rglob("*.pb"))]
    return found


@requires_real_zoo
def test_no_legitimate_model_is_refused(tmp_path: Path, small_model: SmallModel) -> None:
    """Every bundled and real-zoo model, a SavedModel re-export of a bundled graph, and a
    Keras-built DeepLab-like network as a SavedModel and as TF Lite pass unchanged."""
    models = legitimate_models(tmp_path, small_model)
    assert len(models) >= 14
    for name, path, fmt in models:
        report = get_format(fmt).safety_report(path)
        assert report.ok, f"{name}: {[u.where() for u in report.refused]}"
        assert sum(report.ops.values()) > 0, name


def test_the_allowlist_holds_no_op_known_to_touch_files_or_run_code() -> None:
    known_bad = {
        "WriteFile", "ReadFile", "MatchingFiles", "Save", "SaveV2", "SaveSlices", "Restore",
        "RestoreV2", "RestoreSlice", "MergeV2Checkpoints", "Print", "PrintV2", "ImmutableConst",
        "PyFunc", "PyFuncStateless", "EagerPyFunc", "DebugIdentityV2", "DebugIdentityV3",
        "CreateSummaryFileWriter", "WriteSummary", "InitializeTableFromTextFile",
        "InitializeTableFromTextFileV2", "TFRecordDataset", "TFRecordDatasetV2",
        "WholeFileReaderV2", "TextLineReaderV2", "DecodeJpeg", "DecodePng", "Abort",
        "RemoteCall", "LoadAndRemapMatrix",
    }
    general = allowlist.allowed(allowlist.GENERAL)
    assert len(general) > 600
    assert not known_bad & general
    restore = allowlist.allowed(allowlist.RESTORE)
    assert "RestoreV2" in restore and "WriteFile" not in restore and "SaveV2" not in restore
    assert "RestoreV2" not in general and "SaveV2" not in general
    tflite = allowlist.allowed(allowlist.TFLITE)
    assert {"CONV_2D", "ARG_MAX", "RESIZE_BILINEAR"} <= tflite
    assert not {"CUSTOM", "DELEGATE", "STABLEHLO_CUSTOM_CALL"} & tflite
