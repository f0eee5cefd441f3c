"""Which builds lie between good and bad: the versions the package index offers, in order.

The index is asked through `pip index versions --json` of this interpreter, so the user's pip
configuration (index URL, extra indexes, find-links, certificates) applies as it does to
`pip install`, plus the index options given on the command line; pip only lists versions with
a wheel this Python can install. Nightlies (`tf-nightly==2.23.0.dev20261026`) are ordered by
the build date their dev number carries; releases by version, pre-releases only when asked.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from pytest_deeplab.envs.installer import IndexOptions


class CandidateError(RuntimeError):
    """The candidates cannot be listed (no such distribution, unreachable index, bad spec)."""


def is_nightly(distribution: str) -> bool:
    return "nightly" in canonicalize_name(distribution)


def build_order(version: Version) -> tuple[int, Version]:
    """Nightlies sort by the date in their dev number, releases by version. tf-nightly carries
    the day (20261026), keras-nightly the day and hour (2026102704): both become YYYYMMDDHH."""
    dev = version.dev
    if dev is not None and 19000000 <= dev <= 99991231:
        return dev * 100, version
    if dev is not None and 1900000000 <= dev <= 9999123123:
        return dev, version
    return 0, version


@dataclass(frozen=True)
class Pinned:
    """One end of the bisection as the index sees it: distribution and exact version."""

    distribution: str
    version: Version

    @property
    def spec(self) -> str:
        return f"{self.distribution}=={self.version}"


def requirement_of(spec: str) -> Requirement:
    try:
        return Requirement(spec)
    except InvalidRequirement as exc:
        raise CandidateError(f"{spec!r} is not a requirement such as "
                             f"'tensorflow-cpu==2.16.*': {exc}") from None


def index_versions(distribution: str, index: IndexOptions, python: str | None = None
                   ) -> list[Version]:
    """Every version of `distribution` the index offers this interpreter (pre-releases too)."""
    cmd = [python or sys.executable, "-m", "pip", "index", "versions", distribution, "--json",
           "--pre", "--disable-pip-version-check", *index.args()]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CandidateError(f"cannot ask the package index for {distribution}: {exc}") from None
    if done.returncode != 0:
        reason = "\n".join(f"    {line}" for line in done.stderr.strip().splitlines()[-6:])
        raise CandidateError(f"the package index offers no {distribution} for this Python "
                             f"(`{' '.join(cmd[1:])}` failed):\n{reason}")
    try:
        listed = json.loads(done.stdout)["versions"]
    except (ValueError, KeyError, TypeError):
        raise CandidateError(f"`pip index versions` answered something unexpected: "
                             f"{done.stdout[:300]!r} (pip >= 23.2 is needed)") from None
    return sorted(_versions(listed), key=build_order)


def _versions(texts: Iterable[str]) -> list[Version]:
    out = []
    for text in texts:
        try:
            out.append(Version(text))
        except InvalidVersion:
            continue
    return out


def allowed(version: Version, distribution: str, pre: bool) -> bool:
    """Final releases only, unless --pre; every build of a nightly distribution."""
    return pre or is_nightly(distribution) or not version.is_prerelease


def pick(spec: str, available: Sequence[Version], pre: bool) -> Pinned:
    """The version `spec` selects from the index, as an installer would: the newest match."""
    req = requirement_of(spec)
    name = canonicalize_name(req.name)
    prereleases = pre or is_nightly(name) or None
    matching = list(req.specifier.filter(available, prereleases=prereleases))
    if not matching:
        shown = ", ".join(str(v) for v in available[-8:]) or "none"
        raise CandidateError(f"no version of {name} on the index matches {spec!r} "
                             f"(newest offered: {shown})")
    return Pinned(name, max(matching, key=build_order))


def order_between(good: Version, bad: Version) -> Callable[[Version], tuple[int, Version]]:
    """Build dates when both ends carry one; versions otherwise: from a release to the
    nightlies, 2.21.0 .. tf-nightly keeps the 2.22 and 2.23 nightlies, not the 2.21.0.dev ones
    built before that release."""
    if build_order(good)[0] and build_order(bad)[0]:
        return build_order
    return lambda v: (0, v)


def between(good: Version, bad: Version, available: Iterable[Version], distribution: str,
            pre: bool) -> list[Version]:
    """Versions strictly between good and bad, ordered from the good end to the bad end.

    Good may be the newer one (bisecting what made a model faster): the list then runs
    backwards in time, still from good to bad.
    """
    key = order_between(good, bad)
    low, high = sorted((good, bad), key=key)
    inside = sorted({v for v in available if key(low) < key(v) < key(high)
                     and allowed(v, distribution, pre)}, key=key)
    return inside if key(good) < key(bad) else inside[::-1]
