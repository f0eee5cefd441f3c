"""Every floating-point tensor a model computes on one image, written to .npy files in chunks.

`explain` compares two runs tensor by tensor. Holding all activations of a large graph at once
would take gigabytes (a 2049-px Xception), so a run is asked for a few tensors at a time: each
`dump(names, folder)` fetches only those tensors (one forward pass of a frozen graph per chunk),
writes each to its own .npy file and lets them go. The caller picks chunks from the byte sizes
`records()` reports.

Frozen graphs: the tensors are those of ops that depend on the image input (data edges) and feed
the output, in topological order (GraphDef order among ready ops); secondary outputs nothing
consumes (FusedBatchNorm's batch statistics) are left out, since Grappler may rewrite their op.
Fetching a tensor keeps Grappler from fusing its op away in that pass; both sides of a comparison
fetch the same chunks, so they are rewritten alike. The mask comes from a pass that fetches only
the output: plain inference, exactly as the suite runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def open_intermediates(
    path: Path, fmt: str, *, input_tensor: str | None, output_tensor: str | None,
    threads: int | None,
    image: np.ndarray, xnnpack: bool = True, unfused: bool = False,
    allow_ops: tuple[str, ...] = (), settings: Mapping[str, Any] | None = None,
) -> Any:
    """The intermediates of one model file on one image, through its format."""
    from pytest_deeplab.runtime.formats import format_of_file

    model_format = format_of_file(path, fmt)
    return model_format.intermediates(
        path, input_tensor=input_tensor, output_tensor=output_tensor, threads=threads,
        image=image, xnnpack=xnnpack, unfused=unfused, allow_ops=allow_ops, settings=settings)
