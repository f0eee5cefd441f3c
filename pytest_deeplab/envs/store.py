"""Built environments on disk: <cache>/envs/<name>-<key>/, with env.json once complete.

The key is a hash of the resolved pins and the interpreter (version, platform): the same
resolution reuses the same environment across runs, a new nightly or a new pin builds a new one.
A directory without env.json is a build that did not finish and is rebuilt. A lock file per
environment keeps two gates from building (or pruning) one environment at once.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sys
import sysconfig
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

RECORD = "env.json"


def interpreter_tag(python_version: str | None = None) -> str:
    """What besides the pins decides which wheels fit: Python version and platform."""
    version = python_version or ".".join(map(str, sys.version_info[:3]))
    return f"{sys.implementation.name}-{version}-{sysconfig.get_platform()}"


def env_key(pins: Sequence[str], tag: str) -> str:
    text = "\n".join([tag, *sorted(p.strip().lower() for p in pins)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()[:60] or "env"


@dataclass
class EnvRecord:
    """What env.json says about one built environment."""

    key: str
    path: str
    python: str
    interpreter: str
    requested: list[str]
    pins: list[str]
    installer: str
    project: list[str]
    created: float
    last_used: float
    build_seconds: float
    size_bytes: int = field(default=0, compare=False)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("size_bytes")
        return data


class EnvStore:
    """The folder holding the environments built from specs."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def under_cache(cls, cache_dir: Path | None) -> EnvStore:
        if cache_dir is None:
            from pytest_deeplab.fetching.fetch import default_cache_dir

            cache_dir = default_cache_dir()
        return cls(Path(cache_dir) / "envs")

    def path_for(self, name: str, key: str) -> Path:
        return self.root / f"{slug(name)}-{key}"

    @contextmanager
    def locked(self, env_dir: Path, timeout: float = -1) -> Iterator[None]:
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(env_dir) + ".lock", timeout=timeout):
            yield

    def read(self, env_dir: Path) -> EnvRecord | None:
        try:
            data = json.loads((env_dir / RECORD).read_text(encoding="utf-8"))
            return EnvRecord(**data)
        except (OSError, ValueError, TypeError):
            return None

    def write(self, record: EnvRecord) -> None:
        target = Path(record.path) / RECORD
        partial = target.with_suffix(".partial")
        partial.write_text(json.dumps(record.as_json(), indent=1), encoding="utf-8")
        partial.replace(target)

    def touch(self, record: EnvRecord) -> None:
        record.last_used = time.time()
        self.write(record)

    def records(self) -> list[EnvRecord]:
        """Every complete environment, newest use first, with its size on disk."""
        found = []
        if self.root.is_dir():
            for env_dir in sorted(p for p in self.root.iterdir() if p.is_dir()):
                record = self.read(env_dir)
                if record is not None:
                    record.size_bytes = size_on_disk(env_dir)
                    found.append(record)
        return sorted(found, key=lambda r: -r.last_used)

    def incomplete(self) -> list[Path]:
        if not self.root.is_dir():
            return []
        return [p for p in sorted(self.root.iterdir()) if p.is_dir() and self.read(p) is None]

    def remove(self, env_dir: Path) -> bool:
        """Delete one environment unless another process holds its lock (then False)."""
        from filelock import Timeout

        try:
            with self.locked(env_dir, timeout=0):
                shutil.rmtree(env_dir, ignore_errors=True)
        except Timeout:
            return False
        Path(str(env_dir) + ".lock").unlink(missing_ok=True)
        return True


def size_on_disk(path: Path) -> int:
    """Bytes of the files under `path` (hard links to uv's cache counted in full)."""
    total = 0
    for item in path.rglob("*"):
        try:
            if item.is_file() and not item.is_symlink():
                total += item.stat().st_size
        except OSError:
            continue
    return total
