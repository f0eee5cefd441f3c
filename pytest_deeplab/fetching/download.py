"""Getting bytes from one source into a local file, hashing them on the way.

HTTP goes through pooch's ``HTTPDownloader`` (requests streaming, timeouts, a tqdm bar): it is
the downloader the scientific Python stack already trusts for large data files, and it accepts a
file object, so we hash while writing instead of reading a 439 MB archive a second time. Pooch's
own cache (``retrieve``/``Pooch.fetch``) is not used: it knows one URL per file and no lock
file, while we need mirrors tried in order, trust-on-first-use and atomic extraction.
Retries with exponential back-off are ours, per source, and only for faults that can heal
(timeouts, resets, truncation, HTTP 5xx/429); a 404 or a wrong checksum moves on at once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import unquote, urlparse

CHUNK = 1 << 20
PROGRESS_MIN_BYTES = 1 << 20


@dataclass(frozen=True)
class Digest:
    """What a download produced: enough to verify it and to pin it in the lock file."""

    sha256: str
    sha384: str
    size: int


class SourceMissing(Exception):
    """The source answered and does not have the file (404, no such path): do not retry."""


class SizeExceeded(Exception):
    """The source sent more bytes than the catalogue's size: the wrong file, stopped early."""


class Transient(Exception):
    """A fault that may heal on retry (timeout, reset, truncated body, HTTP 5xx)."""


class _HashingWriter:
    """A write-only file object that hashes and counts what passes through it."""

    def __init__(self, raw: BinaryIO, limit: int | None) -> None:
        self._raw = raw
        self._limit = limit
        self._sha256 = hashlib.sha256()
        self._sha384 = hashlib.sha384()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self._limit is not None and self.size > self._limit:
            raise SizeExceeded(
                f"the source sent more than the known size of {self._limit} bytes (catalogue)"
            )
        self._sha256.update(data)
        self._sha384.update(data)
        return self._raw.write(data)

    def flush(self) -> None:
        """pooch flushes after every chunk; the OS buffer is enough until we fsync at the end."""

    def digest(self) -> Digest:
        return Digest(self._sha256.hexdigest(), self._sha384.hexdigest(), self.size)


def local_path(location: str) -> Path | None:
    """The directory a mirror names, or None when it is a URL (``file://`` counts as local)."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if not parsed.scheme or (len(parsed.scheme) == 1 and sys.platform == "win32"):  # C:\zoo
        return Path(location).expanduser()
    return None


def copy_local(path: Path, dest: Path, expected_size: int | None) -> Digest:
    """Copy a file from a local mirror, hashing it; a missing file is a plain miss."""
    if not path.is_file():
        raise SourceMissing(f"no file {path}")
    with path.open("rb") as src, dest.open("wb") as out:
        writer = _HashingWriter(out, expected_size)
        shutil.copyfileobj(src, writer, CHUNK)
        _sync(out)
    return writer.digest()


def download_url(
    url: str, dest: Path, *, timeout: float, progress: bool, expected_size: int | None
) -> Digest:
    """One HTTP(S)/FTP download attempt via pooch; faults are sorted into missing vs transient."""
    import pooch
    import requests

    small = expected_size is not None and expected_size < PROGRESS_MIN_BYTES
    show_bar = progress and not small and sys.stderr.isatty()
    if url.startswith(("http://", "https://")):
        downloader = pooch.HTTPDownloader(progressbar=show_bar, chunk_size=CHUNK, timeout=timeout)
    else:
        try:
            downloader = pooch.downloaders.choose_downloader(url, progressbar=show_bar)
        except ValueError as exc:  # an unknown scheme: no use retrying
            raise SourceMissing(str(exc)) from exc
    with dest.open("wb") as out:
        writer = _HashingWriter(out, expected_size)
        try:
            downloader(url, writer, None)
        except requests.HTTPError as exc:
            raise _classify_http(exc) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Transient(_short(exc)) from exc
        except requests.RequestException as exc:  # ChunkedEncodingError: body cut short
            raise Transient(_short(exc)) from exc
        except OSError as exc:
            raise Transient(_short(exc)) from exc
        _sync(out)
    digest = writer.digest()
    if expected_size is not None and digest.size < expected_size:
        raise Transient(f"body truncated: {digest.size} of {expected_size} bytes")
    return digest


def with_retries(
    attempt: Callable[[], Digest], *, retries: int, backoff: float, note: Callable[[str], None]
) -> Digest:
    """Run ``attempt`` up to ``retries`` times, sleeping backoff, 2*backoff, ... between faults.

    Only :class:`Transient` faults are retried; every one is reported through ``note`` so the
    final error can say what happened on each try.
    """
    tries = max(1, retries)
    for number in range(1, tries + 1):
        try:
            return attempt()
        except Transient as exc:
            note(f"try {number}/{tries}: {exc}")
            if number == tries:
                raise
            time.sleep(backoff * 2 ** (number - 1))
    raise AssertionError("unreachable")


def _classify_http(exc: Exception) -> Exception:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", 0) or 0
    reason = getattr(response, "reason", "") or ""
    message = f"HTTP {status} {reason}".strip()
    if status >= 500 or status in (408, 429):
        return Transient(message)
    return SourceMissing(message)


def _short(exc: Exception) -> str:
    """requests nests urllib3 errors several levels deep; keep the message readable."""
    first = exc.args[0] if exc.args else ""
    text = first if isinstance(first, str) and first else str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text[:300]}"


def _sync(out: BinaryIO) -> None:
    """Data must be on disk before the rename that publishes it, or a crash can publish zeros."""
    out.flush()
    os.fsync(out.fileno())
