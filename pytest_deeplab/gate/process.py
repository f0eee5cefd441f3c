"""The gate's worker processes: one long-lived `PY -m pytest_deeplab.gate.worker` per side.

Replies are read by a thread so that every request has a timeout; a worker that dies is
reported with the tail of its stderr, and a missing pytest-deeplab with the command to fix it.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any


class GateError(RuntimeError):
    """The gate could not run at all (bad interpreter, worker died, nothing selected)."""


class WorkerCommandError(RuntimeError):
    """A worker answered a request with an error (e.g. a model that does not load there)."""

    def __init__(self, side: str, message: str, kind: str) -> None:
        super().__init__(f"[{side}] {kind}: {message}")
        self.side, self.message, self.kind = side, message, kind


@dataclass
class Side:
    """One environment: an interpreter, environment overrides, thread settings, and what the
    user asked for (a spec's resolved versions must be what the worker really runs)."""

    label: str  # "A" (baseline) or "B" (candidate)
    python: str
    env: dict[str, str] = field(default_factory=dict)
    threads: int | None = None
    asked: str = ""  # --baseline / --candidate as given
    origin: str = "interpreter"  # "interpreter", "tox:NAME", or the built environment's name
    expected: dict[str, str] = field(default_factory=dict)  # distribution -> version
    expected_tensorflow: tuple[str, str] | None = None  # (distribution, version)
    env_dir: str | None = None  # a spec's environment: its folder under <cache>/envs
    built_now: bool = False  # that environment was built for this run (not reused)


class WorkerProcess:
    """A worker in another interpreter, speaking the JSON-lines protocol of gate.worker.serve
    (hello, a request, a reply, quit); replies are read by a thread so timeouts work. explain's
    workers are the same process with another MODULE."""

    MODULE = "pytest_deeplab.gate.worker"

    def __init__(self, side: Side, cwd: Path) -> None:
        self.side = side
        env = dict(os.environ)
        env.update(side.env)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env["PYTHONUNBUFFERED"] = "1"
        try:
            self.proc = subprocess.Popen(
                [side.python, "-m", self.MODULE],
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
