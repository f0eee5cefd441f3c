"""The tools that build environments: uv when present (fast, cached), else venv + pip.

Both do the same four things: resolve requirements to exact versions (without installing),
create an empty environment, install exact pins, install this project without its dependencies.
Their output is shown as progress; when one fails, its own last lines are the reason given.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from packaging.utils import canonicalize_name

from pytest_deeplab.constants import Log


class InstallError(RuntimeError):
    """An installer refused (no wheel for this Python, registry unreachable, bad pin)."""


@dataclass(frozen=True)
class IndexOptions:
    """Where packages come from; understood alike by pip and uv."""

    index_url: str | None = None
    find_links: tuple[str, ...] = ()
    no_index: bool = False

    def args(self) -> list[str]:
        out = ["--index-url", self.index_url] if self.index_url else []
        for link in self.find_links:
            out += ["--find-links", link]
        return out + (["--no-index"] if self.no_index else [])


def run_logged(cmd: Sequence[str], log: Log, what: str, stdin: str | None = None,
               quiet: bool = False, stdout_is_output: bool = False) -> str:
    """Run `cmd`, show its lines as they come (unless quiet), return its stdout.

    InstallError with the tool's last lines when it fails. With `stdout_is_output` stdout is
    data (a resolver's pins), so only stderr is shown.
    """
    tail: deque[str] = deque(maxlen=25)
    out: list[str] = []
    started = time.perf_counter()
    try:
        proc = subprocess.Popen(list(cmd), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                errors="replace")
    except OSError as exc:
        raise InstallError(f"{what}: cannot run {cmd[0]}: {exc}") from None

    def pump(stream: IO[str], keep: list[str] | None) -> None:
        for raw in stream:
            line = raw.rstrip()
            if keep is not None:
                keep.append(line)
                continue
            if line.strip() and not line.startswith("WARNING: Location"):
                tail.append(line)
                if not quiet and not line.lstrip().startswith(("+ ", "- ")):
                    log(f"  {line}")

    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    threads = [threading.Thread(target=pump, args=(proc.stderr, None), daemon=True),
               threading.Thread(target=pump, args=(proc.stdout, out if stdout_is_output
                                                   else None), daemon=True)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.write(stdin or "")
        proc.stdin.close()
    code = proc.wait()
    for thread in threads:
        thread.join()
    if code != 0:
        reason = "\n".join(f"    {line}" for line in [*tail, *out[-10:]] if line.strip())
        raise InstallError(f"{what} failed (exit {code}, "
                           f"{time.perf_counter() - started:.0f} s):\n{reason}\n"
                           f"  command: {' '.join(cmd)}")
    return "\n".join(out)


@dataclass
class Installer:
    """Base: subclasses say how to resolve, create and install."""

    index: IndexOptions = field(default_factory=IndexOptions)
    name: str = "installer"

    def resolve(self, requirements: Sequence[str], python: str, log: Log) -> list[str]:
        raise NotImplementedError

    def create(self, env_dir: Path, python: str, log: Log) -> Path:
        raise NotImplementedError

    def install(self, env_python: Path, args: Sequence[str], log: Log, what: str) -> None:
        raise NotImplementedError


def env_python(env_dir: Path) -> Path:
    return env_dir / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def _uv_binary() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    if importlib.util.find_spec("uv") is not None:
        from uv import find_uv_bin  # the PyPI `uv` package ships its binary

        return str(find_uv_bin())
    return None


class UvInstaller(Installer):
    def __init__(self, binary: str, index: IndexOptions | None = None) -> None:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True)
        super().__init__(index or IndexOptions(), version.stdout.strip() or "uv")
        self.binary = binary

    def resolve(self, requirements: Sequence[str], python: str, log: Log) -> list[str]:
        out = run_logged([self.binary, "pip", "compile", "-", "--python", python, "--no-header",
                          "--no-annotate", "--quiet", *self.index.args()],
                         log, "resolving with uv", stdin="\n".join(requirements) + "\n",
                         quiet=True, stdout_is_output=True)
        return [line.strip() for line in out.splitlines()
                if line.strip() and not line.lstrip().startswith(("#", "-"))]

    def create(self, env_dir: Path, python: str, log: Log) -> Path:
        run_logged([self.binary, "venv", "--quiet", "--python", python, str(env_dir)],
                   log, "creating the environment with uv")
        return env_python(env_dir)

    def install(self, env_python: Path, args: Sequence[str], log: Log, what: str) -> None:
        run_logged([self.binary, "pip", "install", "--python", str(env_python),
                    *self.index.args(), *args], log, what)


class PipInstaller(Installer):
    def __init__(self, index: IndexOptions | None = None) -> None:
        import pip

        super().__init__(index or IndexOptions(), f"pip {pip.__version__} + venv")

    def resolve(self, requirements: Sequence[str], python: str, log: Log) -> list[str]:
        with tempfile.TemporaryDirectory(prefix="pytest-deeplab-resolve-") as tmp:
            req_file, report = Path(tmp) / "requirements.txt", Path(tmp) / "report.json"
            req_file.write_text("\n".join(requirements) + "\n", encoding="utf-8")
            run_logged([python, "-m", "pip", "install", "--dry-run", "--ignore-installed",
                        "--quiet", "--disable-pip-version-check", "--report", str(report),
                        "-r", str(req_file), *self.index.args()],
                       log, "resolving with pip", quiet=True)
            data = json.loads(report.read_text(encoding="utf-8"))
        return sorted(f"{canonicalize_name(item['metadata']['name'])}=="
                      f"{item['metadata']['version']}" for item in data.get("install", []))

    def create(self, env_dir: Path, python: str, log: Log) -> Path:
        run_logged([python, "-m", "venv", str(env_dir)], log, "creating the environment (venv)")
        return env_python(env_dir)

    def install(self, env_python: Path, args: Sequence[str], log: Log, what: str) -> None:
        run_logged([str(env_python), "-m", "pip", "install", "--disable-pip-version-check",
                    "--progress-bar", "off", *self.index.args(), *args], log, what)


def make_installer(choice: str = "auto", index: IndexOptions | None = None) -> Installer:
    """`auto`: uv when it is on PATH or importable, else venv + pip."""
    if choice not in ("auto", "uv", "pip"):
        raise InstallError(f"unknown installer {choice!r}: auto, uv or pip")
    if choice in ("auto", "uv"):
        binary = _uv_binary()
        if binary is not None:
            return UvInstaller(binary, index)
        if choice == "uv":
            raise InstallError("uv was asked for but is neither on PATH nor importable: "
                               "`pip install uv`, or use --installer pip")
    return PipInstaller(index)
