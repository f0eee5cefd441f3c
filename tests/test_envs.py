"""Environments from specs, built for real: a tiny local wheel plus this project.

The wheel is made here by hand (a wheel is a zip with a dist-info folder), served through
--find-links; this project's own dependencies come from the package index, so the building
tests need it (they skip saying so, and are errors under CI). The failure tests run with
--no-index and need nothing.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from pytest_deeplab.cli.main import main
from pytest_deeplab.envs.installer import IndexOptions, InstallError, make_installer
from pytest_deeplab.envs.provision import project_checkout, provision
from pytest_deeplab.envs.spec import EnvSpecError, parse_spec
from pytest_deeplab.envs.store import EnvStore

PROBE = "deeplab-gate-probe"


def make_wheel(folder: Path, version: str, tag: str = "py3-none-any") -> Path:
    """A pure-Python wheel of PROBE whose module says its version."""
    module = PROBE.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f'VERSION = "{version}"\n',
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {PROBE}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
                              f"Tag: {tag}\n",
    }
    record = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{name},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{module}-{version}-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return wheel


def needs(condition: bool, reason: str) -> None:
    """Skip with the reason here; under CI a missing resource is an error."""
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this: {reason}")
        pytest.skip(reason)


def uv_installer(index: IndexOptions) -> object:
    try:
        return make_installer("uv", index)
    except InstallError as exc:
        needs(False, str(exc))
        raise


@pytest.fixture(scope="module")
def index_reachable() -> None:
    try:
        make_installer("auto").resolve(["pip"], sys.executable, lambda message: None)
    except InstallError as exc:
        needs(False, f"the package index cannot be reached: {exc}")


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    folder = tmp_path / "wheels"
    make_wheel(folder, "1.0")
    make_wheel(folder, "2.0")
    return folder


def run_in(python: str, code: str) -> str:
    done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# -- what the options say ---------------------------------------------------------------------


def test_an_interpreter_path_or_name_is_used_as_it_is() -> None:
    assert parse_spec(sys.executable).python == str(Path(sys.executable).absolute())
    name = Path(sys.executable).name
    if shutil.which(name):
        assert parse_spec(name).kind == "python"


def test_tox_and_requirement_specs() -> None:
    assert parse_spec("tox:tf215").tox_env == "tf215"
    spec = parse_spec("tensorflow-cpu==2.15.*", ["numpy<2"])
    assert spec.kind == "requirements"
    assert spec.requirements == ("tensorflow-cpu==2.15.*", "numpy<2")
    assert spec.tensorflow_distribution == "tensorflow-cpu"
    assert parse_spec("tf-nightly").tensorflow_distribution == "tf-nightly"


@pytest.mark.parametrize(("text", "pins", "message"), [
    (sys.executable, ["numpy<2"], "pins .* apply only to a requirement spec"),
    ("tox:", [], "name the tox environment"),
    ("tensorflow-cpu==2.15.*", ["pytest-deeplab==0.1"], "do not pin it"),
    ("not a requirement!", [], "neither an interpreter on PATH nor a requirement"),
    ("/no/such/python", [], "interpreter '/no/such/python' not found"),
])
def test_specs_that_make_no_sense_are_refused(text: str, pins: list[str], message: str) -> None:
    with pytest.raises(EnvSpecError, match=message):
        parse_spec(text, pins)


# -- building for real ------------------------------------------------------------------------


def test_a_spec_is_built_once_with_the_project_and_then_reused(
    tmp_path: Path, wheels: Path, index_reachable: None, capsys: pytest.CaptureFixture[str]
) -> None:
    store = EnvStore(tmp_path / "cache" / "envs")
    installer = uv_installer(IndexOptions(find_links=(str(wheels),)))
    messages: list[str] = []
    first = provision(parse_spec(f"{PROBE}==1.0"), store, installer, sys.executable,
                      messages.append)
    assert not first.reused and first.expected == {PROBE: "1.0"}
    assert any("building" in m for m in messages)
    version, location = run_in(first.python, "import deeplab_gate_probe as p, pytest_deeplab; "
                               "print(p.VERSION); print(pytest_deeplab.__file__)").splitlines()
    assert version == "1.0"
    checkout = project_checkout()
    assert checkout is not None and Path(location).resolve().is_relative_to(checkout)

    again = provision(parse_spec(f"{PROBE}==1.*"), store, installer, sys.executable,
                      messages.append)
    assert again.reused and again.python == first.python  # same resolution, same environment
    other = provision(parse_spec(f"{PROBE}==2.0"), store, installer, sys.executable,
                      messages.append)
    assert other.python != first.python

    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert main(["envs", "list", *cache]) == 0
    listing = capsys.readouterr().out
    assert f"{PROBE}-1.0-" in listing and f"{PROBE}-2.0-" in listing
    assert "2 environment(s)" in listing
    assert main(["envs", "prune", "--all", *cache]) == 0
    assert "2 of 2 environment(s) removed" in capsys.readouterr().out
    assert not Path(first.python).exists()


def test_without_uv_venv_and_pip_build_the_same(
    tmp_path: Path, wheels: Path, index_reachable: None
) -> None:
    store = EnvStore(tmp_path / "envs")
    installer = make_installer("pip", IndexOptions(find_links=(str(wheels),)))
    built = provision(parse_spec(f"{PROBE}==2.0"), store, installer, sys.executable,
                      lambda message: None)
    assert built.record.installer.startswith("pip")
    assert run_in(built.python, "import deeplab_gate_probe as p; print(p.VERSION)") == "2.0"
    assert (Path(built.record.path) / "env.json").is_file()


@pytest.mark.parametrize("installer", ["uv", "pip"])
def test_a_spec_that_cannot_be_resolved_is_exit_2_with_the_installers_reason(
    tmp_path: Path, wheels: Path, installer: str, capsys: pytest.CaptureFixture[str]
) -> None:
    if installer == "uv":
        uv_installer(IndexOptions())
    code = main(["gate", "--rootdir", str(tmp_path), "--cache-dir", str(tmp_path / "cache"),
                 "--baseline", sys.executable, "--candidate", f"{PROBE}==9.9",
                 "--installer", installer, "--no-index", "--find-links", str(wheels)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"resolving with {installer} failed" in err
    reason = "No solution found" if installer == "uv" else "No matching distribution"
    assert reason in err
    assert not (tmp_path / "cache" / "envs").exists() or not any(
        (tmp_path / "cache" / "envs").iterdir())


def test_a_wheel_for_another_python_is_exit_2_naming_the_package(
    tmp_path: Path, index_reachable: None, capsys: pytest.CaptureFixture[str]
) -> None:
    make_wheel(tmp_path / "wheels", "3.0", tag="cp27-cp27mu-manylinux1_x86_64")
    code = main(["envs", "make", f"{PROBE}==3.0", "--cache-dir", str(tmp_path / "cache"),
                 "--find-links", str(tmp_path / "wheels")])
    err = capsys.readouterr().err
    assert code == 2
    assert PROBE in err and "failed" in err


def test_a_tox_environment_is_built_by_tox(tmp_path: Path) -> None:
    needs(shutil.which("tox") is not None or _importable("tox"), "tox is not installed")
    (tmp_path / "tox.ini").write_text("[testenv:tiny]\nskip_install = true\n")
    side = parse_spec("tox:tiny")
    from pytest_deeplab.envs.tox import tox_python

    python = tox_python(side.tox_env or "", tmp_path, lambda message: None)
    assert Path(python).is_relative_to(tmp_path / ".tox" / "tiny")
    assert run_in(python, "import sys; print(sys.prefix)").startswith(str(tmp_path))


def test_an_unknown_tox_environment_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    needs(shutil.which("tox") is not None or _importable("tox"), "tox is not installed")
    (tmp_path / "tox.ini").write_text("[testenv:tiny]\nskip_install = true\n")
    code = main(["gate", "--rootdir", str(tmp_path), "--baseline", "tox:nope",
                 "--candidate", sys.executable])
    err = capsys.readouterr().err
    assert code == 2
    assert "tox environment 'nope' failed" in err


def test_tox_without_tox_ini_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["gate", "--rootdir", str(tmp_path), "--baseline", "tox:tf215",
                 "--candidate", sys.executable])
    assert code == 2
    assert "there is no tox.ini in" in capsys.readouterr().err


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None
