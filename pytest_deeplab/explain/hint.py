"""The exact `pytest-deeplab explain` command a failing mask item (or gate row) prints.

A golden records the TensorFlow version and oneDNN flag that made it; the command compares that
environment (side A) with the one that just failed (side B, this interpreter) on the same image.
When the golden came from another TensorFlow version, A is a placeholder naming that version: the
reader points it at an interpreter that has it (a tox environment, a requirement spec).
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_deeplab.catalogue.specs import ModelSpec
    from pytest_deeplab.session import DeepLabSession


def explain_command(
    model: str,
    image: Path | None = None,
    *,
    baseline: str | None = None,
    candidate: str | None = None,
    env_a: Sequence[str] = (),
    env_b: Sequence[str] = (),
    config: Path | None = None,
    rootdir: Path | None = None,
    latency: bool = False,
    with_a: Sequence[str] = (),
    with_b: Sequence[str] = (),
    threads: int | None = None,
) -> str:
    """`pytest-deeplab explain ...` with every argument quoted for a POSIX shell."""
    parts = ["pytest-deeplab", "explain", model] + (["--latency"] if latency else [])
    if rootdir is not None:
        parts += ["--rootdir", str(rootdir)]
    if config is not None:
        parts += ["--config", str(config)]
    if image is not None:
        parts += ["--image", str(image)]
    if baseline:
        parts += ["--baseline", baseline]
    parts += [item for pin in with_a for item in ("--with-a", pin)]
    if candidate:
        parts += ["--candidate", candidate]
    parts += [item for pin in with_b for item in ("--with-b", pin)]
    if threads:
        parts += ["--threads", str(threads)]
    parts += [item for pair in env_a for item in ("--env-a", pair)]
    parts += [item for pair in env_b for item in ("--env-b", pair)]
    return " ".join(shlex.quote(p) for p in parts)


def golden_explain_line(
    model: str, image: Path | None, golden: Mapping[str, Any], current: Mapping[str, Any],
    config: Path | None = None, rootdir: Path | None = None,
) -> str:
    """The failure-message line: golden's environment (A) against this one (B)."""
    python = sys.executable
    golden_tf, this_tf = golden.get("tensorflow"), current.get("tensorflow")
    placeholder = bool(golden_tf) and golden_tf != this_tf
    baseline = f"PY_WITH_TF_{golden_tf}" if placeholder else python
    env_a = []
    if golden.get("onednn") is not None and golden.get("onednn") != current.get("onednn"):
        env_a.append(f"TF_ENABLE_ONEDNN_OPTS={1 if golden['onednn'] else 0}")
    command = explain_command(model, image, baseline=baseline, candidate=python, env_a=env_a,
                              config=config, rootdir=rootdir)
    where = (f" (PY_WITH_TF_{golden_tf}: a Python with TensorFlow {golden_tf}, which made the "
             "golden; tox:ENV or a requirement spec work too)" if placeholder else "")
    return f"\n  where the runs part ways: {command}{where}"


def explain_hint(deeplab: DeepLabSession, model: ModelSpec, image: Path | None,
                 golden: Mapping[str, Any]) -> str:
    """golden_explain_line for a mask item of this session."""
    options = deeplab.options
    rootdir = Path(options.rootdir).resolve()
    return golden_explain_line(
        model.name, image.resolve() if image is not None else None, golden,
        deeplab.identity, config=options.config_file,
        rootdir=None if rootdir == Path.cwd().resolve() else rootdir,
    )


def _gate_side(side: Any) -> tuple[str, list[str]]:
    """What to pass for one gate side: its interpreter, tox env, or spec and its pins."""
    if side.expected and side.asked:  # built from a requirement spec: "spec pin pin ..."
        first, *pins = side.asked.split()
        return first, pins
    return side.asked or side.python, []


def gate_latency_command(model: str, settings: Any) -> str:
    """The `explain --latency` command for a gate's latency FAIL: the gate's own two sides."""
    a, b = settings.baseline, settings.candidate
    (baseline, with_a), (candidate, with_b) = _gate_side(a), _gate_side(b)
    rootdir = Path(settings.rootdir).resolve()
    return explain_command(
        model, baseline=baseline, candidate=candidate, with_a=with_a, with_b=with_b,
        env_a=[f"{k}={v}" for k, v in a.env.items()],
        env_b=[f"{k}={v}" for k, v in b.env.items()],
        config=settings.config_file, threads=a.threads if a.threads == b.threads else None,
        rootdir=None if rootdir == Path.cwd().resolve() else rootdir, latency=True)
