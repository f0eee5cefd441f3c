"""Which fetched models rest on trust alone, and what to tell the user about them.

A model file is a program, so its bytes must be the intended ones. A published checksum
(sha256/sha384 in the catalogue or the user's table) settles that; otherwise the first fetch pins
whatever it got in ``deeplab-zoo.lock`` (trust on first use). Two consequences live here:

- a first use served by a mirror rather than the model's own URL is reported (the pin then rests
  on the mirror's word alone) with what to do: compare the sha256 with a trusted copy, then
  commit the lock;
- ``--deeplab-require-pins`` refuses, before anything is fetched, every selected model that
  would be trusted on first use.

Bundled models (shipped in the package, with their sha256) and a user's plain local files or
SavedModel folders (used where they are, never fetched) are outside both: nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath

from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.errors import DeepLabError
from pytest_deeplab.fetching import download
from pytest_deeplab.fetching.artifacts import FetchedModel
from pytest_deeplab.fetching.lockfile import LockFileError, read_pins

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz")


class UnpinnedModelsError(DeepLabError):
    """Models that would be trusted on first use while pins are required: a usage error."""


def is_local_file(model: ModelSpec) -> bool:
    """A user's plain file or SavedModel folder, used where it is (never copied to the cache)."""
    return model.path is not None and not str(model.path).endswith(ARCHIVE_SUFFIXES)


def is_fetched(model: ModelSpec) -> bool:
    """Goes through the cache and the lock file: zoo models, `url` models, user archives."""
    return model.source != "bundled" and not is_local_file(model)


def has_published_checksum(model: ModelSpec) -> bool:
    return bool(model.sha256 or model.sha384)


def archive_name(model: ModelSpec) -> str:
    """The archive's name as the lock file records it."""
    filename = model.path.name if model.path is not None else model.filename
    return PurePosixPath(filename).name


# --- --deeplab-require-pins ------------------------------------------------------------------


def unpinned(models: Iterable[ModelSpec], lock_path: Path) -> dict[str, str]:
    """Each model that would be trusted on first use, with why; {} when none would.

    A pin for another archive than the model's counts as none: the model now points elsewhere.
    """
    candidates = [m for m in models if is_fetched(m) and not has_published_checksum(m)]
    if not candidates:
        return {}
    try:
        pins = read_pins(lock_path)
    except LockFileError as exc:
        return {m.name: f"{exc}" for m in candidates}
    found: dict[str, str] = {}
    for model in candidates:
        pin = pins.get(model.name)
        if pin is None:
            found[model.name] = f"{archive_name(model)}: no published checksum, not in the lock"
        elif pin.archive != archive_name(model):
            found[model.name] = (f"{archive_name(model)}: no published checksum; the lock pins "
                                 f"another archive ({pin.archive})")
    return found


def check_pins(
    models: Sequence[ModelSpec], lock_path: Path, option: str = "--deeplab-require-pins"
) -> None:
    """Raise :class:`UnpinnedModelsError` listing every model that would be trusted on first
    use, and how to pin them (before anything is fetched, so nothing unpinned ever runs)."""
    found = unpinned(models, lock_path)
    if not found:
        return
    listing = "\n".join(f"  - {name}: {why}" for name, why in found.items())
    names = " ".join(found)
    raise UnpinnedModelsError(
        f"{option}: {len(found)} selected model(s) would be trusted on first use, having "
        f"neither a published checksum nor a pin in {lock_path}:\n{listing}\n"
        f"Pin them once from a source you trust: `pytest-deeplab fetch {names} --no-require-pins` "
        f"(with the same --mirror / --cache-dir) writes their pins; compare each sha256 it "
        f"prints with a trusted copy's and commit {lock_path.name}. Or give each model its "
        "published sha256 in its [tool.pytest-deeplab.models.NAME] table."
    )


# --- first use from a mirror -----------------------------------------------------------------


@dataclass(frozen=True)
class MirrorPin:
    """A model with no published checksum, pinned just now from a mirror's copy."""

    model: str
    mirror: str  # the mirror as the user gave it (URL prefix or folder)
    location: str  # the file on it
    url: str  # the model's own URL, which did not serve these bytes
    sha256: str
    lock: str  # the lock file that now pins them

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def mirror_pin(
    model: ModelSpec, fetched: FetchedModel, mirrors: Sequence[str], lock_path: Path | None
) -> MirrorPin | None:
    """What to report when this fetch pinned a checksum-less model on a mirror's word."""
    if (lock_path is None or not fetched.pinned or not model.url
            or has_published_checksum(model) or fetched.origin == model.url):
        return None
    mirror = fetched.source if fetched.source != "cache" else mirror_of(fetched.origin, mirrors)
    return MirrorPin(model.name, mirror, fetched.origin, model.url, fetched.sha256,
                     str(lock_path))


def mirror_of(location: str, mirrors: Sequence[str]) -> str:
    """The configured mirror a file came from (the file itself if no mirror holds it now)."""
    for mirror in mirrors:
        local = download.local_path(mirror)
        if local is not None:
            if Path(location).is_relative_to(local):
                return mirror
        elif location.startswith(mirror.rstrip("/") + "/"):
            return mirror
    return location


def mirror_pin_note(pin: Mapping[str, str]) -> str:
    """One line for the terminal: which model, which mirror, and what to do before trusting it."""
    lock = Path(pin["lock"]).name
    return (
        f"{pin['model']} has no published checksum and was pinned from mirror {pin['mirror']}: "
        f"{lock} now trusts sha256 {pin['sha256']} on that mirror's word alone. Compare it with "
        f"the sha256 of a trusted copy (e.g. `sha256sum` of {pin['url']}), then commit {lock}."
    )
