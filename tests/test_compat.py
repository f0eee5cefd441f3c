"""Pre-flight compatibility: a graph's ops, attributes and GraphDef versions against this TF."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import SmallModel

from pytest_deeplab.runtime.compat import check_graph_def, check_graph_file

pytestmark = pytest.mark.needs_tf


@pytest.fixture
def graph_def(small_model: SmallModel) -> Any:
    import tensorflow as tf

    graph = tf.compat.v1.GraphDef()
    graph.ParseFromString(small_model.graph.read_bytes())
    return graph


def test_a_bundled_graph_passes_and_the_answer_is_plain_data(small_model: SmallModel) -> None:
    import tensorflow as tf

    report = check_graph_file(small_model.graph)
    assert json.loads(json.dumps(report)) == report  # a worker can send it as it is
    assert report["ok"] and report["problems"] == []
    assert report["tensorflow"] == tf.__version__
    assert report["graph_def_version"] == tf.version.GRAPH_DEF_VERSION
    assert report["nodes"] > 300


def test_an_unknown_op_is_one_line_with_its_node_count(graph_def: Any) -> None:
    import tensorflow as tf

    renamed = [n for n in graph_def.node if n.op == "DepthwiseConv2dNative"]
    for node in renamed:
        node.op = "DepthwiseConv2dNativeV9"
    report = check_graph_def(graph_def, "model.pb")
    assert not report.ok
    assert report.missing_ops == {"DepthwiseConv2dNativeV9": len(renamed)}
    (line,) = report.problems
    assert line.startswith(f"op DepthwiseConv2dNativeV9 is not registered in TensorFlow "
                           f"{tf.__version__}: {len(renamed)} nodes (e.g. '")


def test_an_attribute_this_tf_lacks_is_named(graph_def: Any) -> None:
    convs = [n for n in graph_def.node if n.op == "Conv2D"]
    for node in convs[:3]:
        node.attr["winograd_mode"].s = b"auto"
    report = check_graph_def(graph_def)
    assert report.unknown_attrs == {"Conv2D.winograd_mode": 3}
    assert "op Conv2D: attribute 'winograd_mode' is unknown to TensorFlow" in report.problems[0]
    assert "3 nodes" in report.problems[0]


def test_a_missing_required_attribute_is_named(graph_def: Any) -> None:
    pad = next(n for n in graph_def.node if n.op == "Pad")
    del pad.attr["T"]
    report = check_graph_def(graph_def)
    assert any("op Pad: TensorFlow" in p and "requires attribute 'T'" in p
               for p in report.problems)


def test_graph_def_versions_are_held_to_this_tf(graph_def: Any) -> None:
    import tensorflow as tf

    graph_def.versions.min_consumer = tf.version.GRAPH_DEF_VERSION + 7
    graph_def.versions.producer = tf.version.GRAPH_DEF_VERSION + 7
    report = check_graph_def(graph_def, "new.pb")
    assert any(f">= {tf.version.GRAPH_DEF_VERSION + 7}" in p and "newer TensorFlow" in p
               for p in report.problems)
    assert any("produced by a newer TensorFlow" in n for n in report.notes)
    graph_def.versions.min_consumer = 0
    graph_def.versions.bad_consumers.append(tf.version.GRAPH_DEF_VERSION)
    assert any("bad consumer" in p for p in check_graph_def(graph_def).problems)


def test_the_real_dm05_graph_passes(tmp_path: Path) -> None:
    from conftest import REAL_DM05

    if not REAL_DM05.is_file():
        pytest.skip(f"{REAL_DM05} is not on this machine")
    report = check_graph_file(REAL_DM05)
    assert report["ok"] and report["producer"] == 0  # exported without a producer version


def test_loading_a_graph_this_tensorflow_cannot_read_names_every_reason_first(
    graph_def: Any, tmp_path: Path
) -> None:
    """The pre-flight runs inside the load (suite, gate workers, explain), before a session is
    built: the gate names such a model with the reason before any timing starts."""
    from pytest_deeplab.runtime import ModelLoadError, load_predictor

    convs = [n for n in graph_def.node if n.op == "Conv2D"]
    for node in convs[:2]:
        node.attr["padding_mode_from_the_future"].s = b"reflect"
    graph_def.versions.min_consumer = graph_def.versions.producer + 100_000
    path = tmp_path / "frozen_inference_graph.pb"
    path.write_bytes(graph_def.SerializeToString())
    with pytest.raises(ModelLoadError) as failed:
        load_predictor("future", path, "frozen_graph")
    message = str(failed.value)
    assert message.startswith("model future: TensorFlow ")
    assert "attribute 'padding_mode_from_the_future' is unknown" in message
    assert "2 nodes" in message
    assert "needs a consumer of GraphDef version" in message
