"""The only place TensorFlow is imported, and only when a model is actually loaded.

`pytest --help` and unrelated test runs must not pay TensorFlow's import (seconds), so nothing
here imports it at module level; `load_predictor` does, on first use.

    formats/       one ModelFormat class per kind of model file, and the registry of them
    safety/        the op allowlist every file passes before anything of it runs
    registry.py    load_predictor: a model file through its format
    frozen_graph.py, saved_model.py, tflite.py   the predictors the formats build
    tflite_*.py    the TF Lite interpreter, its inputs/outputs, the damaged-file probe
    identity.py    RuntimeIdentity: the one schema of "which TensorFlow ran this"
    inspection.py  model files measured for model cards (graph_inspect.py, tflite_inspect.py)
    intermediates.py  every intermediate tensor on one image, for `explain`
    compat.py      can this TensorFlow load this graph at all (ops it lacks)
"""

from __future__ import annotations

from pytest_deeplab.runtime.base import ModelLoadError, Predictor, RuntimeIdentity
from pytest_deeplab.runtime.identity import runtime_identity
from pytest_deeplab.runtime.registry import load_predictor

__all__ = ["ModelLoadError", "Predictor", "RuntimeIdentity", "load_predictor", "runtime_identity"]
