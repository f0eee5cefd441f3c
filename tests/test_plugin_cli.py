"""The `pytest-deeplab` command: `list` shows the catalogue, `fetch` fills a cache offline."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import SMALL, minizoo_manifest

from pytest_deeplab.catalogue.official import OFFICIAL_MODELS

SCRIPT = Path(sys.executable).with_name("pytest-deeplab")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the installed console script (the entry point users type)."""
    command = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "pytest_deeplab.cli"]
    return subprocess.run(
        [*command, *args],
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )


def test_list_prints_the_official_zoo_and_the_bundled_models(tmp_path: Path) -> None:
    result = cli("list", f"--cache-dir={tmp_path / 'cache'}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines() if line.strip()}
    bundled = [m["name"] for m in minizoo_manifest()["models"]]
    for name in bundled:
        assert rows[name][1] == "bundled"
    for model in OFFICIAL_MODELS:
        assert rows[model.name][1] == "official"
    assert rows["mobilenetv2_coco_voc_trainaug"][-1] == "no"  # not cached in an empty cache
    assert f"{len(bundled) + len(OFFICIAL_MODELS)} models" in result.stdout


def test_fetch_a_bundled_model_works_offline(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    result = cli("fetch", SMALL, "--cache-dir", str(cache), "--offline", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if SMALL in line)
    assert line.startswith(f"ok     {SMALL}: ")
    fetched = Path(line.split(": ", 1)[1])
    assert fetched.is_file() and fetched.stat().st_size > 1000
    assert cache in fetched.parents
    listed = cli("list", "--cache-dir", str(cache), cwd=tmp_path)
    row = next(line for line in listed.stdout.splitlines() if line.startswith(SMALL + " "))
    assert row.split()[-1] == "yes"


def test_fetch_an_unknown_model_suggests_names(tmp_path: Path) -> None:
    result = cli("fetch", "mini_mnv2_os61", "--cache-dir", str(tmp_path), "--offline",
                 cwd=tmp_path)
    assert result.returncode == 2
    assert "Did you mean mini_mnv2_os16" in result.stderr


def test_fetch_an_official_model_offline_fails_clearly(tmp_path: Path) -> None:
    result = cli("fetch", "mobilenetv2_dm05_coco_voc_trainaug", "--cache-dir", str(tmp_path),
                 "--offline", cwd=tmp_path)
    assert result.returncode == 1
    assert "FAILED mobilenetv2_dm05_coco_voc_trainaug" in result.stderr
