"""What the allowlist check found, and the error a refused model raises (TensorFlow-free)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pytest_deeplab.runtime.base import ModelLoadError


@dataclass(frozen=True)
class OpUse:
    """One op in a model file and where it sits, for a message a reviewer can act on."""

    op: str
    node: str
    function: str | None = None  # the library function (or TF Lite subgraph) that holds it
    context: str = "graph"  # "graph"; "restore"/"save" for a SavedModel's checkpoint saver

    def where(self) -> str:
        inside = f" in {self.function}" if self.function else ""
        if self.context == "custom":
            return (f"{self.node}{inside}; a custom operator runs whatever the runtime registered "
                    "under its name (Flex ops run TensorFlow kernels, file ops included)")
        if self.context != "graph":
            inside += f" (on the checkpoint saver's {self.context} path)"
        return f"node {self.node!r}{inside}"


@dataclass
class SafetyReport:
    """Every op a file holds, and the ones outside the allowlist (empty: the file may run)."""

    path: str
    format: str
    ops: Counter[str] = field(default_factory=Counter)
    refused: list[OpUse] = field(default_factory=list)
    allowed_by_model: list[str] = field(default_factory=list)  # allow_ops names it used

    @property
    def ok(self) -> bool:
        return not self.refused

    def refused_types(self) -> list[str]:
        return sorted({use.op for use in self.refused})

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path, "format": self.format, "ok": self.ok,
            "ops": dict(sorted(self.ops.items())),
            "refused": [vars(use) for use in self.refused],
            "allowed_by_model": self.allowed_by_model,
        }


class UnsafeModelError(ModelLoadError):
    """A model file holds ops outside the allowlist; nothing from it was run."""

    def __init__(self, report: SafetyReport, name: str | None) -> None:
        self.report = report
        super().__init__(refusal_message(report, name))


def refusal_message(report: SafetyReport, name: str | None, shown: int = 8) -> str:
    who = f"model {name}" if name else report.path
    kinds = report.refused_types()
    lines = [
        f"{who}: refused before anything in it ran: {report.path} holds {len(report.refused)} "
        f"op(s) outside the allowlist of pure computation ({', '.join(kinds)}):"
    ]
    lines += [f"  - {use.op}: {use.where()}" for use in report.refused[:shown]]
    if len(report.refused) > shown:
        lines.append(f"  - ... and {len(report.refused) - shown} more")
    table = f"[tool.pytest-deeplab.models.{name}]" if name else "the model's table"
    quoted = ", ".join(f'"{op}"' for op in kinds)
    lines.append(
        "Such ops can read, write or list files, or run code, as the user running the tests. "
        f"If you trust this file and the model needs them, allow them for this model only with "
        f"allow_ops = [{quoted}] in {table}; otherwise do not run it. See docs/security.md."
    )
    return "\n".join(lines)


def count(uses: Iterable[OpUse]) -> Counter[str]:
    return Counter(use.op for use in uses)
