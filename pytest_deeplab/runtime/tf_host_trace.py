"""TensorFlow's host profiler around one call: which TF ops ran, and for how long.

Eager TensorFlow has no `RunOptions(FULL_TRACE)`: a `tf.function` call returns no step stats.
Its host profiler (`tf.profiler.experimental`, host tracer level 2) does record every op kernel
the executor runs, as an event named `op_name:OpType` on the thread that ran it, in an XSpace
protobuf written when the trace stops. Those types are the graph's after Grappler's and oneDNN's
rewrites (`_FusedConv2D`...), the same vocabulary as the frozen-graph probe's step stats.

The XSpace is read with TensorFlow's own `xplane.proto`, its string fields read as bytes: the
profiler stores raw bytes in some of them, which the strict UTF-8 check of a plain parse refuses.
"""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.tf import import_tensorflow

# `name:Type`, with an optional `#key=value#` tail; `Class::Method` events are not ops
OP_EVENT = re.compile(rb"^([^:#\s][^:#]*):(_?[A-Z][A-Za-z0-9_]*)(?:#.*)?$")
CALLS = ("PartitionedCall", "StatefulPartitionedCall")  # hold other ops: not counted twice
XPLANE_MODULES = ("tensorflow.tsl.profiler.protobuf.xplane_pb2",
                  "tensorflow.core.profiler.protobuf.xplane_pb2",
                  "tsl.profiler.protobuf.xplane_pb2")


class HostTraceUnavailable(RuntimeError):
    """This TensorFlow cannot give op-level host traces (no profiler or no xplane.proto)."""


@dataclass
class OpEvent:
    name: str  # the op's node name in the function graph
    type: str  # its op type as it ran
    start_ps: int  # from the start of its thread's line, for ordering
    ms: float


@cache
def _xspace_class() -> Any:
    """XSpace from TensorFlow's xplane.proto, every string field turned to bytes."""
    import importlib

    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    module = None
    for name in XPLANE_MODULES:
        try:
            module = importlib.import_module(name)
            break
        except ImportError:
            continue
    if module is None:
        raise HostTraceUnavailable("this TensorFlow has no xplane.proto (looked for "
                                   + ", ".join(XPLANE_MODULES) + ")")
    proto = descriptor_pb2.FileDescriptorProto()
    module.DESCRIPTOR.CopyToProto(proto)
    proto.name = "pytest_deeplab_lenient_xplane.proto"

    def as_bytes(messages: Any) -> None:
        for message in messages:
            for fld in message.field:
                if fld.type == fld.TYPE_STRING:
                    fld.type = fld.TYPE_BYTES
            as_bytes(message.nested_type)

    as_bytes(proto.message_type)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(
        f"{proto.package}.XSpace"))


def check_available() -> None:
    """Raise HostTraceUnavailable, saying why, where op-level host traces cannot be read."""
    tf = import_tensorflow()
    if not hasattr(getattr(tf, "profiler", None), "experimental"):
        raise HostTraceUnavailable(f"TensorFlow {tf.__version__} has no tf.profiler.experimental")
    _xspace_class()


def op_events(data: bytes) -> list[OpEvent]:
    """The TF op events of a serialized XSpace, host plane only, in start order per thread."""
    space = _xspace_class()()
    space.ParseFromString(data)
    events: list[OpEvent] = []
    for plane in space.planes:
        if not plane.name.startswith(b"/host:"):
            continue
        metadata = plane.event_metadata
        for line in plane.lines:
            for event in line.events:
                match = OP_EVENT.match(metadata[event.metadata_id].name)
                if match is None or match.group(2).decode() in CALLS:
                    continue
                events.append(OpEvent(match.group(1).decode(errors="replace"),
                                      match.group(2).decode(),
                                      int(line.timestamp_ns) * 1000 + int(event.offset_ps),
                                      int(event.duration_ps) / 1e9))
    events.sort(key=lambda e: e.start_ps)
    return events


def trace_call(call: Callable[[], Any]) -> tuple[float, list[OpEvent]]:
    """`call()` under the host profiler: its wall time in seconds (profiler start and stop
    left out) and the TF ops it ran."""
    tf = import_tensorflow()
    options = tf.profiler.experimental.ProfilerOptions(
        host_tracer_level=2, python_tracer_level=0, device_tracer_level=0)
    with tempfile.TemporaryDirectory(prefix="pytest-deeplab-trace-") as folder:
        tf.profiler.experimental.start(folder, options=options)
        try:
            start = time.perf_counter()
            call()
            wall = time.perf_counter() - start
        finally:
            tf.profiler.experimental.stop()
        files = sorted(Path(folder).rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)
        if not files:
            raise HostTraceUnavailable("the profiler wrote no trace (no *.xplane.pb)")
        return wall, op_events(files[-1].read_bytes())
