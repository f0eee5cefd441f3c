"""Which tensor of run B is which tensor of run A, and which chunks to fetch them in.

The same graph in two environments has the same tensor names. A TF Lite conversion names its
tensors after the TensorFlow ops it fused, joined with ';' (`stem/Relu6;stem/BiasAdd;stem/Conv2D;
stem/biases1`); such a tensor holds the value of the LAST of those ops in the graph, so it is
matched to the latest-ordered op of the other run it names. Frozen-graph tensors are also known
by their op's name ("add_1" is "add_1:0"). Whatever cannot be matched is listed, not guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

Record = dict[str, Any]


def _keys(name: str) -> set[str]:
    """A plain tensor name and, for a frozen graph's first output, its op's name."""
    return {name, name[:-2]} if name.endswith(":0") else {name}


def _plain_index(records: Sequence[Record]) -> dict[str, int]:
    index: dict[str, int] = {}
    for i, record in enumerate(records):
        name = str(record["name"])
        if ";" not in name:
            for key in _keys(name):
                index.setdefault(key, i)
    return index


def _resolve(name: str, index: dict[str, int]) -> int | None:
    """Position of `name` in the other run; a fused name resolves to its latest piece there."""
    hits = [index[k] for piece in name.split(";") for k in _keys(piece) if k in index]
    return max(hits) if hits else None


def match_tensors(
    a: Sequence[Record], b: Sequence[Record]
) -> tuple[list[tuple[Record, Record]], list[str], list[str]]:
    """Pairs (in A's order), A's unmatched names, B's unmatched names."""
    index_a, index_b = _plain_index(a), _plain_index(b)
    target: dict[int, int] = {}  # position in B -> position in A
    for j, record in enumerate(b):
        found = _resolve(str(record["name"]), index_a)
        if found is not None:
            target[j] = found
    for i, record in enumerate(a):  # A's fused names (A is the TF Lite side)
        if ";" in str(record["name"]):
            found = _resolve(str(record["name"]), index_b)
            if found is not None and found not in target:
                target[found] = i
    chosen: dict[int, int] = {}  # position in A -> position in B, first claim wins
    for j in sorted(target):
        chosen.setdefault(target[j], j)
    pairs = [(a[i], b[chosen[i]]) for i in sorted(chosen)]
    matched_b = set(chosen.values())
    unmatched_a = [str(r["name"]) for i, r in enumerate(a) if i not in chosen]
    unmatched_b = [str(r["name"]) for j, r in enumerate(b) if j not in matched_b]
    return pairs, unmatched_a, unmatched_b


def plan_chunks(records: Sequence[Record], budget_bytes: int) -> list[list[str]]:
    """Consecutive tensors, at most `budget_bytes` per chunk (a bigger tensor goes alone)."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for record in records:
        nbytes = int(record["bytes"])
        if current and size + nbytes > budget_bytes:
            chunks.append(current)
            current, size = [], 0
        current.append(str(record["name"]))
        size += nbytes
    if current:
        chunks.append(current)
    return chunks


def chunks_for(plan: list[list[str]], names: dict[str, str]) -> list[list[str]]:
    """A's chunk plan in another run's names (`names`: A name -> that run's name)."""
    mapped = [[names[n] for n in chunk if n in names] for chunk in plan]
    return [chunk for chunk in mapped if chunk]
