"""Open the latency probe of a model file: its format (runtime.formats) says which probe reads
it (`ModelFormat.latency_probe`), and loads the file through its own checked loader."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.latency_probe import LatencyProbe


def open_latency_probe(
    path: Path, fmt: str, *, input_tensor: str | None, output_tensor: str | None,
    threads: int | None, image: np.ndarray, xnnpack: bool = True,
    allow_ops: tuple[str, ...] = (), settings: Mapping[str, Any] | None = None,
) -> LatencyProbe:
    """The latency probe of one model file, opened by its format after the op allowlist check,
    with the model's own settings of its format (Keras' normalize, TF Lite's resize)."""
    from pytest_deeplab.runtime.formats import format_of_file

    model_format = format_of_file(path, fmt)
    probe: LatencyProbe = model_format.latency_probe(
        path, input_tensor=input_tensor, output_tensor=output_tensor, threads=threads,
        image=image, xnnpack=xnnpack, allow_ops=allow_ops, settings=settings)
    return probe
