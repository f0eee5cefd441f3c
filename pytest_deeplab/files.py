"""Files written whole or not at all (goldens, cache stamps, lock and results files), and hashed."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Union

PathLike = Union[str, "os.PathLike[str]"]


def write_atomically(path: PathLike, write: Callable[[IO[bytes]], object]) -> Path:
    """Write through a temporary file in the same directory, then `os.replace` it into place.

    A crash or an exception part-way leaves the previous file (e.g. a golden mask) intact and
    no half-written file under the real name; the rename is atomic on POSIX and Windows.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed before the rename
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    temporary = Path(handle.name)
    try:
        with handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o644)  # the temporary file is private; these files are shared
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def write_text_atomically(path: PathLike, text: str) -> Path:
    """`write_atomically` for UTF-8 text with Unix newlines (JSON, lock files, reports)."""
    data = text.encode("utf-8")
    return write_atomically(path, lambda handle: handle.write(data))


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in chunks (model files reach 440 MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()
