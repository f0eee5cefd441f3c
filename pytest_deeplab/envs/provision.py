"""A requirement spec in, an interpreter out: resolve, reuse or build, install this project.

Resolution comes first (no install), so the environment is keyed by the versions that would be
installed: `tf-nightly` today and tomorrow are two environments, `tensorflow-cpu==2.15.*` run
twice is one. This project goes in without its dependencies (they were resolved with the spec):
editable from the checkout that runs the gate, else the same released version.
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from pytest_deeplab.constants import Log
from pytest_deeplab.envs.installer import Installer, InstallError, env_python
from pytest_deeplab.envs.spec import TENSORFLOW_DISTRIBUTIONS, EnvSpec
from pytest_deeplab.envs.store import EnvRecord, EnvStore, env_key, interpreter_tag

PROJECT = "pytest-deeplab"

_PROBE = """
import importlib.metadata as m, json, platform, sys
names = json.loads(sys.argv[1])
found = {}
for name in names:
    try:
        found[name] = m.version(name)
    except m.PackageNotFoundError:
        found[name] = None
try:
    import pytest_deeplab
    location = pytest_deeplab.__file__
except Exception as exc:
    location = None
print(json.dumps({"versions": found, "pytest_deeplab": location,
                  "python": platform.python_version()}))
"""


@dataclass
class ProvisionedEnv:
    """An environment ready for a gate worker, and what its run must show."""

    python: str
    record: EnvRecord
    reused: bool
    expected: dict[str, str]  # requested distribution -> resolved version

    @property
    def tensorflow(self) -> tuple[str, str] | None:
        """(distribution, version) of the TensorFlow the spec asked for, if it named one."""
        for name, version in self.expected.items():
            if name in TENSORFLOW_DISTRIBUTIONS:
                return name, version
        return None


def project_checkout() -> Path | None:
    """The source checkout this pytest_deeplab was imported from, if it is one."""
    import pytest_deeplab

    root = Path(pytest_deeplab.__file__).resolve().parent.parent
    pyproject = root / "pyproject.toml"
    if pyproject.is_file() and f'name = "{PROJECT}"' in pyproject.read_text(encoding="utf-8"):
        return root
    return None


def project_install_args() -> list[str]:
    checkout = project_checkout()
    if checkout is not None:
        return ["--no-deps", "-e", str(checkout)]
    from pytest_deeplab import __version__

    return ["--no-deps", f"{PROJECT}=={__version__}"]


def project_requirements() -> list[str]:
    """This project's own runtime dependencies (no extras), to resolve with the spec."""
    out = []
    for text in importlib.metadata.requires(PROJECT) or []:
        req = Requirement(text)
        if req.marker is not None and "extra" in str(req.marker):
            continue
        out.append(text)
    return out


def parse_pins(pins: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pin in pins:
        name, sep, version = pin.partition("==")
        if sep:
            out[canonicalize_name(name.strip())] = version.split(";")[0].strip()
    return out


def probe(python: str | Path, names: list[str]) -> dict[str, object]:
    """Versions of `names` as installed in `python`'s environment (no imports but ours)."""
    done = subprocess.run([str(python), "-c", _PROBE, json.dumps(names)], capture_output=True,
                          text=True, timeout=120)
    if done.returncode != 0:
        raise InstallError(f"{python} cannot report its packages:\n{done.stderr[-1500:]}")
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def provision(spec: EnvSpec, store: EnvStore, installer: Installer, base_python: str,
              log: Log, label: str = "") -> ProvisionedEnv:
    """The environment for requirement spec `spec`, built or reused."""
    assert spec.kind == "requirements"
    tag = f"envs: [{label}] " if label else "envs: "
    started = time.perf_counter()
    log(f"{tag}resolving {' '.join(spec.requirements)} with {installer.name} ...")
    pins = installer.resolve([*spec.requirements, *project_requirements()], base_python, log)
    resolved = parse_pins(pins)
    missing = [n for n in spec.names if n not in resolved]
    if missing:
        raise InstallError(f"resolving {spec.text!r} gave no version for {', '.join(missing)}:\n"
                           + "\n".join(f"    {p}" for p in pins))
    expected = {name: resolved[name] for name in spec.names}
    python_version = str(probe(base_python, [])["python"])
    key = env_key(pins, interpreter_tag(python_version))
    main = spec.names[0]
    env_dir = store.path_for(f"{main}-{resolved[main]}", key)
    log(f"{tag}resolved {', '.join(f'{n} {v}' for n, v in expected.items())} "
        f"({len(pins)} packages, {time.perf_counter() - started:.1f} s): {env_dir}")
    with store.locked(env_dir):
        record = store.read(env_dir)
        if record is not None and _still_good(record, expected, log, tag):
            _ensure_project(record, installer, log, tag)
            store.touch(record)
            return ProvisionedEnv(record.python, record, True, expected)
        if env_dir.exists():
            log(f"{tag}{env_dir.name} is incomplete or changed: rebuilding it")
            shutil.rmtree(env_dir)
        record = _build(env_dir, key, spec, pins, installer, base_python, log, tag)
        store.write(record)
    _check_installed(record.python, expected)
    return ProvisionedEnv(record.python, record, False, expected)


def _still_good(record: EnvRecord, expected: dict[str, str], log: Log, tag: str) -> bool:
    if not Path(record.python).is_file():
        return False
    try:
        _check_installed(record.python, expected)
    except InstallError as exc:
        log(f"{tag}{exc}")
        return False
    log(f"{tag}reusing {Path(record.path).name} (built {time.ctime(record.created)})")
    return True


def _ensure_project(record: EnvRecord, installer: Installer, log: Log, tag: str) -> None:
    """Reinstall this project when the environment holds another copy of it."""
    args = project_install_args()
    location = probe(record.python, [])["pytest_deeplab"]
    checkout = project_checkout()
    if args == record.project and location and (
        checkout is None or Path(str(location)).resolve().is_relative_to(checkout)
    ):
        return
    log(f"{tag}installing this pytest-deeplab into {Path(record.path).name} ...")
    installer.install(Path(record.python), args, log, "installing pytest-deeplab")
    record.project = args


def _build(env_dir: Path, key: str, spec: EnvSpec, pins: list[str], installer: Installer,
           base_python: str, log: Log, tag: str) -> EnvRecord:
    started = time.perf_counter()
    log(f"{tag}building {env_dir.name} with {installer.name} ...")
    python = installer.create(env_dir, base_python, log)
    installer.install(python, pins, log, f"installing {spec.text}")
    args = project_install_args()
    installer.install(python, args, log, "installing pytest-deeplab")
    seconds = time.perf_counter() - started
    log(f"{tag}built {env_dir.name} in {seconds:.0f} s")
    now = time.time()
    return EnvRecord(
        key=key, path=str(env_dir), python=str(env_python(env_dir)),
        interpreter=interpreter_tag(str(probe(base_python, [])["python"])),
        requested=list(spec.requirements), pins=list(pins), installer=installer.name,
        project=args, created=now, last_used=now, build_seconds=seconds,
    )


def same_version(found: object, wanted: str) -> bool:
    """Equal as versions (`2.23.0-dev2026` is `2.23.0.dev2026`), else as text."""
    from packaging.version import InvalidVersion, Version

    if not isinstance(found, str):
        return False
    try:
        return Version(found) == Version(wanted)
    except InvalidVersion:
        return found == wanted


def _check_installed(python: str, expected: dict[str, str]) -> None:
    found = probe(python, list(expected))["versions"]
    assert isinstance(found, dict)
    wrong = {n: found.get(n) for n, v in expected.items() if not same_version(found.get(n), v)}
    if wrong:
        raise InstallError(f"{python} does not hold what was resolved: " + ", ".join(
            f"{n} {found or 'missing'} (wanted {expected[n]})" for n, found in wrong.items()))
