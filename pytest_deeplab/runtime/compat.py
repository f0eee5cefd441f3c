"""Pre-flight: can the running TensorFlow import this frozen graph at all?

Graph exported with a newer TensorFlow fail late and cryptically (`NodeDef mentions attr 'x' not
in Op`, a protobuf error, an op "not registered"). This check reads the GraphDef and holds every
node's op type and attributes against the running TensorFlow's op registry, and the GraphDef's
producer / min_consumer versions against the running TensorFlow's, before any session is built.
It returns plain data (JSON-able), so a worker in another interpreter can run it and send the
answer back; each problem is one line naming the op, how many nodes use it and the TF version.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.tf import import_tensorflow

# Attributes TensorFlow adds or tolerates on any node without its OpDef declaring them.
_INTERNAL_ATTR_PREFIX = "_"


@dataclass
class CompatReport:
    """What the running TensorFlow lacks for one graph; `problems` empty means it can import."""

    path: str
    tensorflow: str
    graph_def_version: int
    graph_min_producer: int
    producer: int
    min_consumer: int
    nodes: int
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    missing_ops: dict[str, int] = field(default_factory=dict)
    unknown_attrs: dict[str, int] = field(default_factory=dict)  # "Op.attr" -> nodes

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def check_graph_file(path: str | Path) -> dict[str, Any]:
    """Check a frozen graph file against this TensorFlow; plain data for a worker's reply."""
    from pytest_deeplab.runtime.graph_def import read_graph_def

    graph_def = read_graph_def(Path(path))
    return check_graph_def(graph_def, str(path)).as_dict()


def check_graph_def(graph_def: Any, path: str = "<graph>") -> CompatReport:
    """Op types, attributes and GraphDef versions against the running TensorFlow."""
    tf = import_tensorflow()
    from tensorflow.python.framework import op_def_registry

    report = CompatReport(
        path=path,
        tensorflow=str(tf.__version__),
        graph_def_version=int(tf.version.GRAPH_DEF_VERSION),
        graph_min_producer=int(tf.version.GRAPH_DEF_VERSION_MIN_PRODUCER),
        producer=int(graph_def.versions.producer),
        min_consumer=int(graph_def.versions.min_consumer),
        nodes=len(graph_def.node),
    )
    _check_versions(report, [int(v) for v in graph_def.versions.bad_consumers])
    functions = {f.signature.name for f in graph_def.library.function}
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    _check_nodes(report, nodes, op_def_registry.get, functions)
    return report


def _check_versions(report: CompatReport, bad_consumers: list[int]) -> None:
    """The same rules TensorFlow applies when it imports a GraphDef (versions.cc)."""
    tf_name = f"TensorFlow {report.tensorflow}"
    if report.min_consumer > report.graph_def_version:
        report.problems.append(
            f"{report.path}: the graph needs a consumer of GraphDef version "
            f">= {report.min_consumer}; {tf_name} reads version {report.graph_def_version}. "
            "Run it with a newer TensorFlow, or re-export it with this one."
        )
    if report.producer < report.graph_min_producer:
        report.problems.append(
            f"{report.path}: the graph's producer version {report.producer} is older than "
            f"{tf_name} still reads (>= {report.graph_min_producer}); re-export it."
        )
    if report.graph_def_version in bad_consumers:
        report.problems.append(
            f"{report.path}: the graph declares GraphDef version {report.graph_def_version} "
            f"({tf_name}) a bad consumer; run it with another TensorFlow."
        )
    if report.producer > report.graph_def_version:
        report.notes.append(
            f"the graph was produced by a newer TensorFlow (GraphDef version {report.producer} > "
            f"{report.graph_def_version} of {tf_name}): ops or attributes may be missing"
        )


def _check_nodes(
    report: CompatReport, nodes: list[Any], lookup: Callable[[str], Any], functions: set[str]
) -> None:
    tf_name = f"TensorFlow {report.tensorflow}"
    missing: dict[str, list[str]] = {}
    unknown: dict[tuple[str, str], list[str]] = {}
    required: dict[tuple[str, str], list[str]] = {}
    for node in nodes:
        if node.op in functions:
            continue
        op_def = lookup(node.op)
        if op_def is None:
            missing.setdefault(node.op, []).append(node.name)
            continue
        declared = {a.name: a for a in op_def.attr}
        for key in node.attr:
            if key not in declared and not key.startswith(_INTERNAL_ATTR_PREFIX):
                unknown.setdefault((node.op, key), []).append(node.name)
        for name, attr in declared.items():
            if name not in node.attr and not attr.HasField("default_value"):
                required.setdefault((node.op, name), []).append(node.name)
    for op, names in sorted(missing.items()):
        report.missing_ops[op] = len(names)
        report.problems.append(
            f"op {op} is not registered in {tf_name}: {_nodes(names)} use it"
        )
    for (op, key), names in sorted(unknown.items()):
        report.unknown_attrs[f"{op}.{key}"] = len(names)
        report.problems.append(
            f"op {op}: attribute '{key}' is unknown to {tf_name}: {_nodes(names)} set it "
            "(the graph was likely exported with a newer TensorFlow)"
        )
    for (op, key), names in sorted(required.items()):
        report.problems.append(
            f"op {op}: {tf_name} requires attribute '{key}', which {_nodes(names)} lack"
        )


def _nodes(names: list[str]) -> str:
    count = f"{len(names)} node{'s' if len(names) != 1 else ''}"
    return f"{count} (e.g. '{names[0]}')"
