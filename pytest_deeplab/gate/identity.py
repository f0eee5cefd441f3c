"""Fail closed on identity: each side must run what was asked for.

A requirement spec resolves to exact versions; the worker then reports, from inside its own
process, the versions of those distributions and the TensorFlow it really imported. Any
difference (a second TensorFlow shadowing the one installed, a PYTHONPATH given with --env-b,
a stale environment) stops the gate with the side and both versions named.
"""

from __future__ import annotations

from typing import Any

from pytest_deeplab.envs.provision import same_version
from pytest_deeplab.gate.process import GateError, Side

FIX = ("rebuild it (`pytest-deeplab envs prune --all`, then rerun) and check what --env-{side} "
       "puts on PYTHONPATH")


def check_distributions(side: Side, hello: dict[str, Any]) -> None:
    found = hello.get("distributions") or {}
    for name, version in side.expected.items():
        if not same_version(found.get(name), version):
            raise GateError(
                f"[{side.label}] {side.asked!r} resolved {name} {version}, but the worker "
                f"({side.python}) has {name} {found.get(name) or 'not installed'}: "
                + FIX.format(side=side.label.lower()))


def check_tensorflow(side: Side, identity: dict[str, Any]) -> None:
    if side.expected_tensorflow is None:
        return
    name, version = side.expected_tensorflow
    running = str(identity.get("tensorflow", "?"))
    if not same_version(running, version):
        raise GateError(
            f"[{side.label}] {side.asked!r} resolved {name} {version}, but the worker imports "
            f"TensorFlow {running} (another TensorFlow shadows it): "
            + FIX.format(side=side.label.lower()))
