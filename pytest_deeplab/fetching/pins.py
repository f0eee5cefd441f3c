"""The lock file in the fetch: trust a model file on first use, refuse a changed one after.

Writers (xdist workers) are serialised on a lock kept in the cache, so the rootdir stays clean."""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath

from pytest_deeplab.fetching import download
from pytest_deeplab.fetching.artifacts import Artifact, FetchSettings, cache_entry
from pytest_deeplab.fetching.errors import (
    Attempt,
    FetchError,
    IntegrityError,
)
from pytest_deeplab.fetching.lockfile import LockFileError, Pin, read_pins, write_pin

UPDATE_LOCK_HINT = "if the new file is expected, rerun with --deeplab-update-lock"


def enforce_pin(
    artifact: Artifact, settings: FetchSettings, sha256: str, size: int, what: str, origin: str
) -> str:
    """Trust on first use: record a new pin; a different file raises unless update_lock.

    ``origin`` is where the bytes came from (the model's URL, or the file on a mirror); it is
    recorded with a new or replaced pin. Returns "new" (first use), "updated" (a changed
    archive accepted with update_lock, or the same bytes under a new archive name) or "" (the
    lock already pins these bytes, which keep the source they were first pinned from).
    """
    if settings.lock_path is None:
        return ""
    key, archive = artifact.name, PurePosixPath(artifact.filename).name
    pin = _read_pins(artifact, settings.lock_path).get(key)
    same_bytes = pin is not None and (pin.sha256, pin.size) == (sha256, size)
    if pin is not None and same_bytes and pin.archive == archive:
        return ""
    if pin is not None and not same_bytes and not settings.update_lock:
        reason = (
            f"{what} has sha256 {sha256} ({size} bytes) but {settings.lock_path} expects "
            f"sha256 {pin.sha256} ({pin.size} bytes, {pin.archive}) for model {key}; "
            f"{UPDATE_LOCK_HINT}, "
            f"or delete {cache_entry(artifact, settings).path} to download it again"
        )
        raise IntegrityError(
            artifact.name,
            f"Model {artifact.name!r}: {reason}.",
            [Attempt(what, reason, "integrity")],
        )
    _write_pin(settings, key, Pin(archive=archive, sha256=sha256, size=size, source=origin))
    return "new" if pin is None else "updated"


def pin_conflict(artifact: Artifact, settings: FetchSettings, digest: download.Digest) -> str:
    """Why a fresh download contradicts the lock file, or '' if it does not."""
    if settings.lock_path is None or settings.update_lock:
        return ""
    pin = _read_pins(artifact, settings.lock_path).get(artifact.name)
    if pin is None or (pin.sha256, pin.size) == (digest.sha256, digest.size):
        return ""
    return (
        f"got sha256 {digest.sha256} ({digest.size} bytes) but {settings.lock_path} expects "
        f"sha256 {pin.sha256} ({pin.size} bytes, {pin.archive}) for model {artifact.name}; "
        f"{UPDATE_LOCK_HINT}"
    )


def _read_pins(artifact: Artifact, path: Path) -> dict[str, Pin]:
    try:
        return read_pins(path)
    except LockFileError as exc:
        raise FetchError(artifact.name, f"{exc}; fix or delete it to re-pin") from exc


def _write_pin(settings: FetchSettings, key: str, pin: Pin) -> None:
    """Serialise writers (xdist workers) on a lock in the cache, keeping the rootdir clean."""
    from filelock import FileLock

    assert settings.lock_path is not None
    ident = hashlib.sha1(str(Path(settings.lock_path).resolve()).encode()).hexdigest()[:16]
    guard = Path(settings.cache_dir) / ".locks" / f"lockfile-{ident}.lock"
    guard.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(guard)):
        write_pin(Path(settings.lock_path), key, pin)
