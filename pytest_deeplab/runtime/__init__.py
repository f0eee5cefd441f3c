"""The only place TensorFlow is imported, and only when a model is actually loaded.

`pytest --help` and unrelated test runs must not pay TensorFlow's import (seconds), so nothing
here imports it at module level; `load_predictor` does, on first use.
"""

from __future__ import annotations

from pytest_deeplab.runtime.base import ModelLoadError, Predictor, RuntimeIdentity
from pytest_deeplab.runtime.identity import runtime_identity
from pytest_deeplab.runtime.registry import load_predictor

__all__ = ["ModelLoadError", "Predictor", "RuntimeIdentity", "load_predictor", "runtime_identity"]
