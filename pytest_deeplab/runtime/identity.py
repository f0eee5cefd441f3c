"""Which TensorFlow runs the models, in the one schema every record uses.

`RuntimeIdentity` (TF version and git build, oneDNN on or off and why, threads, the TF Lite
interpreter and XNNPACK) is what golden metadata, saved benchmark runs, gate rows, results files
and reports carry, so two runs are comparable key by key. `installed_identity` gives the same
keys without importing TensorFlow, for runs that loaded no model.
"""

from __future__ import annotations

import os
import sys
from importlib import metadata
from typing import Any

from pytest_deeplab.constants import KERAS_DISTRIBUTIONS
from pytest_deeplab.runtime.base import RuntimeIdentity

ONEDNN_ENV = "TF_ENABLE_ONEDNN_OPTS"
TF_DISTRIBUTIONS = ("tensorflow", "tensorflow-cpu", "tensorflow-intel", "tensorflow-macos")
IDENTITY_KEYS = tuple(RuntimeIdentity.__dataclass_fields__)


def onednn_setting() -> tuple[bool | None, str]:
    """Whether oneDNN kernels are on, and who decided.

    The environment variable decides when set. Otherwise TensorFlow's default depends on the
    build and the CPU (TF 2.21 leaves oneDNN off on x86 CPUs without AVX-512), so only an
    imported TensorFlow can say; before that the answer is unknown (None), never a guess.
    """
    value = os.environ.get(ONEDNN_ENV)
    if value is not None:
        return value.strip().lower() in ("1", "true", "yes", "on"), ONEDNN_ENV
    if "tensorflow" not in sys.modules:
        return None, "default (unknown until TensorFlow is imported)"
    return onednn_active(), "default"


def onednn_active() -> bool | None:
    """What the imported TensorFlow reports about its oneDNN kernels (None if it cannot say)."""
    from pytest_deeplab.runtime.tf import import_tensorflow

    import_tensorflow()
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    probe = getattr(_pywrap_util_port, "IsMklEnabled", None)
    return bool(probe()) if probe is not None else None


def runtime_identity(threads: int | None = None, xnnpack: bool = True) -> RuntimeIdentity:
    """The identity of this process's TensorFlow (imports it). `xnnpack` is the run's setting
    (--deeplab-no-xnnpack turns it off); a model may turn it off for itself, which its own
    runtime record says."""
    from pytest_deeplab.runtime.tf import import_tensorflow
    from pytest_deeplab.runtime.tflite_interpreter import interpreter_label

    tf = import_tensorflow()
    onednn, source = onednn_setting()
    return RuntimeIdentity(
        tensorflow=str(tf.__version__),
        tensorflow_git=str(getattr(tf.version, "GIT_VERSION", "")),
        onednn=onednn,
        onednn_source=source,
        intra_op_threads=threads or 0,
        inter_op_threads=1 if threads else 0,
        tflite_runtime=interpreter_label(),
        tflite_xnnpack=xnnpack,
        keras=keras_version(),
    )


def keras_version() -> str:
    """The version of the Keras `import keras` gets, from metadata (nothing imported); "" when
    none is installed. tf-nightly brings keras-nightly, which installs the same `keras`
    package under another name: its version is shown with that name, so a bisection or a gate
    table tells a nightly Keras from a release."""
    for distribution in KERAS_DISTRIBUTIONS:
        version = _installed(distribution)
        if version:
            release = distribution == KERAS_DISTRIBUTIONS[0]
            return version if release else f"{version} ({distribution})"
    return ""


def _installed(distribution: str) -> str:
    """A distribution's version from its metadata (nothing imported), "" when absent."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return ""


def tensorflow_distribution() -> tuple[str | None, str | None]:
    """(distribution name, version) of the installed TensorFlow, without importing it."""
    for name in TF_DISTRIBUTIONS:
        try:
            return name, metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None, None


def installed_identity(session: Any = None, threads: int | None = None,
                       xnnpack: bool = True) -> dict[str, Any]:
    """`RuntimeIdentity`'s keys plus `distribution` and `imported`, never importing TensorFlow.

    A session that ran a model (here or on an xdist worker) is asked; else an already imported
    TensorFlow; else the installed distribution's metadata, with oneDNN unknown.
    """
    distribution, version = tensorflow_distribution()
    onednn, source = onednn_setting()
    ident: dict[str, Any] = {
        "tensorflow": version, "tensorflow_git": None, "onednn": onednn, "onednn_source": source,
        "intra_op_threads": threads or 0, "inter_op_threads": 1 if threads else 0,
        "tflite_runtime": None, "tflite_xnnpack": xnnpack, "keras": keras_version(),
    }
    if session is not None and getattr(session, "any_model_loaded", False):
        ident.update({k: v for k, v in session.run_identity().items() if k in IDENTITY_KEYS})
    elif "tensorflow" in sys.modules:
        ident.update(runtime_identity(threads, xnnpack).as_dict())
    ident.update(distribution=distribution, imported="tensorflow" in sys.modules)
    return ident
