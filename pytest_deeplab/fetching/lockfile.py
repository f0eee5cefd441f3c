"""``deeplab-zoo.lock``: size, sha256 and source of every archive fetched, meant to be committed.

Keyed by model name (unique in the catalogue and in user config, where archive names need not
be); each pin also names its archive, so a model moved to a new tarball shows in the diff, and
where the bytes it trusts came from (``source``: the model's own URL, or the file on a mirror),
so a reviewer can see which pins rest on a mirror's word alone.

Trust on first use: most zoo files have no published checksum, so the first fetch pins what it
got and every later fetch (on any machine that shares the committed lock file) must get the same
bytes. JSON, sorted and indented, so a changed pin is a one-line diff in review; written through
a temporary file and ``os.replace`` so a reader never sees half a file.

Format version 1 throughout: ``source`` is an optional key (pins written before it existed have
none, and are read and kept as they are), so no reader of this version is broken by it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_deeplab.files import write_text_atomically

FORMAT_VERSION = 1
COMMENT = (
    "Written by pytest-deeplab: size, sha256 and source of every model archive fetched. Commit "
    "it; rerun with --deeplab-update-lock to accept a changed archive deliberately."
)


@dataclass(frozen=True)
class Pin:
    """One archive as first seen, and where it was fetched from (None: pinned before sources
    were recorded)."""

    archive: str
    sha256: str
    size: int
    source: str | None = None


class LockFileError(ValueError):
    """The lock file exists but cannot be read as one (hand-edited, merge conflict...)."""


def read_pins(path: Path) -> dict[str, Pin]:
    """All pins, keyed by model name; a missing file is an empty lock."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    try:
        data = json.loads(text)
        version = data.get("version", FORMAT_VERSION)
        pins = {key: Pin(**value) for key, value in data.get("models", {}).items()}
    except (ValueError, TypeError, AttributeError) as exc:
        raise LockFileError(f"{path} is not a valid pytest-deeplab lock file: {exc}") from exc
    if version != FORMAT_VERSION:
        raise LockFileError(
            f"{path} has lock format version {version!r}; this pytest-deeplab reads version "
            f"{FORMAT_VERSION} (a newer pytest-deeplab wrote it: upgrade to the same version)"
        )
    return pins


def write_pin(path: Path, model: str, pin: Pin) -> None:
    """Add or replace one pin; the caller holds the lock that serialises writers."""
    pins = read_pins(path)
    if pins.get(model) == pin:
        return
    pins[model] = pin
    write_text_atomically(path, _render(pins))


def _render(pins: dict[str, Pin]) -> str:
    document: dict[str, Any] = {
        "comment": COMMENT,
        "version": FORMAT_VERSION,
        "models": {name: _pin_entry(p) for name, p in sorted(pins.items())},
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _pin_entry(pin: Pin) -> dict[str, Any]:
    entry: dict[str, Any] = {"archive": pin.archive, "sha256": pin.sha256, "size": pin.size}
    if pin.source is not None:
        entry["source"] = pin.source
    return entry
