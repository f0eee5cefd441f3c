"""The on-disk cache: one directory per model, published whole or not at all.

Layout (by model name rather than content hash: a person can find a model in it, catalogue
names are unique while archive names need not be, and a changed upstream file is caught by the
lock file, not by keeping both versions)::

    <cache>/CACHEDIR.TAG                backup tools skip the cache
    <cache>/<model>/stamp.json          what was verified, and when the file looked like what
    <cache>/<model>/files/...           the extracted tarball, or the plain file
    <cache>/.locks/<model>.lock         filelock: one process fetches, the others wait and reuse
    <cache>/.tmp/<model>-*/             staging; renamed to <model>/ when complete

The stamp records the model file's size and ``mtime_ns`` at verification time: a cache hit is a
JSON read and a ``stat``, never a re-hash of hundreds of MB. If the file was touched, it is
re-hashed once against the sha256 in the stamp and the stamp refreshed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_deeplab.files import sha256_file, write_text_atomically

STAMP_VERSION = 1
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pytest-deeplab.\n"
)


@dataclass(frozen=True)
class Stamp:
    """What was verified about one cache entry."""

    name: str
    filename: str
    origin: str  # the URL or path the bytes came from
    sha256: str  # of the archive (or plain file) as fetched
    sha384: str
    size: int
    member: str  # model file, relative to files/
    file_sha256: str
    file_size: int
    file_mtime_ns: int
    version: int = STAMP_VERSION


def entry_name(model: str) -> str:
    """Directory name for a model: its name, with anything unsafe in a path replaced."""
    safe = re.sub(r"[^A-Za-z0-9._+-]", "_", model).lstrip(".")
    return safe or "_"


@dataclass(frozen=True)
class Entry:
    """Paths of one cache entry."""

    root: Path
    name: str

    @property
    def path(self) -> Path:
        return self.root / self.name

    @property
    def stamp_path(self) -> Path:
        return self.path / "stamp.json"

    @property
    def lock_path(self) -> Path:
        return self.root / ".locks" / f"{self.name}.lock"

    def read_stamp(self) -> Stamp | None:
        """The stamp, or None if the entry is absent or from another format version."""
        try:
            data = json.loads(self.stamp_path.read_bytes())
            stamp = Stamp(**data)
        except (OSError, ValueError, TypeError):
            return None
        return stamp if stamp.version == STAMP_VERSION else None

    def model_path(self, stamp: Stamp) -> Path:
        return self.path / "files" / stamp.member

    def still_valid(self, stamp: Stamp) -> bool:
        """Cheap check: the model file has the size and mtime it had when it was verified."""
        try:
            st = self.model_path(stamp).stat()
        except OSError:
            return False
        return st.st_size == stamp.file_size and st.st_mtime_ns == stamp.file_mtime_ns

    def revalidate(self, stamp: Stamp) -> Stamp | None:
        """Slow path for a touched file: re-hash it; refresh the stamp if the bytes are the same."""
        path = self.model_path(stamp)
        try:
            st = path.stat()
            same = st.st_size == stamp.file_size and sha256_file(path) == stamp.file_sha256
        except OSError:
            return None
        if not same:
            return None
        fresh = Stamp(**{**asdict(stamp), "file_mtime_ns": st.st_mtime_ns})
        write_json_atomic(self.stamp_path, asdict(fresh))
        return fresh

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the entry's file lock; a second process blocks here until the first is done."""
        from filelock import FileLock

        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.lock_path)):
            yield

    @contextlib.contextmanager
    def staging(self) -> Iterator[Path]:
        """A fresh directory beside the entry (same file system, so renaming it is atomic).

        Removed on any exit, including KeyboardInterrupt; stale ones from killed processes are
        swept the next time someone holds this entry's lock.
        """
        tmp_root = self.root / ".tmp"
        tmp_root.mkdir(parents=True, exist_ok=True)
        _write_cachedir_tag(self.root)
        for stale in tmp_root.glob(f"{self.name}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=tmp_root))
        try:
            yield stage
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def publish(self, stage: Path, stamp: Stamp) -> None:
        """Write the stamp into ``stage`` and move it into place, replacing any old entry."""
        write_json_atomic(stage / "stamp.json", asdict(stamp))
        if self.path.exists():
            old = Path(tempfile.mkdtemp(prefix=f"{self.name}-old-", dir=self.root / ".tmp"))
            os.replace(self.path, old / "entry")
            os.replace(stage, self.path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(stage, self.path)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Write JSON so that readers see the old or the new document, never a mix."""
    write_text_atomically(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def _write_cachedir_tag(root: Path) -> None:
    tag = root / "CACHEDIR.TAG"
    if not tag.exists():
        with contextlib.suppress(OSError):
            tag.write_text(CACHEDIR_TAG, encoding="ascii")
