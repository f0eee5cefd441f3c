"""Errors for people: each names the model, what was tried, and the command that fixes it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pytest_deeplab.errors import DeepLabError

REMEDIES = (
    "point --deeplab-mirror=URL|DIR at a copy laid out like download.tensorflow.org/models/",
    "reuse a cache that has it: --deeplab-cache-dir=DIR (or env PYTEST_DEEPLAB_CACHE)",
    "pre-warm the cache where the network is reachable: pytest-deeplab fetch {name}",
    "or turn missing models into skips: --deeplab-allow-missing",
)


@dataclass(frozen=True)
class Attempt:
    """One source tried and why it did not deliver (kept so the final error can list them all)."""

    source: str
    reason: str
    kind: str = "missing"  # "missing" | "transient" | "integrity" | "unsafe"


class FetchError(DeepLabError):
    """A model could not be had; the message lists every source tried and the ways to provide it."""

    def __init__(self, model: str, message: str, attempts: Sequence[Attempt] = ()) -> None:
        self.model = model
        self.attempts = tuple(attempts)
        super().__init__(message)


class IntegrityError(FetchError):
    """The bytes are not the ones pinned by a known checksum or the lock file."""


class UnsafeArchiveError(FetchError):
    """An archive tried to write outside its directory or create special files."""


def describe_failure(name: str, filename: str, attempts: Sequence[Attempt]) -> str:
    """The full story: what was tried, why each failed, how to provide the model."""
    lines = [f"Model {name!r} ({filename}) could not be fetched. Sources tried:"]
    lines += [f"  - {a.source}: {a.reason}" for a in attempts]
    lines.append("Ways to provide it:")
    lines += [f"  - {r.format(name=name)}" for r in REMEDIES]
    return "\n".join(lines)


def raise_for(name: str, filename: str, attempts: Sequence[Attempt]) -> None:
    """Raise the most specific error the attempts justify: unsafe > integrity > plain missing.

    A tampered or changed file is worse news than an absent one, so it wins the error type even
    when other sources were merely unreachable.
    """
    message = describe_failure(name, filename, attempts)
    kinds = {a.kind for a in attempts}
    if "unsafe" in kinds:
        raise UnsafeArchiveError(name, message, attempts)
    if "integrity" in kinds:
        raise IntegrityError(name, message, attempts)
    raise FetchError(name, message, attempts)
