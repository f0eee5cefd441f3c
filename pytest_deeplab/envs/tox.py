"""`tox:NAME`: the interpreter of a tox environment of the rootdir's tox.ini.

`tox exec` builds or updates the environment when its deps changed (as `tox -e NAME` would,
without running its commands), so the gate measures what tox.ini says, not a stale folder.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from pytest_deeplab.constants import Log
from pytest_deeplab.envs.installer import InstallError, run_logged
from pytest_deeplab.envs.spec import EnvSpecError

PRINT_EXECUTABLE = "import sys; print(sys.executable)"


def tox_command() -> list[str]:
    found = shutil.which("tox")
    if found:
        return [found]
    if importlib.util.find_spec("tox") is not None:
        return [sys.executable, "-m", "tox"]
    raise EnvSpecError("tox is not installed: `pip install tox` (or pytest-deeplab[dev])")


def tox_python(name: str, rootdir: Path, log: Log) -> str:
    """Build (when needed) tox environment `name` and return its interpreter."""
    config = rootdir / "tox.ini"
    if not config.is_file():
        raise EnvSpecError(f"tox:{name}: there is no tox.ini in {rootdir} "
                           "(give --rootdir the folder holding it)")
    log(f"envs: tox:{name}: tox exec (builds the environment if tox.ini changed) ...")
    out = run_logged([*tox_command(), "exec", "-qq", "-c", str(config), "-e", name, "--",
                      "python", "-c", PRINT_EXECUTABLE], log, f"tox environment {name!r}",
                     stdout_is_output=True)
    for line in reversed(out.splitlines()):
        candidate = Path(line.strip())
        if line.strip() and candidate.is_file():
            return str(candidate)
    raise InstallError(f"tox environment {name!r} did not report its interpreter; tox said:\n"
                       + out[-2000:])
