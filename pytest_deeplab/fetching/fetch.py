"""Fetching zoo models: cache, mirrors, offline mode, lock file, safe extraction.

Why pooch: it is the maintained, widely used downloader of the scientific Python stack (requests
streaming with timeouts, a tqdm progress bar, FTP/SFTP for odd mirrors) and lets us hash while
writing. Its own cache model (one URL per file, no lock file, no extraction staging) does not
fit, so the cache, mirror order, retries and trust-on-first-use live here.
Why filelock: pytest-xdist workers and parallel CI jobs share one cache; ``filelock.FileLock``
is a portable OS lock (released by the kernel if the holder dies), so the second process simply
waits and then finds the finished entry.

The rest of the project calls :func:`fetch`, :func:`cached` and :func:`default_cache_dir` and
catches :class:`FetchError`; nothing here imports TensorFlow. pooch and filelock are imported
only when needed, so a cache hit and ``pytest --help`` never pay for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from pytest_deeplab.fetching import download
from pytest_deeplab.fetching.artifacts import (
    Artifact,
    FetchedModel,
    FetchSettings,
    cache_entry,
    default_cache_dir,
)
from pytest_deeplab.fetching.cache import Entry, Stamp
from pytest_deeplab.fetching.errors import (
    Attempt,
    FetchError,
    IntegrityError,
    UnsafeArchiveError,
    raise_for,
)
from pytest_deeplab.fetching.extract import (
    NotAnArchive,
    UnsafeMember,
    extract_archive,
    find_member,
    member_matches,
)
from pytest_deeplab.fetching.pins import enforce_pin, pin_conflict
from pytest_deeplab.files import sha256_file

__all__ = [
    "Artifact",
    "FetchError",
    "FetchSettings",
    "FetchedModel",
    "IntegrityError",
    "UnsafeArchiveError",
    "cached",
    "default_cache_dir",
    "fetch",
    "fetch_many",
]


@dataclass(frozen=True)
class _Source:
    label: str  # the mirror as the user gave it, or the default URL
    location: str  # full URL or path of the file
    local: Path | None  # set for local-directory mirrors


def fetch(artifact: Artifact, settings: FetchSettings) -> FetchedModel:
    """Return the model from the cache, or fetch, verify, extract and cache it.

    Raises :class:`FetchError` (or its subclasses :class:`IntegrityError`,
    :class:`UnsafeArchiveError`) naming every source tried and how to provide the model.
    """
    entry = cache_entry(artifact, settings)
    hit = _cache_hit(artifact, settings, entry, rehash=False)
    if hit is not None:
        return hit
    with entry.exclusive():
        hit = _cache_hit(artifact, settings, entry, rehash=True)
        if hit is not None:
            return hit
        return _fetch_fresh(artifact, settings, entry)


def fetch_many(
    artifacts: Iterable[Artifact], settings: FetchSettings
) -> tuple[dict[str, FetchedModel], list[FetchError]]:
    """Fetch each artifact; collect failures instead of stopping at the first.

    Fail-closed callers (``--deeplab-models=all``) report every missing model at once.
    """
    fetched: dict[str, FetchedModel] = {}
    failed: list[FetchError] = []
    for artifact in artifacts:
        try:
            fetched[artifact.name] = fetch(artifact, settings)
        except FetchError as exc:
            failed.append(exc)
    return fetched, failed


def cached(artifact: Artifact, settings: FetchSettings) -> Path | None:
    """The cached model file if it is there and unchanged since verified; no network, no lock.

    A file whose mtime changed reports None here; :func:`fetch` re-hashes it once and reuses it.
    The lock file is checked by :func:`fetch`, not here.
    """
    entry = cache_entry(artifact, settings)
    stamp = entry.read_stamp()
    if stamp is None or not _stamp_fits(artifact, stamp) or not entry.still_valid(stamp):
        return None
    return entry.model_path(stamp)


# --- cache hits ------------------------------------------------------------------------------


def _cache_hit(
    artifact: Artifact, settings: FetchSettings, entry: Entry, *, rehash: bool
) -> FetchedModel | None:
    """A verified cached model, or None; a lock-file mismatch raises instead of re-fetching."""
    stamp = entry.read_stamp()
    if stamp is None or not _stamp_fits(artifact, stamp):
        return None
    if not entry.still_valid(stamp):
        if not rehash:
            return None
        fresh = entry.revalidate(stamp)
        if fresh is None:
            return None
        stamp = fresh
    pinned = enforce_pin(artifact, settings, stamp.sha256, stamp.size,
                         f"cached copy {entry.path}", stamp.origin)
    return _fetched(artifact, entry, stamp, "cache", pinned)


def _stamp_fits(artifact: Artifact, stamp: Stamp) -> bool:
    """The entry holds this artifact: same archive and member, and known checksums agree."""
    if PurePosixPath(stamp.filename).name != PurePosixPath(artifact.filename).name:
        return False
    if artifact.member is None:
        fits_member = stamp.member == PurePosixPath(artifact.filename).name
    else:
        fits_member = member_matches(stamp.member, artifact.member)
    return (
        fits_member
        and _agrees(artifact.sha256, stamp.sha256)
        and _agrees(artifact.sha384, stamp.sha384)
        and artifact.size in (None, stamp.size)
    )


def _agrees(known: str | None, actual: str) -> bool:
    return known is None or known.lower() == actual


def _fetched(
    artifact: Artifact, entry: Entry, stamp: Stamp, source: str, pinned: str
) -> FetchedModel:
    return FetchedModel(
        name=artifact.name,
        path=entry.model_path(stamp),
        sha256=stamp.sha256,
        size=stamp.size,
        file_sha256=stamp.file_sha256,
        source=source,
        origin=stamp.origin,
        pinned=pinned,
    )


# --- fetching --------------------------------------------------------------------------------


class _SourceFailed(Exception):
    def __init__(self, reason: str, kind: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind


def _fetch_fresh(artifact: Artifact, settings: FetchSettings, entry: Entry) -> FetchedModel:
    """Try every source in order; the first that delivers verified, safe bytes is cached."""
    attempts = [Attempt(f"cache {entry.path}", _cache_state(entry))]
    for source in _sources(artifact, settings):
        if source.local is None and settings.offline:
            attempts.append(Attempt(source.location, "skipped: offline (--deeplab-offline)"))
            continue
        with entry.staging() as stage:
            try:
                stamp = _stage(artifact, settings, source, stage, attempts)
            except _SourceFailed as failed:
                attempts.append(Attempt(source.location, failed.reason, failed.kind))
                continue
            entry.publish(stage / "entry", stamp)
        pinned = enforce_pin(artifact, settings, stamp.sha256, stamp.size, source.location,
                             stamp.origin)
        return _fetched(artifact, entry, stamp, source.label, pinned)
    raise_for(artifact.name, artifact.filename, attempts)
    raise AssertionError("unreachable")


def _cache_state(entry: Entry) -> str:
    if not entry.path.exists():
        return "not cached"
    return "cached copy unusable (changed on disk, or another file); fetching again"


def _sources(artifact: Artifact, settings: FetchSettings) -> Iterator[_Source]:
    """Mirrors in the order given (each at every plausible relative path), then the URL."""
    for mirror in settings.mirrors:
        local = download.local_path(mirror)
        for rel in _relative_paths(artifact):
            if local is not None:
                yield _Source(mirror, str(local / rel), local / rel)
            else:
                yield _Source(mirror, f"{mirror.rstrip('/')}/{rel}", None)
    if artifact.url:  # user models given as a local path have no URL
        yield _Source(artifact.url, artifact.url, None)


def _relative_paths(artifact: Artifact) -> list[str]:
    """Where a mirror laid out like download.tensorflow.org/models/ keeps the file."""
    paths = []
    if "/models/" in artifact.url:
        paths.append(artifact.url.split("/models/", 1)[1])
    paths += [artifact.filename, PurePosixPath(artifact.filename).name]
    return list(dict.fromkeys(p.lstrip("/") for p in paths))


def _stage(
    artifact: Artifact,
    settings: FetchSettings,
    source: _Source,
    stage: Path,
    attempts: list[Attempt],
) -> Stamp:
    """Download into ``stage``, verify, extract into ``stage/entry``; return its stamp."""
    archive = stage / "download"
    digest = _download(artifact, settings, source, archive, attempts)
    _verify(artifact, settings, digest)
    files = stage / "entry" / "files"
    files.mkdir(parents=True)
    model = _unpack(artifact, archive, files)
    st = model.stat()
    file_sha = digest.sha256 if artifact.member is None else sha256_file(model)
    return Stamp(
        name=artifact.name,
        filename=artifact.filename,
        origin=source.location,
        sha256=digest.sha256,
        sha384=digest.sha384,
        size=digest.size,
        member=model.relative_to(files).as_posix(),
        file_sha256=file_sha,
        file_size=st.st_size,
        file_mtime_ns=st.st_mtime_ns,
    )


def _download(
    artifact: Artifact,
    settings: FetchSettings,
    source: _Source,
    dest: Path,
    attempts: list[Attempt],
) -> download.Digest:
    try:
        if source.local is not None:
            return download.copy_local(source.local, dest, artifact.size)
        return download.with_retries(
            lambda: download.download_url(
                source.location,
                dest,
                timeout=settings.timeout,
                progress=settings.progress,
                expected_size=artifact.size,
            ),
            retries=settings.retries,
            backoff=settings.backoff,
            note=lambda why: attempts.append(Attempt(source.location, why, "transient")),
        )
    except download.SizeExceeded as exc:
        raise _SourceFailed(str(exc), "integrity") from exc
    except download.SourceMissing as exc:
        raise _SourceFailed(str(exc), "missing") from exc
    except download.Transient as exc:
        attempts.pop()  # the last try's note is replaced by the final verdict
        raise _SourceFailed(f"gave up after {settings.retries} tries: {exc}", "transient") from exc
    except OSError as exc:
        raise _SourceFailed(f"cannot read: {exc}", "missing") from exc


def _verify(artifact: Artifact, settings: FetchSettings, digest: download.Digest) -> None:
    """Known checksums first (the catalogue's word is final), then the lock file."""
    if artifact.size is not None and digest.size != artifact.size:
        raise _SourceFailed(
            f"size {digest.size} bytes, expected {artifact.size} (catalogue)", "integrity"
        )
    for algo, known, got in (
        ("sha256", artifact.sha256, digest.sha256),
        ("sha384", artifact.sha384, digest.sha384),
    ):
        if known is not None and known.lower() != got:
            raise _SourceFailed(
                f"{algo} {got} does not match the known {algo} {known} (catalogue); "
                "--deeplab-update-lock cannot override a published checksum",
                "integrity",
            )
    conflict = pin_conflict(artifact, settings, digest)
    if conflict:
        raise _SourceFailed(conflict, "integrity")


def _unpack(artifact: Artifact, archive: Path, files: Path) -> Path:
    """Extract (checked) or place the plain file; return the model file inside ``files``."""
    if artifact.member is None:
        target = files / PurePosixPath(artifact.filename).name
        os.replace(archive, target)
        return target
    try:
        extract_archive(archive, files)
        return find_member(files, artifact.member)
    except UnsafeMember as exc:
        raise _SourceFailed(f"unsafe archive, nothing extracted: {exc}", "unsafe") from exc
    except NotAnArchive as exc:
        raise _SourceFailed(str(exc), "missing") from exc
    except LookupError as exc:
        raise _SourceFailed(str(exc), "missing") from exc
