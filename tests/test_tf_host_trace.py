"""Reading TensorFlow's host trace: which events are ops, and raw bytes in string fields.

The XSpace here is written by hand, so the expected ops are known without running a model."""

from __future__ import annotations

import pytest

from pytest_deeplab.runtime.formats.keras_latency import layer_of

pytestmark = pytest.mark.needs_tf


def space_bytes(lines: dict[bytes, list[tuple[bytes, int, int]]], plane: bytes = b"/host:CPU"
                ) -> bytes:
    """A serialized XSpace with one plane: per thread line, (event name, offset ps, ps)."""
    from pytest_deeplab.runtime.tf_host_trace import _xspace_class

    space = _xspace_class()()
    host = space.planes.add(name=plane)
    ids: dict[bytes, int] = {}
    for line_id, (line_name, events) in enumerate(lines.items()):
        line = host.lines.add(id=line_id, name=line_name, timestamp_ns=1000 * line_id)
        for name, offset, duration in events:
            if name not in ids:
                ids[name] = len(ids) + 1
                host.event_metadata[ids[name]].id = ids[name]
                host.event_metadata[ids[name]].name = name
            line.events.add(metadata_id=ids[name], offset_ps=offset, duration_ps=duration)
    stat = host.stat_metadata[1]
    stat.id, stat.name = 1, b"\xff\xfe not UTF-8"  # what a strict parse refuses
    return bytes(space.SerializeToString())


def test_only_op_events_count_and_raw_bytes_do_not_stop_the_parse() -> None:
    from pytest_deeplab.runtime.tf_host_trace import op_events

    data = space_bytes({
        b"tf_Compute/1": [
            (b"ExecutorState::Process", 0, 9_000_000),
            (b"m_1/conv_1/convolution:Conv2D", 1_000_000, 2_500_000),
            (b"m_1/bn_1/batchnorm/mul:Mul#id=3#", 4_000_000, 500_000),
            (b"m_1/conv_1/convolution:Conv2D", 5_000_000, 1_500_000),
        ],
        b"python": [
            (b"EagerKernelExecute", 0, 20_000_000),
            (b"m_1/StatefulPartitionedCall:StatefulPartitionedCall", 0, 15_000_000),
            (b"ThreadpoolListener::StartRegion", 0, 1),
        ],
    })
    events = op_events(data)
    assert [(e.name, e.type, e.ms) for e in events] == [
        ("m_1/conv_1/convolution", "Conv2D", 0.0025),
        ("m_1/bn_1/batchnorm/mul", "Mul", 0.0005),
        ("m_1/conv_1/convolution", "Conv2D", 0.0015),
    ]


def test_a_device_plane_is_not_read_as_host_ops() -> None:
    from pytest_deeplab.runtime.tf_host_trace import op_events

    data = space_bytes({b"stream": [(b"m/conv:Conv2D", 0, 1_000_000)]}, plane=b"/device:GPU:0")
    assert op_events(data) == []


@pytest.mark.parametrize(("node", "layer"), [
    ("model_1/entry_conv1_1/convolution", "entry_conv1"),
    ("model_1/entry_conv1_bn_1/batchnorm/mul", "entry_conv1_bn"),
    ("model_1/layer_2_1/op", "layer_2"),  # a layer whose own name ends in _<n>
    ("model_1/Cast", ""),
])
def test_an_op_is_attributed_to_the_layer_its_name_scope_names(node: str, layer: str) -> None:
    layers = {"entry_conv1", "entry_conv1_bn", "layer_2", "logits"}
    assert layer_of(node, layers) == layer
