"""Which Keras a run used: tf-nightly installs keras-nightly, the same `keras` package under
another distribution name, and the run identity must still say which Keras it was."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def dist_info(where: Path, name: str, version: str) -> None:
    folder = where / f"{name.replace('-', '_')}-{version}.dist-info"
    folder.mkdir(parents=True)
    (folder / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def keras_in(site: Path) -> str:
    """keras_version() in an interpreter that sees only `site` and this checkout (-S: no
    site-packages of the running venv; numpy, which the runtime package imports, is linked in)."""
    import numpy

    (site / "numpy").symlink_to(Path(numpy.__file__).parent)
    code = ("import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
            "from pytest_deeplab.runtime.identity import keras_version\n"
            "print(repr(keras_version()))")
    out = subprocess.run([sys.executable, "-S", "-c", code, str(site), str(ROOT)],
                         capture_output=True, text=True, check=True)
    return str(eval(out.stdout))


@pytest.mark.parametrize(("installed", "shown"), [
    ([("keras", "3.15.1")], "3.15.1"),
    ([("keras-nightly", "3.16.0.dev2026102704")], "3.16.0.dev2026102704 (keras-nightly)"),
    ([], ""),
])
def test_the_identity_names_the_keras_that_is_installed(
    tmp_path: Path, installed: list[tuple[str, str]], shown: str
) -> None:
    for name, version in installed:
        dist_info(tmp_path, name, version)
    assert keras_in(tmp_path) == shown
