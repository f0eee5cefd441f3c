"""The allowlist as data: sections of op names read from allowlist.txt shipped in the package.

Kept as a text file rather than Python so a review of a change to it reads as a diff of names,
and so `docs/security.md` can point at one file that says how it was drawn up.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

GENERAL = "tensorflow"
RESTORE = "tensorflow.restore"
SAVE = "tensorflow.save"
TFLITE = "tflite"


@cache
def sections() -> dict[str, frozenset[str]]:
    """Section name -> op names; `#` starts a comment, names are separated by white space."""
    text = resources.files(__package__).joinpath("allowlist.txt").read_text(encoding="utf-8")
    found: dict[str, set[str]] = {}
    current: set[str] | None = None
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = found.setdefault(line[1:-1], set())
        elif current is not None:
            current.update(line.split())
    return {name: frozenset(ops) for name, ops in found.items()}


def allowed(section: str) -> frozenset[str]:
    return sections()[section]
