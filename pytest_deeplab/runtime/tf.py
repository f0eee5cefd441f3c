"""Lazy TensorFlow import with a message a user can act on."""

from __future__ import annotations

import os
from typing import Any

from pytest_deeplab.runtime.base import ModelLoadError


def import_tensorflow() -> Any:
    """Import TensorFlow quietly (its C++ banner drowns the report), or say how to get it."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow as tf
    except ImportError as exc:
        raise ModelLoadError(
            f"TensorFlow is not importable ({exc}). Install the version you want to test, e.g. "
            "`pip install tensorflow-cpu==2.21.*`, or `pip install pytest-deeplab[tf]`."
        ) from None
    return tf


def session_config(threads: int | None) -> Any:
    """ConfigProto with pinned thread pools: thread counts change timings and must be explicit."""
    tf = import_tensorflow()
    config = tf.compat.v1.ConfigProto()
    if threads:
        config.intra_op_parallelism_threads = threads
        config.inter_op_parallelism_threads = 1
    return config
