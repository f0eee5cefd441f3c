"""Load a model file through its format (runtime.formats), the allowlist check first."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.base import Predictor
from pytest_deeplab.runtime.formats.base import LoadRequest


def load_predictor(
    name: str,
    path: Path,
    fmt: str,
    *,
    input_tensor: str | None = None,
    output_tensor: str | None = None,
    threads: int | None = None,
    xnnpack: bool = True,
    resize: str = "pad",
    label_set: str | None = None,
    num_classes: int | None = None,
    allow_ops: tuple[str, ...] = (),
    settings: Mapping[str, Any] | None = None,
) -> Predictor:
    """Load one model file; TensorFlow (or LiteRT) is imported here, on first use.

    `num_classes` (the label set's) is checked against a logits output's channel count;
    `xnnpack` and `resize` concern TF Lite models only. Every loader holds the file against
    the op allowlist (runtime.safety) before any of it reaches TensorFlow; `allow_ops` are the
    model's own named exceptions.
    """
    from pytest_deeplab.runtime.formats import format_of_file

    model_format = format_of_file(path, fmt, name)
    return model_format.load(LoadRequest(
        name=name, path=path, input_tensor=input_tensor, output_tensor=output_tensor,
        threads=threads, xnnpack=xnnpack, resize=resize, label_set=label_set,
        num_classes=num_classes, allow_ops=allow_ops, settings=dict(settings or {}),
    ))
