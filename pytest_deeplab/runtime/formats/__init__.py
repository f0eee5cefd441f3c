"""Model formats: one `ModelFormat` subclass per kind of file, found through one registry.

    base.py          ModelFormat and LoadRequest: what a format owns
    frozen_graph.py  the zoo's frozen inference graphs
    saved_model.py   SavedModels with a serving signature
    tflite.py        TF Lite flatbuffers
    keras.py         Keras 3 .keras files (keras_safety.py: their config check; keras_inspect.py)
                     keras_latency.py: their latency probe (runtime/tf_host_trace.py)

Adding a format is a module here with a subclass, and its name in `_CLASSES` (see
docs/architecture.md, "How to add a model format"). Nothing outside this package compares
format names; it asks `get_format(name)` what the format can do.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from pytest_deeplab.errors import DeepLabError
from pytest_deeplab.runtime.formats.base import LoadRequest, ModelFormat
from pytest_deeplab.runtime.formats.frozen_graph import FrozenGraphFormat
from pytest_deeplab.runtime.formats.keras import KerasFormat
from pytest_deeplab.runtime.formats.saved_model import SavedModelFormat
from pytest_deeplab.runtime.formats.tflite import TFLiteFormat

_CLASSES: tuple[type[ModelFormat], ...] = (FrozenGraphFormat, TFLiteFormat, SavedModelFormat,
                                           KerasFormat)
FALLBACK = FrozenGraphFormat.name  # a file no format recognises is read as a frozen graph


class UnknownFormatError(DeepLabError, ValueError):
    """A `format = "..."` that no registered format has."""


@cache
def _registry() -> dict[str, ModelFormat]:
    return {cls.name: cls() for cls in _CLASSES}


def format_names() -> tuple[str, ...]:
    return tuple(_registry())


def get_format(name: str) -> ModelFormat:
    try:
        return _registry()[name]
    except KeyError:
        raise UnknownFormatError(
            f"unknown model format {name!r}: one of {', '.join(format_names())}"
        ) from None


def format_of_file(path: Path, fmt: str, who: str | None = None) -> ModelFormat:
    """The format that reads `path`, or a ModelLoadError naming the file (missing, or a format
    no one registered): what every entry point (load, inspect, explain) asks first."""
    from pytest_deeplab.runtime.base import ModelLoadError

    prefix = f"{who}: " if who else ""
    if not Path(path).exists():
        raise ModelLoadError(f"{prefix}model file {path} does not exist")
    try:
        return get_format(fmt)
    except UnknownFormatError as exc:
        raise ModelLoadError(f"{prefix or f'{path}: '}{exc}") from None


def own_settings(model: Any) -> dict[str, Any]:
    """A model's values of its format's own keys (Keras' normalize), for LoadRequest.settings
    and the workers that load it elsewhere."""
    return {key: getattr(model, key) for key in get_format(model.format).own_keys
            if hasattr(model, key)}


def guess_format(path: Path | str | None) -> str:
    """The format whose files look like `path` (a folder: SavedModel; else by suffix)."""
    if path is None:
        return FALLBACK
    for fmt in _registry().values():
        if fmt.recognises(Path(path)):
            return fmt.name
    return FALLBACK


__all__ = ["LoadRequest", "ModelFormat", "UnknownFormatError", "format_names", "format_of_file",
           "get_format", "guess_format", "own_settings"]
