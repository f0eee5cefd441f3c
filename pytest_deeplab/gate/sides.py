"""The gate's two sides from what the user typed: an interpreter, `tox:NAME`, or a spec to build.

A requirement spec is provisioned (envs.provision) and the side remembers the versions it
resolved, so the worker can be held to them (gate_identity).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_deeplab.constants import Log
from pytest_deeplab.envs.spec import parse_spec
from pytest_deeplab.gate.process import Side


def build_side(label: str, text: str, pins: Sequence[str], option: str, rootdir: Path,
               env: dict[str, str], threads: int | None, store: Any, installer: Any,
               log: Log) -> Side:
    """Parse `text`, build or find its environment, return the Side the workers start from."""
    spec = parse_spec(text, pins, option=option)
    if spec.kind == "python":
        assert spec.python is not None
        return Side(label, spec.python, env, threads, asked=text)
    if spec.kind == "tox":
        from pytest_deeplab.envs.tox import tox_python

        assert spec.tox_env is not None
        return Side(label, tox_python(spec.tox_env, rootdir, log), env, threads, asked=text,
                    origin=f"tox:{spec.tox_env}")
    from pytest_deeplab.envs.provision import provision

    built = provision(spec, store, installer, sys.executable, log, label=label)
    asked = " ".join(spec.requirements)
    return Side(label, built.python, env, threads, asked=asked,
                origin=f"{Path(built.record.path).name} ({'reused' if built.reused else 'built'}"
                       f" with {built.record.installer.split(' (')[0]})",
                expected=dict(built.expected), expected_tensorflow=built.tensorflow,
                env_dir=built.record.path, built_now=not built.reused)
