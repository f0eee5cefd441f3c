"""Read a GraphDef from a file with an error that names it: shared by every reader of graphs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.tf import import_tensorflow


def read_graph_def(path: Path, name: str = "MODEL") -> Any:
    """Parse a GraphDef, turning protobuf's terse errors into one that names the file."""
    tf = import_tensorflow()
    graph_def = tf.compat.v1.GraphDef()
    data = path.read_bytes()
    try:
        graph_def.ParseFromString(data)
    except Exception as exc:  # protobuf raises DecodeError or RuntimeWarning-ish errors
        raise ModelLoadError(
            f"{path}: not a frozen TensorFlow graph ({type(exc).__name__}: {exc}); the file is "
            f"{len(data)} bytes. Is it truncated or corrupt? Delete it and fetch it again "
            f"(`pytest-deeplab fetch {name}`)."
        ) from None
    if not graph_def.node:
        raise ModelLoadError(f"{path}: the graph has no nodes (empty or not a GraphDef)")
    return graph_def
