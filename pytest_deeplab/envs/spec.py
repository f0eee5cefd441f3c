"""What a side of the gate asks for: an interpreter, a tox environment, or requirements.

`--baseline python3.11`, `--baseline .tox/tf215/bin/python`   an interpreter (as before)
`--baseline tox:tf215`                                      a tox environment of the rootdir
`--baseline 'tensorflow-cpu==2.15.*'`, `tf-nightly`         a requirement: an environment is built
`--with-a 'numpy<2'` (repeatable) adds pins to a requirement side only.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

TOX_PREFIX = "tox:"

# Distributions that provide the `tensorflow` module: the one a spec names must be the one the
# worker imports (a second TensorFlow in the environment would shadow it).
TENSORFLOW_DISTRIBUTIONS = frozenset({
    "tensorflow", "tensorflow-cpu", "tf-nightly", "tf-nightly-cpu", "tensorflow-intel",
    "intel-tensorflow", "tensorflow-macos", "tf-nightly-intel",
})


class EnvSpecError(ValueError):
    """A `--baseline` / `--candidate` value or a `--with-*` pin that cannot be understood."""


@dataclass(frozen=True)
class EnvSpec:
    """One side's environment, as asked for on the command line."""

    kind: str  # "python" | "tox" | "requirements"
    text: str
    python: str | None = None  # kind "python": the interpreter's absolute path
    tox_env: str | None = None  # kind "tox"
    requirements: tuple[str, ...] = field(default_factory=tuple)  # kind "requirements"

    @property
    def names(self) -> list[str]:
        """Canonical distribution names the requirements ask for."""
        return [canonicalize_name(Requirement(r).name) for r in self.requirements]

    @property
    def tensorflow_distribution(self) -> str | None:
        """The TensorFlow distribution the spec names first, if any."""
        return next((n for n in self.names if n in TENSORFLOW_DISTRIBUTIONS), None)


def _interpreter(text: str) -> str | None:
    if os.sep in text or (os.altsep and os.altsep in text):
        path = Path(text).expanduser()
        return str(path.absolute()) if path.exists() else None
    found = shutil.which(text)
    return str(Path(found).absolute()) if found else None


def _requirement(text: str, option: str) -> str:
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        raise EnvSpecError(f"{option}: {text!r} is neither an interpreter on PATH nor a "
                           f"requirement (e.g. 'tensorflow-cpu==2.15.*'): {exc}") from None
    if req.url:
        return text
    return str(req)


def parse_spec(text: str, extra: Sequence[str] = (), option: str = "--baseline") -> EnvSpec:
    """Classify `text`; `extra` are the side's --with-* pins (requirements only)."""
    text = text.strip()
    if not text:
        raise EnvSpecError(f"{option} is empty")
    kind_hint = "requirements"
    if text.startswith(TOX_PREFIX):
        name = text[len(TOX_PREFIX):].strip()
        if not name:
            raise EnvSpecError(f"{option} {text!r}: name the tox environment, e.g. tox:tf215")
        kind_hint = "tox"
    else:
        python = _interpreter(text)
        if python is not None:
            kind_hint = "python"
        elif os.sep in text:
            raise EnvSpecError(f"{option}: interpreter {text!r} not found")
    if extra and kind_hint != "requirements":
        raise EnvSpecError(
            f"{option} {text!r} is an existing environment: pins ({', '.join(extra)}) apply only "
            "to a requirement spec such as 'tensorflow-cpu==2.15.*'; install them into that "
            "environment yourself, or give the requirement instead")
    if kind_hint == "tox":
        return EnvSpec("tox", text, tox_env=text[len(TOX_PREFIX):].strip())
    if kind_hint == "python":
        return EnvSpec("python", text, python=python)
    pins = tuple(_requirement(t, option) for t in (text, *extra))
    names = [canonicalize_name(Requirement(p).name) for p in pins]
    if canonicalize_name("pytest-deeplab") in names:
        raise EnvSpecError(f"{option}: pytest-deeplab is installed into every environment "
                           "from the copy running the gate; do not pin it")
    return EnvSpec("requirements", text, requirements=pins)
