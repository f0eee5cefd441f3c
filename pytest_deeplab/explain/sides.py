"""One side of an explanation: a model file run in one environment, its tensors on disk.

A side is run by a gate-style worker process in its own interpreter; it loads the model, runs it
on the image, then writes its float tensors chunk by chunk into a folder of its own and the final
mask beside them, and releases the model. A worker is stopped before the next environment's
starts, so only one TensorFlow process holds memory at a time; the next side in the same
environment reuses it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deeplab.constants import Log
from pytest_deeplab.gate.controller import GateError, Side, WorkerCommandError, WorkerProcess
from pytest_deeplab.gate.worker import PROTOCOL

OPEN_TIMEOUT = 900.0


class ExplainError(RuntimeError):
    """explain could not run (bad model, image, interpreter, or a graph this TF cannot read)."""


class ExplainProcess(WorkerProcess):
    """The gate's worker process (reply pump, timeouts, error reports), on the explain worker."""

    MODULE = "pytest_deeplab.explain.worker"


@dataclass
class ModelRef:
    """A model file as explain runs it."""

    name: str
    path: Path
    format: str
    input_tensor: str | None = None  # None: the format's default
    output_tensor: str | None = None
    allow_ops: tuple[str, ...] = ()  # the model table's exceptions to the op allowlist
    settings: dict[str, Any] = field(default_factory=dict)  # its format's own keys (normalize)


@dataclass
class SideSpec:
    """What one run is: which model, which interpreter and environment, which kernels."""

    label: str  # "A", "B", or "A'" / "B'" for attribution reruns
    model: ModelRef
    side: Side
    xnnpack: bool = True
    unfused: bool = False  # frozen graphs: every tensor, Grappler's remapper off

    @property
    def has_xnnpack(self) -> bool:
        """TF Lite runs: XNNPACK is one of their settings (explain may flip it)."""
        from pytest_deeplab.runtime.formats import get_format

        return get_format(self.model.format).has_xnnpack

    def describe_env(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.side.env.items())
        xnn = "" if not self.has_xnnpack or self.xnnpack else " XNNPACK off"
        return (env + xnn).strip() or "-"


@dataclass
class SideRun:
    """A finished run: its tensors (name -> file), records, identity and the mask file."""

    spec: SideSpec
    folder: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    compat: dict[str, Any] = field(default_factory=dict)
    describe: dict[str, Any] = field(default_factory=dict)
    mask_file: Path | None = None
    peak_rss_mb: float | None = None
    seconds: float = 0.0
    startup_seconds: float = 0.0  # starting the worker and importing TensorFlow
    chunks: int = 0

    @property
    def onednn(self) -> bool | None:
        """oneDNN as TensorFlow reports it in the worker, else as the identity guesses it."""
        active = self.describe.get("onednn_active")
        return bool(active) if active is not None else self.identity.get("onednn")

    def summary(self) -> dict[str, Any]:
        ident = self.identity
        return {
            "label": self.spec.label, "model": self.spec.model.name,
            "path": str(self.spec.model.path), "format": self.spec.model.format,
            "python": self.spec.side.python, "env": dict(self.spec.side.env),
            "xnnpack": self.spec.xnnpack if self.spec.has_xnnpack else None,
            "tensorflow": ident.get("tensorflow"), "onednn": self.onednn,
            "onednn_source": "measured" if self.describe.get("onednn_active") is not None
            else ident.get("onednn_source"), "threads": self.spec.side.threads,
            "tensors": len(self.records), "dumped": len(self.files), "chunks": self.chunks,
            "bytes": sum(int(r["bytes"]) for r in self.records if r["name"] in self.files),
            "describe": self.describe, "compat": self.compat,
            "peak_rss_mb": self.peak_rss_mb, "seconds": round(self.seconds, 2),
            "startup_seconds": round(self.startup_seconds, 2),
        }


def _check_hello(worker: WorkerProcess, hello: dict[str, Any]) -> None:
    if hello.get("protocol") != PROTOCOL:
        raise ExplainError(
            f"[{worker.side.label}] {worker.side.python} has pytest-deeplab "
            f"{hello.get('plugin_version')} (worker protocol {hello.get('protocol')}, this one "
            f"speaks {PROTOCOL}): install the same pytest-deeplab in both environments."
        )


class Workers:
    """At most one live worker: a side whose environment equals the last one's reuses it.

    Sides run one after the other; the same interpreter with the same environment (a model
    against its re-export, the same graph twice) then pays TensorFlow's import once.
    """

    def __init__(self) -> None:
        self.live: tuple[tuple[Any, ...], ExplainProcess, dict[str, Any]] | None = None

    def get(self, side: Side) -> tuple[ExplainProcess, dict[str, Any], bool]:
        """(worker, its identity, started now?) for this environment."""
        key = (side.python, tuple(sorted(side.env.items())), side.threads)
        if self.live is not None and self.live[0] == key and self.live[1].proc.poll() is None:
            return self.live[1], self.live[2], False
        self.close()
        worker = ExplainProcess(side, Path.cwd())
        try:
            _check_hello(worker, worker.call("hello", timeout=120))
            identity = worker.call("identity", timeout=600)["identity"]
        except BaseException:
            worker.close()
            raise
        self.live = (key, worker, identity)
        return worker, identity, True

    def close(self) -> None:
        if self.live is not None:
            self.live[1].close()
            self.live = None


def run_side(
    spec: SideSpec,
    folder: Path,
    image_file: Path,
    plan: Callable[[list[dict[str, Any]]], list[list[str]]],
    log: Log,
    workers: Workers,
    on_chunk: Callable[[SideRun, list[str]], None] | None = None,
) -> SideRun:
    """Pre-flight, open, dump the planned chunks and take the mask, in a worker for spec's side."""
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    run = SideRun(spec, folder)
    try:
        worker, run.identity, fresh = workers.get(spec.side)
        if fresh:
            run.startup_seconds = time.perf_counter() - started
        _run(worker, run, image_file, plan, log, on_chunk)
    except WorkerCommandError as exc:
        workers.close()
        raise ExplainError(f"[{spec.label}] {spec.model.name}: {exc.kind}: {exc.message}"
                           ) from None
    except GateError as exc:
        workers.close()
        raise ExplainError(str(exc)) from None
    except BaseException:
        workers.close()
        raise
    run.seconds = time.perf_counter() - started
    return run


def _run(
    worker: ExplainProcess, run: SideRun, image_file: Path,
    plan: Callable[[list[dict[str, Any]]], list[list[str]]], log: Log,
    on_chunk: Callable[[SideRun, list[str]], None] | None,
) -> None:
    spec, model, folder = run.spec, run.spec.model, run.folder
    run.compat = worker.call("explain_compat", timeout=OPEN_TIMEOUT, path=str(model.path),
                             format=model.format)["compat"]
    if not run.compat.get("ok", True):
        raise ExplainError(
            f"[{spec.label}] TensorFlow {run.identity.get('tensorflow')} cannot read "
            f"{model.path}:\n" + "\n".join(f"  {p}" for p in run.compat["problems"]))
    opened = worker.call(
        "explain_open", timeout=OPEN_TIMEOUT, path=str(model.path), format=model.format,
        image=str(image_file), input_tensor=model.input_tensor,
        output_tensor=model.output_tensor, threads=spec.side.threads, xnnpack=spec.xnnpack,
        allow_ops=list(model.allow_ops), settings=model.settings,
        unfused=spec.unfused)
    run.records, run.describe = opened["tensors"], opened["describe"]
    chunks = plan(run.records)
    run.chunks = len(chunks)
    log(f"explain: [{spec.label}] {model.name}: TensorFlow {run.identity.get('tensorflow')}, "
        f"oneDNN {_flag(run.onednn)}, {spec.describe_env()}; "
        f"{len(run.records)} float tensors, {sum(map(len, chunks))} to write in "
        f"{len(chunks)} chunks")
    for names in chunks:
        for item in worker.call("explain_dump", timeout=OPEN_TIMEOUT, names=names,
                                folder=str(folder))["files"]:
            run.files[item["name"]] = folder / item["file"]
        if on_chunk is not None:
            on_chunk(run, names)
    run.mask_file = folder / "mask.npy"
    worker.call("explain_mask", timeout=OPEN_TIMEOUT, file=str(run.mask_file))
    run.peak_rss_mb = worker.call("explain_close", timeout=120)["peak_rss_mb"]


def _flag(value: Any) -> str:
    return "on" if value else "off" if value is not None else "n/a"
