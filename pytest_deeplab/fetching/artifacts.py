"""What is fetched (`Artifact`), how (`FetchSettings`), and what comes back (`FetchedModel`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pytest_deeplab.fetching.cache import Entry, entry_name
from pytest_deeplab.options import env_cache_dir


@dataclass(frozen=True)
class Artifact:
    """What to fetch (``catalogue.ModelSpec`` builds these)."""

    name: str  # model name, e.g. "mobilenetv2_coco_voc_trainaug"
    filename: str  # file under the zoo's base URL, e.g. "deeplabv3_mnv2_..._2018_01_29.tar.gz"
    url: str  # full default URL
    member: str | None  # file wanted inside the archive (any depth; a glob such as *.pb:
    #                     the archive's only match); None for a plain file
    sha256: str | None = None
    sha384: str | None = None
    size: int | None = None


def default_cache_dir() -> Path:
    """``$PYTEST_DEEPLAB_CACHE``, else the platform's user cache directory."""
    env = env_cache_dir()
    if env is not None:
        return env
    import pooch

    return Path(pooch.os_cache("pytest-deeplab"))


@dataclass
class FetchSettings:
    """How to fetch: where to cache, where to look, what to trust."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    mirrors: list[str] = field(default_factory=list)  # URL prefixes or local dirs, in order
    offline: bool = False  # never touch the network: cache and local mirrors only
    lock_path: Path | None = None  # deeplab-zoo.lock in the rootdir
    update_lock: bool = False  # accept a changed file deliberately
    timeout: float = 60.0  # per connect / per read, seconds
    retries: int = 3  # tries per source for faults that can heal
    progress: bool = True  # tqdm bar when stderr is a terminal
    backoff: float = 1.0  # first pause between retries; doubles each time


@dataclass(frozen=True)
class FetchedModel:
    """A model file ready to load, and the evidence of what it is."""

    name: str
    path: Path  # the model file: extracted member or the plain file
    sha256: str  # of the archive as fetched (what the lock file pins)
    size: int  # of the archive
    file_sha256: str  # of the model file itself (golden metadata records this)
    source: str  # "cache", or the mirror / default URL it was fetched from just now
    origin: str  # the exact URL or path the bytes came from originally
    pinned: str = ""  # "new": pinned in the lock file just now (first use); "updated"; "" not


def cache_entry(artifact: Artifact, settings: FetchSettings) -> Entry:
    return Entry(Path(settings.cache_dir), entry_name(artifact.name))
