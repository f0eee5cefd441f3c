"""One recorded intermediate tensor, and how its value is kept on disk (shared by the frozen
graph and TF Lite recorders)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass
class TensorRecord:
    """One tensor of the run: where it comes from and how big it is (plain data)."""

    name: str  # tensor name (frozen graph "node:0"; TF Lite its tensor name)
    op: str  # the node that computes it
    type: str  # that node's op type
    dtype: str  # as computed (dumps are floating point: dequantized where quantized)
    shape: list[int]
    bytes: int  # size of the dumped float array
    kernel: str = ""  # what really ran: e.g. _FusedConv2D(BiasAdd,Relu6) (frozen graphs)
    fused: list[str] = field(default_factory=list)  # ops absorbed into this one by fusion

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def save_array(folder: Path, index: int, value: np.ndarray) -> str:
    """Write one tensor as float (float16/32/64 kept, anything else as float32)."""
    array = np.asarray(value)
    if array.dtype not in (np.float16, np.float32, np.float64):
        array = array.astype(np.float32)
    path = folder / f"t{index:05d}.npy"
    np.save(path, array, allow_pickle=False)
    return path.name


def saved_itemsize(dtype: str) -> int:
    return np.dtype(dtype).itemsize if dtype in ("float16", "float32", "float64") else 4
