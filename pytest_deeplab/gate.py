"""The upgrade gate: the same models, two environments, timed alternately in one run.

Comparing two CI runs made hours apart on shared runners mixes machine noise into the answer.
Here a long-lived worker is started in each interpreter (`PY -m pytest_deeplab.gate_worker`);
each loads the selected models once, then single timed inferences alternate between them
(A B, B A, A B, …, so neither side always goes first). Each round's pair of timings saw the
same machine, so the per-pair ratio cancels drift; the ratio B/A and its bootstrap interval come
from those pairs (`gate_stats`). The masks both environments produce on the model's images are
compared too: no goldens needed.

The gate fails (exit 1) when a model's latency interval lies wholly above the threshold, its
masks agree less than the model's `min_agreement`, or it cannot be loaded or run in one of the
environments.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from pytest_deeplab.gate_stats import (
    RatioEstimate,
    coefficient_of_variation,
    median_cv,
    paired_ratio,
)
from pytest_deeplab.gate_worker import PROTOCOL, decode_mask

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

Log = Callable[[str], None]


class GateError(RuntimeError):
    """The gate could not run at all (bad interpreter, worker died, nothing selected)."""


class WorkerCommandError(RuntimeError):
    """A worker answered a request with an error (e.g. a model that does not load there)."""

    def __init__(self, side: str, message: str, kind: str) -> None:
        super().__init__(f"[{side}] {kind}: {message}")
        self.side, self.message, self.kind = side, message, kind


@dataclass
class Side:
    """One environment: an interpreter, environment overrides and thread settings."""

    label: str  # "A" (baseline) or "B" (candidate)
    python: str
    env: dict[str, str] = field(default_factory=dict)
    threads: int | None = None


@dataclass
class GateSettings:
    baseline: Side
    candidate: Side
    models: str
    rootdir: Path
    config_file: Path | None = None
    cache_dir: Path | None = None
    mirrors: list[str] = field(default_factory=list)
    offline: bool = False
    threshold: float = 1.10
    cpu_threshold: float | None = 1.10  # None: CPU time is reported, not gated
    rounds: int | None = None  # None: as many as fit in `seconds`, within min/max
    seconds: float = 30.0
    min_rounds: int = 30
    max_rounds: int = 1000
    warmup: int = 5
    settle: float = 0.0  # pause before each timed call: lets the other side's threads sleep
    confidence: float = 0.95
    seed: int = 0
    max_images: int | None = None
    load_timeout: float = 900.0

    def worker_options(self, side: Side) -> dict[str, Any]:
        return {
            "rootdir": str(self.rootdir),
            "config_file": str(self.config_file) if self.config_file else None,
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "mirrors": list(self.mirrors),
            "offline": self.offline,
            "threads": side.threads,
        }


# -- the worker processes ---------------------------------------------------------------------


class WorkerProcess:
    """A gate worker in another interpreter; replies are read by a thread so timeouts work."""

    def __init__(self, side: Side, cwd: Path) -> None:
        self.side = side
        env = dict(os.environ)
        env.update(side.env)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self.proc = subprocess.Popen(
                [side.python, "-m", "pytest_deeplab.gate_worker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, encoding="utf-8", bufsize=1, env=env, cwd=str(cwd),
            )
        except OSError as exc:
            raise GateError(
                f"cannot start the {side.label} interpreter {side.python!r}: {exc}"
            ) from None
        self.replies: queue.Queue[str | None] = queue.Queue()
        self.stderr: deque[str] = deque(maxlen=60)
        assert self.proc.stdout is not None and self.proc.stderr is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout, True), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.proc.stderr, False), daemon=True).start()

    def _pump(self, stream: IO[str], replies: bool) -> None:
        for line in stream:
            if replies:
                self.replies.put(line)
            else:
                self.stderr.append(line.rstrip("\n"))
        if replies:
            self.replies.put(None)

    def stderr_tail(self, lines: int = 15) -> str:
        tail = list(self.stderr)[-lines:]
        return "\n".join(f"    {line}" for line in tail) if tail else "    (nothing on stderr)"

    def send(self, cmd: str, **args: Any) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps({"cmd": cmd, **args}) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise self._died(f"while sending {cmd!r}") from None

    def receive(self, timeout: float) -> dict[str, Any]:
        try:
            line = self.replies.get(timeout=timeout)
        except queue.Empty:
            raise GateError(
                f"[{self.side.label}] {self.side.python}: no answer within {timeout:.0f} s\n"
                f"  stderr:\n{self.stderr_tail()}"
            ) from None
        if line is None:
            raise self._died("")
        try:
            reply: dict[str, Any] = json.loads(line)
        except json.JSONDecodeError:
            raise GateError(
                f"[{self.side.label}] the worker wrote something that is not a reply: {line!r}"
            ) from None
        if not reply.get("ok"):
            raise WorkerCommandError(self.side.label, str(reply.get("error")),
                                     str(reply.get("kind", "Error")))
        return reply

    def call(self, cmd: str, timeout: float = 120.0, **args: Any) -> dict[str, Any]:
        self.send(cmd, **args)
        return self.receive(timeout)

    def _died(self, when: str) -> GateError:
        try:
            code = self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            code = None
        time.sleep(0.05)  # let the stderr pump catch the last lines
        hint = ""
        if any("No module named pytest_deeplab" in line for line in self.stderr):
            hint = (f"\n  pytest-deeplab is not installed in {self.side.python}: "
                    f"`{self.side.python} -m pip install pytest-deeplab` (or -e this checkout).")
        return GateError(
            f"[{self.side.label}] worker {self.side.python} exited (code {code}) {when}{hint}\n"
            f"  stderr:\n{self.stderr_tail()}"
        )

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.send("quit")
                self.proc.wait(timeout=10)
            except (GateError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def call_both(
    workers: Sequence[WorkerProcess], cmd: str, timeout: float, **args: Any
) -> list[dict[str, Any]]:
    """Send to every worker first, then collect: for steps that need not be timed apart."""
    for worker in workers:
        worker.send(cmd, **args)
    replies: list[dict[str, Any]] = []
    error: WorkerCommandError | None = None
    for worker in workers:
        try:
            replies.append(worker.receive(timeout))
        except WorkerCommandError as exc:
            error = error or exc
            replies.append({})
    if error is not None:
        raise error
    return replies


# -- results ----------------------------------------------------------------------------------


@dataclass
class SideSamples:
    load_s: float = float("nan")
    first_call_s: float = float("nan")
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        return {
            "load_s": self.load_s,
            "first_call_s": self.first_call_s,
            "median_s": float(np.median(self.wall)) if self.wall else float("nan"),
            "cpu_median_s": float(np.median(self.cpu)) if self.cpu else float("nan"),
            "cv": coefficient_of_variation(self.wall),
            "median_cv": median_cv(self.wall),
        }


@dataclass
class ModelOutcome:
    name: str
    min_agreement: float
    a: SideSamples = field(default_factory=SideSamples)
    b: SideSamples = field(default_factory=SideSamples)
    image: str = ""
    image_size: tuple[int, int] = (0, 0)
    ratio: RatioEstimate | None = None
    cpu_ratio: RatioEstimate | None = None
    agreement: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    verdict: str = ""
    failed: bool = False
    reasons: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def worst_agreement(self) -> float | None:
        return min(self.agreement.values()) if self.agreement else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.name,
            "verdict": self.verdict,
            "failed": self.failed,
            "reasons": self.reasons,
            "error": self.error,
            "image": self.image,
            "image_size": list(self.image_size),
            "ratio": self.ratio.as_dict() if self.ratio else None,
            "cpu_ratio": self.cpu_ratio.as_dict() if self.cpu_ratio else None,
            "agreement": self.agreement,
            "min_agreement": self.min_agreement,
            "a": {**self.a.summary(), "wall": self.a.wall, "cpu": self.a.cpu},
            "b": {**self.b.summary(), "wall": self.b.wall, "cpu": self.b.cpu},
            "seconds": self.seconds,
        }


@dataclass
class GateReport:
    settings: GateSettings
    identities: dict[str, dict[str, Any]]
    models: list[ModelOutcome]
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return any(m.failed for m in self.models)

    @property
    def exit_code(self) -> int:
        return EXIT_FAIL if self.failed else EXIT_PASS

    def as_dict(self) -> dict[str, Any]:
        s = self.settings
        return {
            "threshold": s.threshold,
            "cpu_threshold": s.cpu_threshold,
            "confidence": s.confidence,
            "sides": {
                side.label: {"python": side.python, "env": side.env, "threads": side.threads,
                             **self.identities.get(side.label, {})}
                for side in (s.baseline, s.candidate)
            },
            "models": [m.as_dict() for m in self.models],
            "failed": self.failed,
            "seconds": self.seconds,
        }


# -- running ----------------------------------------------------------------------------------


def _stderr_log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_gate(settings: GateSettings, log: Log = _stderr_log) -> GateReport:
    """Start both workers, measure every selected model, and return the report."""
    started = time.perf_counter()
    selected = resolve_models(settings)
    names = [m.name for m in selected]
    workers = [WorkerProcess(settings.baseline, settings.rootdir),
               WorkerProcess(settings.candidate, settings.rootdir)]
    identities: dict[str, dict[str, Any]] = {}
    outcomes: list[ModelOutcome] = []
    try:
        for worker, hello in zip(workers, call_both(workers, "hello", 120)):
            if hello.get("protocol") != PROTOCOL:
                raise GateError(
                    f"[{worker.side.label}] {worker.side.python} has pytest-deeplab "
                    f"{hello.get('plugin_version')} speaking gate protocol "
                    f"{hello.get('protocol')}, this one speaks {PROTOCOL}: install the same "
                    "pytest-deeplab in both environments."
                )
            identities[worker.side.label] = {
                k: hello[k] for k in ("python", "numpy", "plugin_version", "pid")
            }
        for worker in workers:
            worker.send("setup", options=settings.worker_options(worker.side), models=names)
        for worker in workers:
            try:
                worker.receive(300)
            except WorkerCommandError as exc:
                raise GateError(f"{exc} (resolving the models in {worker.side.python})") from None
        log("gate: importing TensorFlow in both environments ...")
        for worker in workers:
            worker.send("identity")
        for worker in workers:
            try:
                identities[worker.side.label].update(worker.receive(600)["identity"])
            except WorkerCommandError as exc:
                raise GateError(str(exc)) from None
            ident = identities[worker.side.label]
            log(f"gate: [{worker.side.label}] {worker.side.python}: TensorFlow "
                f"{ident['tensorflow']}, oneDNN {_onednn(ident)}, threads {_threads(ident)}")
        for model in selected:
            outcomes.append(measure_model(workers, model.name, model.min_agreement, settings, log))
    finally:
        for worker in workers:
            worker.close()
    return GateReport(settings, identities, outcomes, time.perf_counter() - started)


def resolve_models(settings: GateSettings) -> list[Any]:
    """The selection, resolved as the plugin resolves it (no TensorFlow import here)."""
    from pytest_deeplab.catalogue import CatalogueError
    from pytest_deeplab.options import DeepLabOptions
    from pytest_deeplab.session import DeepLabSession

    options = DeepLabOptions(
        rootdir=settings.rootdir, models=settings.models, update_golden=None,
        golden_dir=settings.rootdir / "deeplab-golden", cache_dir=settings.cache_dir,
        mirrors=list(settings.mirrors), offline=settings.offline,
        config_file=settings.config_file,
    )
    try:
        selected: list[Any] = DeepLabSession(options).selected
    except CatalogueError as exc:  # includes "selects no model": never pass on nothing
        raise GateError(str(exc).replace("--deeplab-models", "--models")) from None
    return selected


def measure_model(
    workers: Sequence[WorkerProcess], name: str, min_agreement: float, settings: GateSettings,
    log: Log = _stderr_log,
) -> ModelOutcome:
    a, b = workers
    outcome = ModelOutcome(name, min_agreement)
    started = time.perf_counter()
    samples = {a.side.label: outcome.a, b.side.label: outcome.b}
    try:
        for worker in (a, b):  # one after the other: a first call must not share the CPU
            reply = worker.call("load", timeout=settings.load_timeout, model=name)
            s = samples[worker.side.label]
            s.load_s, s.first_call_s = reply["load_s"], reply["first_call_s"]
            outcome.image = reply["image"]
            outcome.image_size = (int(reply["image_size"][0]), int(reply["image_size"][1]))
        steady = []
        for worker in (a, b):
            warm = worker.call("infer", timeout=settings.load_timeout, model=name,
                               n=settings.warmup)
            steady.append(float(np.median(warm["wall"])))
        rounds = settings.rounds or int(np.clip(
            settings.seconds / max(sum(steady), 1e-6), settings.min_rounds, settings.max_rounds))
        log(f"gate: {name}: first call A {outcome.a.first_call_s:.3f} s, "
            f"B {outcome.b.first_call_s:.3f} s; {rounds} alternating rounds ...")
        timeout = max(60.0, 50 * max(steady))
        for i in range(rounds):
            for worker in (a, b) if i % 2 == 0 else (b, a):
                if settings.settle:
                    time.sleep(settings.settle)
                reply = worker.call("infer", timeout=timeout, model=name, n=1)
                s = samples[worker.side.label]
                s.wall.append(float(reply["wall"][0]))
                s.cpu.append(float(reply["cpu"][0]))
        masks_a, masks_b = call_both(workers, "masks", settings.load_timeout, model=name,
                                     limit=settings.max_images)
        outcome.agreement = compare_masks(masks_a["masks"], masks_b["masks"])
    except WorkerCommandError as exc:
        outcome.error = str(exc)
    finally:
        for worker in (a, b):
            with contextlib.suppress(WorkerCommandError):
                worker.call("unload", timeout=60, model=name)
    if outcome.error is None:
        outcome.ratio = paired_ratio(outcome.a.wall, outcome.b.wall,
                                     confidence=settings.confidence, seed=settings.seed)
        outcome.cpu_ratio = paired_ratio(outcome.a.cpu, outcome.b.cpu,
                                         confidence=settings.confidence, seed=settings.seed)
    judge(outcome, settings.threshold, settings.cpu_threshold)
    outcome.seconds = time.perf_counter() - started
    log(f"gate: {name}: {outcome.verdict} ({outcome.seconds:.0f} s)")
    return outcome


def compare_masks(a: list[dict[str, str]], b: list[dict[str, str]]) -> dict[str, float]:
    """Pixel agreement per image between the two environments' masks."""
    from pytest_deeplab.metrics import pixel_agreement

    b_by_id = {m["id"]: m["png"] for m in b}
    result = {}
    for item in a:
        if item["id"] not in b_by_id:
            continue
        mask_a, mask_b = decode_mask(item["png"]), decode_mask(b_by_id[item["id"]])
        result[item["id"]] = (
            pixel_agreement(mask_a, mask_b) if mask_a.shape == mask_b.shape else 0.0
        )
    return result


def judge(outcome: ModelOutcome, threshold: float, cpu_threshold: float | None) -> None:
    """Set the verdict: a failure needs evidence beyond noise (the whole interval)."""
    reasons = outcome.reasons
    if outcome.error is not None:
        reasons.append(f"could not run: {outcome.error}")
        outcome.verdict, outcome.failed = "ERROR", True
        return
    worst = outcome.worst_agreement
    if worst is None:
        reasons.append("no images to compare masks on")
    elif worst < outcome.min_agreement:
        bad = [k for k, v in outcome.agreement.items() if v < outcome.min_agreement]
        reasons.append(f"masks agree {worst:.4%} < min_agreement {outcome.min_agreement:.4%} "
                       f"on {', '.join(bad)}")
    ratio, cpu = outcome.ratio, outcome.cpu_ratio
    assert ratio is not None and cpu is not None
    if ratio.above(threshold):
        reasons.append(f"latency B/A {ratio.ratio:.3f} [{ratio.low:.3f}, {ratio.high:.3f}] "
                       f"lies above {threshold:.2f}")
    if cpu_threshold is not None and cpu.above(cpu_threshold):
        reasons.append(f"CPU time B/A {cpu.ratio:.3f} [{cpu.low:.3f}, {cpu.high:.3f}] "
                       f"lies above {cpu_threshold:.2f}")
    outcome.failed = bool(reasons)  # no images to compare on fails closed too
    if outcome.failed:
        outcome.verdict = "FAIL"
    elif ratio.low > 1.0:
        outcome.verdict = "pass (slower, within threshold)"
    elif ratio.high < 1.0:
        outcome.verdict = "pass (faster)"
    else:
        outcome.verdict = "pass (no significant change)"


# -- rendering --------------------------------------------------------------------------------


def _onednn(ident: dict[str, Any]) -> str:
    flag = ident.get("onednn")
    state = "on" if flag else "off" if flag is not None else "n/a"
    return f"{state} ({ident.get('onednn_source', '?')})"


def _threads(ident: dict[str, Any]) -> str:
    intra = ident.get("intra_op_threads") or "default"
    inter = ident.get("inter_op_threads") or "default"
    return f"intra {intra} / inter {inter}"


def _ms(seconds: float) -> str:
    return "-" if seconds != seconds else f"{seconds * 1000:.1f}"


def _ratio(r: RatioEstimate | None) -> str:
    return "-" if r is None else f"{r.ratio:.3f} [{r.low:.3f}, {r.high:.3f}]"


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.1%}"


def render(report: GateReport, markdown: bool = True) -> str:
    """The table a reviewer pastes into a PR (Markdown), or the same as aligned text."""
    from pytest_deeplab.compare import format_table

    s = report.settings
    conf = f"{s.confidence:.0%}"
    sides = (s.baseline, s.candidate)
    env_rows = [
        ["role", *("baseline" if side is s.baseline else "candidate" for side in sides)],
        ["Python", *(f"`{side.python}` ({report.identities.get(side.label, {}).get('python', '?')})"
                     for side in sides)],
        ["TensorFlow", *(f"{i.get('tensorflow', '?')} ({i.get('tensorflow_git', '')})"
                         for i in (report.identities.get(side.label, {}) for side in sides))],
        ["numpy", *(str(report.identities.get(side.label, {}).get("numpy", "?"))
                    for side in sides)],
        ["oneDNN", *(_onednn(report.identities.get(side.label, {})) for side in sides)],
        ["threads", *(_threads(report.identities.get(side.label, {})) for side in sides)],
        ["env", *(" ".join(f"{k}={v}" for k, v in side.env.items()) or "-" for side in sides)],
    ]
    header = ["model", "image", "first call A / B (ms)", "median A / B (ms)",
              f"latency B/A [{conf} CI]", f"CPU B/A [{conf} CI]", "CV of median A / B",
              "mask agreement (min)", "verdict"]
    rows = []
    for m in report.models:
        sa, sb = m.a.summary(), m.b.summary()
        worst = m.worst_agreement
        rows.append([
            m.name,
            f"{m.image} {m.image_size[0]}x{m.image_size[1]}" if m.image else "-",
            f"{_ms(sa['first_call_s'])} / {_ms(sb['first_call_s'])}",
            f"{_ms(sa['median_s'])} / {_ms(sb['median_s'])}",
            _ratio(m.ratio),
            _ratio(m.cpu_ratio),
            f"{_pct(sa['median_cv'])} / {_pct(sb['median_cv'])}",
            "-" if worst is None else f"{worst:.4%} ({len(m.agreement)} images)",
            f"**{m.verdict}**" if markdown and m.failed else m.verdict,
        ])
    failed = [m for m in report.models if m.failed]
    title = (f"pytest-deeplab gate: B (candidate) vs A (baseline), fail when the {conf} interval "
             f"of B/A lies above {s.threshold:.2f}"
             + ("" if s.cpu_threshold is None else f" (CPU time: {s.cpu_threshold:.2f})")
             + " or masks agree less than the model's min_agreement")
    verdict = (f"FAIL: {len(failed)} of {len(report.models)} models" if failed
               else f"PASS: {len(report.models)} models")
    rounds = ", ".join(f"{m.name} {len(m.a.wall)}" for m in report.models)
    lines = [f"### {title}" if markdown else title, "",
             format_table(["", "A", "B"], env_rows, markdown), "",
             format_table(header, rows, markdown), "",
             f"{verdict}; alternating rounds per model: {rounds}; {report.seconds:.0f} s in all."]
    for m in failed:
        lines.extend(f"- {m.name}: {reason}" for reason in m.reasons)
    return "\n".join(lines) + "\n"
