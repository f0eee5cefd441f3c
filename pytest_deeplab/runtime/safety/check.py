"""The allowlist check: list a model file's ops, hold them against the allowlist, refuse or pass.

Loaders call `checked_*` before anything of the file reaches TensorFlow: the bytes (or parsed
GraphDef) that passed are the ones that then load, so nothing is read twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.safety import allowlist
from pytest_deeplab.runtime.safety.findings import OpUse, SafetyReport, UnsafeModelError, count
from pytest_deeplab.runtime.safety.graphs import RESTORE, SAVE, graph_def_uses, saved_model_uses
from pytest_deeplab.runtime.safety.tflite import tflite_uses


@cache
def _allowed_in(context: str) -> frozenset[str]:
    """The TensorFlow ops a node may hold in a context; saver paths add what they need."""
    general = allowlist.allowed(allowlist.GENERAL)
    parts = context.split("+")
    if parts == [RESTORE]:
        return general | allowlist.allowed(allowlist.RESTORE)
    if parts == [SAVE]:
        return general | allowlist.allowed(allowlist.SAVE)
    if sorted(parts) == sorted([RESTORE, SAVE]):
        return general | (allowlist.allowed(allowlist.RESTORE) & allowlist.allowed(allowlist.SAVE))
    return general


def judge(
    uses: Iterable[OpUse], path: str, fmt: str, allow_ops: Sequence[str] = (),
    *, tflite: bool = False,
) -> SafetyReport:
    """Hold every use against the allowlist; the model's own `allow_ops` are named exceptions."""
    uses = list(uses)
    own = set(allow_ops)
    report = SafetyReport(path=path, format=fmt, ops=count(uses))
    builtins = allowlist.allowed(allowlist.TFLITE)
    for use in uses:
        if tflite:
            ok = use.context != "custom" and use.op in builtins
        else:
            ok = use.op in _allowed_in(use.context)
        if ok:
            continue
        if use.op in own:
            if use.op not in report.allowed_by_model:
                report.allowed_by_model.append(use.op)
            continue
        report.refused.append(use)
    return report


def _raise_if_refused(report: SafetyReport, name: str | None) -> SafetyReport:
    if not report.ok:
        raise UnsafeModelError(report, name)
    return report


def graph_def_report(graph_def: Any, path: Path, allow_ops: Sequence[str] = ()) -> SafetyReport:
    """A frozen graph: every node and every library function, no saver privileges anywhere."""
    return judge(graph_def_uses(graph_def), str(path), "frozen_graph", allow_ops)


def checked_graph_def(path: Path, name: str | None, allow_ops: Sequence[str] = ()) -> Any:
    """The parsed GraphDef of a frozen graph that passed the check."""
    from pytest_deeplab.runtime.graph_def import read_graph_def

    graph_def = read_graph_def(path, name or "MODEL")
    _raise_if_refused(graph_def_report(graph_def, path, allow_ops), name)
    return graph_def


def saved_model_report(path: Path, allow_ops: Sequence[str] = ()) -> SafetyReport:
    return judge(saved_model_uses(path), str(path), "saved_model", allow_ops)


def check_saved_model(path: Path, name: str | None, allow_ops: Sequence[str] = ()) -> None:
    """Before `tf.saved_model.load`: every MetaGraph, function and initializer of the directory."""
    _raise_if_refused(saved_model_report(path, allow_ops), name)


def tflite_report(data: bytes, path: Path, allow_ops: Sequence[str] = ()) -> SafetyReport:
    from pytest_deeplab.runtime.tflite_interpreter import interpreter_package

    schema = interpreter_package().schema
    return judge(tflite_uses(data, schema, str(path)), str(path), "tflite", allow_ops,
                 tflite=True)


def checked_tflite_bytes(path: Path, name: str | None, allow_ops: Sequence[str] = ()) -> bytes:
    """The bytes of a TF Lite file that passed the check (the interpreter is built from them)."""
    from pytest_deeplab.runtime.tflite_interpreter import (
        EDGETPU_OP,
        edgetpu_error,
        read_model_bytes,
    )

    data = read_model_bytes(path, name or "MODEL")
    report = tflite_report(data, path, allow_ops)
    if EDGETPU_OP in report.refused_types():
        raise edgetpu_error(path)  # says which build to use instead, beyond "custom operator"
    _raise_if_refused(report, name)
    return data
