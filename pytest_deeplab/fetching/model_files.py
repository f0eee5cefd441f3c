"""A catalogue model's file on disk: a local path as it is, archives and URLs through the cache.

The session asks here for each model's file and its sha256 (golden metadata ties a golden to
the exact file); the CLI asks whether a model is cached without touching the network. Pins the
user must hear about (a checksum-less model pinned from a mirror) are kept in `mirror_pins`;
under `require_pins` a model that would be trusted on first use is refused before any fetch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.constants import LOCK_FILE
from pytest_deeplab.fetching.fetch import (
    Artifact,
    FetchedModel,
    FetchSettings,
    cached,
    default_cache_dir,
    fetch,
)
from pytest_deeplab.fetching.trust import MirrorPin, check_pins, is_local_file, mirror_pin
from pytest_deeplab.files import sha256_file
from pytest_deeplab.options import DeepLabOptions

__all__ = ["ModelFiles", "artifact_for", "is_cached", "is_local_file"]


def artifact_for(model: ModelSpec) -> Artifact:
    path = model.path
    return Artifact(
        name=model.name,
        filename=path.name if path is not None else model.filename,
        url=model.url or "",
        member=model.member,
        sha256=model.sha256,
        sha384=model.sha384,
        size=model.size,
    )


def is_cached(model: ModelSpec, options: DeepLabOptions) -> str:
    """'yes', 'no', 'local' (a file of the user's) or 'missing', without the network."""
    if is_local_file(model):
        return "local" if model.path is not None and model.path.exists() else "missing"
    settings = FetchSettings(cache_dir=options.cache_dir or default_cache_dir(), mirrors=[],
                             offline=True)
    return "yes" if cached(artifact_for(model), settings) else "no"


class ModelFiles:
    """Each model's file, found or fetched once per session, and its sha256."""

    def __init__(self, options: DeepLabOptions) -> None:
        self.options = options
        self._paths: dict[str, Path] = {}
        self._sha256: dict[Path, str] = {}
        self.fetched: dict[str, FetchedModel] = {}  # what came through the cache, and its pin
        self.mirror_pins: dict[str, MirrorPin] = {}  # pinned just now on a mirror's word

    @property
    def lock_path(self) -> Path:
        return self.options.rootdir / LOCK_FILE

    def require_pins(self, models: list[ModelSpec], option: str = "--deeplab-require-pins") -> None:
        """Under require_pins, refuse (listing them all) models that would be trusted on first
        use; a no-op otherwise."""
        if self.options.require_pins:
            check_pins(models, self.lock_path, option)

    def path(self, model: ModelSpec) -> Path:
        if model.name in self._paths:
            return self._paths[model.name]
        if is_local_file(model):
            assert model.path is not None
            if not model.path.exists():
                raise OSError(f"{model.path} does not exist (model {model.name!r})")
            self._paths[model.name] = model.path
            return model.path
        # each fetch, whoever asks (the gate's workers, inspect, explain), so no path skips it
        self.require_pins([model], option="--deeplab-require-pins / --require-pins")
        mirrors = list(self.options.mirrors)
        if model.path is not None:  # an archive of the user's: its folder is the first mirror
            mirrors.insert(0, str(model.path.parent))
        settings = FetchSettings(
            cache_dir=self.options.cache_dir or default_cache_dir(),
            mirrors=mirrors,
            offline=self.options.offline or model.path is not None,
            lock_path=None if model.source == "bundled" else self.lock_path,
            update_lock=self.options.update_lock,
        )
        fetched = fetch(artifact_for(model), settings)
        self.fetched[model.name] = fetched
        note = mirror_pin(model, fetched, settings.mirrors, settings.lock_path)
        if note is not None:
            self.mirror_pins[model.name] = note
        self._paths[model.name] = fetched.path
        self._sha256[fetched.path] = fetched.file_sha256  # stamped by the cache: no re-hashing
        return fetched.path

    def sha256(self, model: ModelSpec) -> str:
        path = self.path(model)
        if path not in self._sha256:
            if path.is_dir():  # a SavedModel: hash of its files' hashes, in name order
                files = sorted(p for p in path.rglob("*") if p.is_file())
                listing = "".join(f"{f.relative_to(path)}:{sha256_file(f)}\n" for f in files)
                self._sha256[path] = hashlib.sha256(listing.encode()).hexdigest()
            else:
                self._sha256[path] = sha256_file(path)
        return self._sha256[path]
