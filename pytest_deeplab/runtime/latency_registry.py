"""Which latency probe reads which model format: the one place a new format plugs in.

Each entry opens a `runtime.latency_probe.LatencyProbe` for one model file, loading it through
the format's own loader (so the loader's checks apply): frozen graphs through
`registry.load_predictor`, TF Lite through `tflite_interpreter.create_interpreter`. The Keras
format adds `PROBES["keras"]` here, with a probe that times `model(x)` untraced and traces it
with the TensorFlow profiler.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.latency_probe import LatencyProbe

ProbeOpener = Callable[..., LatencyProbe]


def _open_graph(path: Path, **kwargs: Any) -> LatencyProbe:
    from pytest_deeplab.runtime.latency_probe_graph import GraphLatencyProbe

    return GraphLatencyProbe(path, **kwargs)


def _open_tflite(path: Path, **kwargs: Any) -> LatencyProbe:
    from pytest_deeplab.runtime.latency_probe_tflite import TFLiteLatencyProbe

    return TFLiteLatencyProbe(path, **kwargs)


# format -> opener(path, *, input_tensor, output_tensor, threads, image, xnnpack)
PROBES: dict[str, ProbeOpener] = {"frozen_graph": _open_graph, "tflite": _open_tflite}


def open_latency_probe(
    path: Path, fmt: str, *, input_tensor: str, output_tensor: str, threads: int | None,
    image: np.ndarray, xnnpack: bool = True,
) -> LatencyProbe:
    """The latency probe for one model file (loaded through the project's loaders)."""
    if not path.exists():
        raise ModelLoadError(f"model file {path} does not exist")
    opener = PROBES.get(fmt)
    if opener is None:
        raise ModelLoadError(f"{path}: explain --latency reads {', '.join(sorted(PROBES))} "
                             f"models, not {fmt!r}")
    return opener(path, input_tensor=input_tensor, output_tensor=output_tensor,
                  threads=threads, image=image, xnnpack=xnnpack)
