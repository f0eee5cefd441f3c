"""Where the interpreter does not verify a model's bytes, try the model in a forked child first.

TF Lite's flatbuffer verifier runs when a model is given as `model_content` in recent builds
(TF 2.21's tf.lite, ai_edge_litert 2.3: a cut file is a ValueError), but not in older ones:
under TF 2.15 half a model given as `model_content` still ends the process with SIGSEGV. Which
kind of interpreter this is gets measured once per process, in a forked child fed the model's
own bytes cut in half; where it does not verify, every model is built, prepared and run once in
a forked child before this process touches it, so a crash costs the child and becomes an error
on that model's items. Without `os.fork` (Windows) there is no probe.
"""

from __future__ import annotations

import faulthandler
import os
import signal
from collections.abc import Callable
from pathlib import Path

from pytest_deeplab.runtime.base import ModelLoadError

_VERIFIES: dict[str, bool] = {}


def in_child(work: Callable[[], None]) -> tuple[str, str]:
    """Run `work` in a forked child: ("ok", ""), ("error", message) or ("crash", signal)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into the caller
        os.close(read)
        faulthandler.disable()  # a crash here is expected and reported by the parent, quietly
        quiet = os.open(os.devnull, os.O_WRONLY)
        os.dup2(quiet, 1)
        os.dup2(quiet, 2)
        code, message = 0, ""
        try:
            work()
        except BaseException as exc:  # everything is reported to the parent
            code, message = 3, f"{type(exc).__name__}: {exc}"
        os.write(write, message.encode()[:4096])
        os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        text = pipe.read().decode("utf-8", "replace")
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return "crash", signal.Signals(os.WTERMSIG(status)).name
    return ("ok", "") if os.WEXITSTATUS(status) == 0 else ("error", text)


def verifies(label: str, build: Callable[[bytes], object], data: bytes) -> bool:
    """Does this interpreter refuse damaged bytes instead of crashing? Measured once."""
    if label not in _VERIFIES:
        if not hasattr(os, "fork"):
            _VERIFIES[label] = True  # nothing to probe with: trust the interpreter
        else:
            def cut() -> None:
                build(data[: len(data) // 2])

            outcome, text = in_child(cut)
            _VERIFIES[label] = outcome == "error" and "not a valid Flatbuffer" in text
    return _VERIFIES[label]


def probe(path: Path, label: str, trial: Callable[[], None]) -> None:
    """Build, prepare and run the model once in a child; a crash there is an error here."""
    outcome, detail = in_child(trial)
    if outcome == "crash":
        raise ModelLoadError(
            f"{path}: the TF Lite interpreter ({label}) crashed on this file ({detail}) while a "
            "separate process built and ran it, so this run does not load it: the file is "
            "truncated or corrupt, or not a model this interpreter can run. Fetch or copy it "
            "again; a newer TF Lite (TensorFlow 2.21, or `pip install ai-edge-litert`) names "
            "what is wrong."
        )
