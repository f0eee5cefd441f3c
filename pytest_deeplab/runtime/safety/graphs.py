"""Every op of a GraphDef or SavedModel, read from the protobuf before TensorFlow runs any of it.

Nodes of the graph and of every function in its library are listed. A function can be reached
in three ways besides a node whose op is its name: a `func` attribute (PartitionedCall, If,
While, ...) at any depth of an attribute, and a SavedModel's object graph (concrete functions,
resource initializers run by `tf.saved_model.load`). A `func` attribute may also name a plain op,
which TensorFlow then runs as a one-node function: that counts as a use of the op.

A SavedModel's checkpoint saver is the one place file ops belong: its MetaGraph's `saver_def`
names a restore op and a save tensor. Nodes that only those reach, and functions only they call,
are checked against the allowlist plus what a restore (or a save) needs; a node or function that
anything else reaches is checked against the plain allowlist.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.safety.findings import OpUse

GRAPH = "graph"
RESTORE = "restore"
SAVE = "save"
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def _base(name: str) -> str:
    return name.lstrip("^").split(":")[0]


def _called(attr_values: Iterable[Any]) -> Iterator[str]:
    """Function names in attributes, nested function attributes included."""
    for value in attr_values:
        kind = value.WhichOneof("value")
        if kind == "func":
            yield value.func.name
            yield from _called(value.func.attr.values())
        elif kind == "list":
            for func in value.list.func:
                yield func.name
                yield from _called(func.attr.values())


def _ancestors(roots: set[str], inputs: dict[str, list[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [r for r in roots if r in inputs]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(i for i in inputs.get(name, ()) if i not in seen and i in inputs)
    return seen


def _node_contexts(
    graph_def: Any, restore: str | None, save: str | None, general_nodes: Iterable[str]
) -> dict[str, frozenset[str]]:
    """Node name -> {"graph"} or the saver paths that alone reach it."""
    inputs = {n.name: [_base(i) for i in n.input] for n in graph_def.node}
    restore_side = _ancestors({restore} if restore else set(), inputs)
    save_side = _ancestors({save} if save else set(), inputs)
    others = (set(inputs) - restore_side - save_side) | set(general_nodes)
    general = _ancestors(others, inputs)
    contexts = {}
    for name in inputs:
        if name in general:
            contexts[name] = frozenset({GRAPH})
        else:
            paths = {RESTORE} if name in restore_side else set()
            contexts[name] = frozenset(paths | ({SAVE} if name in save_side else set()))
    return contexts


def graph_def_uses(
    graph_def: Any,
    *,
    restore: str | None = None,
    save: str | None = None,
    general_functions: Iterable[str] = (),
    general_nodes: Iterable[str] = (),
    prefix: str = "",
) -> list[OpUse]:
    """Every op use in `graph_def` and its library, each tagged with the context it runs in."""
    library = {f.signature.name: f for f in graph_def.library.function}
    everywhere = frozenset({GRAPH})
    node_ctx = (_node_contexts(graph_def, restore, save, general_nodes) if restore or save
                else dict.fromkeys((n.name for n in graph_def.node), everywhere))
    fn_ctx: dict[str, set[str]] = {name: set() for name in library}
    for name in general_functions:
        if name in fn_ctx:
            fn_ctx[name].add(GRAPH)
    nodes = list(graph_def.node)
    node_attr_calls = [list(_called(n.attr.values())) for n in nodes]
    bodies = {name: list(f.node_def) for name, f in library.items()}
    body_attr_calls = {name: [list(_called(n.attr.values())) for n in body]
                       for name, body in bodies.items()}

    def calls(node: Any, found: list[str]) -> list[str]:
        return [node.op, *found] if node.op in library else found

    for node, found in zip(nodes, node_attr_calls):
        for callee in calls(node, found):
            if callee in fn_ctx:
                fn_ctx[callee] |= node_ctx[node.name]
    callers = {name: [c for n, found in zip(body, body_attr_calls[name]) for c in calls(n, found)]
               for name, body in bodies.items()}
    changed = True
    while changed:  # a callee runs wherever its callers run
        changed = False
        for name, callees in callers.items():
            for callee in callees:
                if callee in fn_ctx and not fn_ctx[name] <= fn_ctx[callee]:
                    fn_ctx[callee] |= fn_ctx[name]
                    changed = True
    uses: list[OpUse] = []

    def add(node: Any, found: list[str], function: str | None, ctx: frozenset[str]) -> None:
        context = GRAPH if GRAPH in ctx or not ctx else "+".join(sorted(ctx))
        where = f"{prefix}{node.name}"
        if node.op not in library:
            uses.append(OpUse(node.op, where, function, context))
        uses.extend(OpUse(c, where, function, context) for c in found if c not in library)

    for node, found in zip(nodes, node_attr_calls):
        add(node, found, None, node_ctx[node.name])
    for name, body in bodies.items():
        ctx = frozenset(fn_ctx[name]) or everywhere  # called by nothing: strictest
        for node, found in zip(body, body_attr_calls[name]):
            add(node, found, f"function {prefix}{name}", ctx)
    return uses


def read_saved_model_protos(path: Path) -> list[tuple[str, Any]]:
    """Each `saved_model.pb(txt)` in the directory, parsed; TensorFlow's loader reads either."""
    from google.protobuf import text_format
    from tensorflow.core.protobuf import saved_model_pb2

    if not path.is_dir():
        raise ModelLoadError(f"{path}: a SavedModel is a directory holding saved_model.pb")
    if (path / "saved_model.cpb").exists():
        raise ModelLoadError(
            f"{path}: holds a chunked saved_model.cpb, which this check cannot read, so it is "
            "refused; re-export the model below 2 GB as saved_model.pb"
        )
    found = []
    for filename in SAVED_MODEL_FILES:
        file = path / filename
        if not file.exists():
            continue
        proto = saved_model_pb2.SavedModel()
        try:
            if filename.endswith(".pbtxt"):
                text_format.Parse(file.read_text(encoding="utf-8"), proto)
            else:
                proto.ParseFromString(file.read_bytes())
        except Exception as exc:  # protobuf's DecodeError / ParseError / UnicodeDecodeError
            raise ModelLoadError(
                f"{file}: not a readable SavedModel ({type(exc).__name__}: {exc}); fetch or "
                "export it again"
            ) from None
        found.append((filename, proto))
    if not found:
        raise ModelLoadError(
            f"{path}: not a loadable SavedModel (no saved_model.pb or saved_model.pbtxt in this "
            "directory); point path at the folder tf.saved_model.save wrote"
        )
    return found


def _object_graph_functions(meta_graph: Any) -> set[str]:
    """Functions the object graph names: `tf.saved_model.load` may call any of them."""
    graph = meta_graph.object_graph_def
    names = set(graph.concrete_functions)
    for obj in graph.nodes:
        kind = obj.WhichOneof("kind")
        if kind == "function":
            names.update(obj.function.concrete_functions)
        elif kind == "bare_concrete_function":
            names.add(obj.bare_concrete_function.concrete_function_name)
    return names


def _named_nodes(meta_graph: Any) -> set[str]:
    """Nodes that signatures and collections name: whatever they reach runs as the model, so
    a saver_def pointing at one of them gives it no saver privileges."""
    names: set[str] = set()
    for signature in meta_graph.signature_def.values():
        for info in (*signature.inputs.values(), *signature.outputs.values()):
            names.add(_base(info.name))
    for collection in meta_graph.collection_def.values():
        names.update(_base(n) for n in collection.node_list.value)
    return names


def saved_model_uses(path: Path) -> list[OpUse]:
    """Every op use of every MetaGraph in every SavedModel protobuf of the directory."""
    uses: list[OpUse] = []
    for filename, proto in read_saved_model_protos(path):
        for index, meta_graph in enumerate(proto.meta_graphs):
            saver = meta_graph.saver_def if meta_graph.HasField("saver_def") else None
            uses += graph_def_uses(
                meta_graph.graph_def,
                restore=_base(saver.restore_op_name) if saver and saver.restore_op_name else None,
                save=_base(saver.save_tensor_name) if saver and saver.save_tensor_name else None,
                general_functions=_object_graph_functions(meta_graph),
                general_nodes=_named_nodes(meta_graph),
                prefix=f"{filename}#{index}:" if len(proto.meta_graphs) > 1 or filename.endswith(
                    "txt") else "",
            )
    return uses
