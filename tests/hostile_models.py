"""Hostile model files, built by the tests themselves: each touches files in its own way.

Every frozen graph here is the bundled `mini_mnv2_os16` graph plus something the runtime would
execute on every prediction (a control edge into `SemanticPredictions`, a library function, an
op named as a function), so its masks are the honest model's. SavedModels put the payload in the
serving function, a load-time resource initializer, a `.pbtxt` instead of a `.pb`, or the
checkpoint saver's restore function. TF Lite files carry custom operators (Flex ops run
TensorFlow kernels). `marker` is the file a payload would write: a refused model never writes it.
Nothing here comes from pytest_deeplab: the corpus is plain TensorFlow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Hostile:
    name: str
    format: str
    op: str  # the op type the refusal must name
    build: Callable[[Any, Any, Path, Path], Path]  # (tf, small graph_def, marker, folder) -> path
    writes: bool  # the payload writes `marker` when run unchecked


def _graph_with(tf: Any, graph_def: Any, payload: Callable[[Any], Any]) -> Any:
    """The honest graph plus `payload`, run on every prediction through a control edge."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
        op = payload(tf)
    hostile = graph.as_graph_def()
    out = next(n for n in hostile.node if n.name == "SemanticPredictions")
    out.input.append("^" + (op.op.name if hasattr(op, "op") else op.name))
    return hostile


def _frozen(payload: Callable[[Any, Path], Any]) -> Callable[[Any, Any, Path, Path], Path]:
    def build(tf: Any, graph_def: Any, marker: Path, folder: Path) -> Path:
        path = folder / "frozen_inference_graph.pb"
        path.write_bytes(_graph_with(tf, graph_def, lambda t: payload(t, marker))
                         .SerializeToString())
        return path
    return build


def _library_function(tf: Any, marker: Path) -> Any:
    @tf.function
    def payload() -> Any:
        tf.io.write_file(str(marker), "written by a function in the graph's library")
        return tf.constant(0)
    return payload()


def _op_as_function(tf: Any, graph_def: Any, marker: Path, folder: Path) -> Path:
    """A StatefulPartitionedCall whose `f` names the op WriteFile itself, not a library
    function: TensorFlow instantiates a plain op as a one-node function."""
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(graph_def, name="")
        tf.constant(str(marker), name="marker_path")
        tf.constant("written by an op called as a function", name="marker_text")
    hostile = graph.as_graph_def()
    call = hostile.node.add(name="call_op", op="StatefulPartitionedCall")
    call.input.extend(["marker_path", "marker_text"])
    call.attr["f"].func.name = "WriteFile"
    call.attr["Tin"].list.type.extend([tf.string.as_datatype_enum] * 2)
    call.attr["Tout"].list.SetInParent()
    out = next(n for n in hostile.node if n.name == "SemanticPredictions")
    out.input.append("^call_op")
    path = folder / "frozen_inference_graph.pb"
    path.write_bytes(hostile.SerializeToString())
    return path


def _saved(kind: str) -> Callable[[Any, Any, Path, Path], Path]:
    def build(tf: Any, graph_def: Any, marker: Path, folder: Path) -> Path:
        path = folder / "saved_model"
        module = _module(tf, kind, marker)
        tf.saved_model.save(module, str(path), signatures=module.serve)
        if kind == "pbtxt":
            _as_pbtxt(path)
        elif kind == "restore":
            _poison_restore(tf, path, marker)
        elif kind == "saver_hijack":
            _hijack_saver(path)
        return path
    return build


def _module(tf: Any, kind: str, marker: Path) -> Any:
    class Segmenter(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = tf.Variable(tf.ones([1, 1, 3, 4]))
            if kind == "init":
                self.resource = _WritesOnLoad(tf, marker)

        @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.uint8)])
        def serve(self, image: Any) -> Any:
            logits = tf.nn.conv2d(tf.cast(image, tf.float32), self.w, 1, "SAME")
            mask = tf.argmax(logits, -1)
            if kind in ("serving", "pbtxt"):
                with tf.control_dependencies([tf.io.write_file(str(marker), "serving")]):
                    mask = tf.identity(mask)
            if kind == "matching":
                found = tf.size(tf.io.matching_files("/etc/*"))
                mask = mask + tf.cast(found, tf.int64) * 0
            if kind == "init":
                mask = mask + tf.cast(self.resource.resource_handle is not None, tf.int64) * 0
            return {"mask": mask}
    return Segmenter()


def _WritesOnLoad(tf: Any, marker: Path) -> Any:
    class WritesOnLoad(tf.saved_model.experimental.TrackableResource):
        def _create_resource(self) -> Any:
            return tf.raw_ops.VarHandleOp(dtype=tf.float32, shape=[], shared_name="w")

        def _initialize(self) -> Any:
            return tf.io.write_file(str(marker), "written while tf.saved_model.load ran")
    return WritesOnLoad()


def _as_pbtxt(path: Path) -> None:
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    (path / "saved_model.pbtxt").write_text(text_format.MessageToString(proto))
    (path / "saved_model.pb").unlink()


def _edit(path: Path, change: Callable[[Any], None]) -> None:
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((path / "saved_model.pb").read_bytes())
    change(proto.meta_graphs[0])
    (path / "saved_model.pb").write_bytes(proto.SerializeToString())


def _poison_restore(tf: Any, path: Path, marker: Path) -> None:
    """A WriteFile inside the saver's restore function, which tf.saved_model.load runs."""
    def change(meta: Any) -> None:
        restore = next(f for f in meta.graph_def.library.function
                       if "_traced_restore" in f.signature.name)
        for name, value in (("marker_path", str(marker)), ("marker_text", "restore")):
            node = restore.node_def.add(name=name, op="Const")
            node.attr["dtype"].type = tf.string.as_datatype_enum
            node.attr["value"].tensor.dtype = tf.string.as_datatype_enum
            node.attr["value"].tensor.string_val.append(value.encode())
        write = restore.node_def.add(name="write_marker", op="WriteFile")
        write.input.extend(["marker_path:output:0", "marker_text:output:0"])
        restore.control_ret["write_marker"] = "write_marker"
        restore.signature.control_output.append("write_marker")
    _edit(path, change)


def _hijack_saver(path: Path) -> None:
    """saver_def names the serving node as the restore op, hoping to lend it saver privileges;
    the serving function reads a checkpoint (RestoreV2) into the mask."""
    def change(meta: Any) -> None:
        output = meta.signature_def["serving_default"].outputs["mask"].name
        meta.saver_def.restore_op_name = output.split(":")[0]
        serving = next(f for f in meta.graph_def.library.function
                       if f.signature.name.startswith("__inference_serve"))
        node = serving.node_def.add(name="restored", op="RestoreV2")
        node.input.extend(["prefix:output:0"])
    _edit(path, change)


def _tflite_custom(custom: str) -> Callable[[Any, Any, Path, Path], Path]:
    def build(tf: Any, graph_def: Any, marker: Path, folder: Path) -> Path:
        import flatbuffers
        import numpy as np
        from tensorflow.lite.python import schema_py_generated as schema

        @tf.function(input_signature=[tf.TensorSpec([1, 33, 33, 3], tf.float32)])
        def net(x: Any) -> Any:
            w = tf.constant(np.linspace(-1, 1, 3 * 4, dtype=np.float32).reshape(1, 1, 3, 4))
            return tf.nn.relu(tf.nn.conv2d(x, w, 1, "SAME"))
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [net.get_concrete_function()], net)
        data = converter.convert()
        model = schema.ModelT.InitFromPackedBuf(bytearray(data), 0)
        code = schema.OperatorCodeT()
        code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
        code.customCode = custom
        code.version = 1
        model.operatorCodes.append(code)
        model.subgraphs[0].operators[-1].opcodeIndex = len(model.operatorCodes) - 1
        builder = flatbuffers.Builder(len(data) + 1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        path = folder / f"model_{custom}.tflite"
        path.write_bytes(bytes(builder.Output()))
        return path
    return build


CORPUS = [
    Hostile("graph-writefile-control-edge", "frozen_graph", "WriteFile",
            _frozen(lambda tf, m: tf.io.write_file(str(m), "control edge")), True),
    Hostile("graph-readfile", "frozen_graph", "ReadFile",
            _frozen(lambda tf, m: tf.io.read_file("/etc/hostname")), False),
    Hostile("graph-matchingfiles", "frozen_graph", "MatchingFiles",
            _frozen(lambda tf, m: tf.io.matching_files("/etc/*")), False),
    Hostile("graph-print-to-file", "frozen_graph", "PrintV2",
            _frozen(lambda tf, m: tf.print("printed", output_stream=f"file://{m}")), True),
    Hostile("graph-checkpoint-save", "frozen_graph", "Save",
            _frozen(lambda tf, m: tf.raw_ops.Save(filename=str(m), tensor_names=["leak"],
                                                  data=[tf.constant(1.0)])), True),
    Hostile("graph-library-function", "frozen_graph", "WriteFile",
            _frozen(_library_function), True),
    Hostile("graph-op-called-as-function", "frozen_graph", "WriteFile",
            _op_as_function, False),
    Hostile("graph-immutable-const", "frozen_graph", "ImmutableConst",
            _frozen(lambda tf, m: tf.raw_ops.ImmutableConst(
                dtype=tf.float32, shape=[1], memory_region_name="/etc/hostname")), False),
    Hostile("savedmodel-serving-write", "saved_model", "WriteFile", _saved("serving"), True),
    Hostile("savedmodel-load-time-initializer", "saved_model", "WriteFile", _saved("init"), True),
    Hostile("savedmodel-pbtxt", "saved_model", "WriteFile", _saved("pbtxt"), True),
    Hostile("savedmodel-matchingfiles", "saved_model", "MatchingFiles", _saved("matching"), False),
    Hostile("savedmodel-restore-function", "saved_model", "WriteFile", _saved("restore"), False),
    Hostile("savedmodel-saver-hijack", "saved_model", "RestoreV2", _saved("saver_hijack"), False),
    Hostile("tflite-flex-writefile", "tflite", "FlexWriteFile", _tflite_custom("FlexWriteFile"),
            False),
    Hostile("tflite-flex-readfile", "tflite", "FlexReadFile", _tflite_custom("FlexReadFile"),
            False),
    Hostile("tflite-custom-op", "tflite", "MyFileLogger", _tflite_custom("MyFileLogger"), False),
]
