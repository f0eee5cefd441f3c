"""What the plugin costs a run that tests no model: import time and `pytest --help`.

Run with `pytest benchmarks/bench_import.py` (outside `testpaths`, never part of the normal
test run). Issue 3: `pytest --help` and a run of an unrelated test are not slowed by the plugin,
because it never imports TensorFlow unless a model is loaded.

Each figure is the median of ROUNDS fresh interpreters (a subprocess per round; imports are
cached per process, so only a new process measures them). Runs happen in an empty folder so no
project configuration or conftest is picked up. `import tensorflow` is measured too, as the cost
the plugin avoids.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROUNDS = int(os.environ.get("DEEPLAB_BENCH_ROUNDS", "7"))
PYTHON = sys.executable

CASES = {
    "python -c 'import pytest'": [PYTHON, "-c", "import pytest"],
    "python -c 'import pytest_deeplab.plugin'": [PYTHON, "-c", "import pytest_deeplab.plugin"],
    "pytest --help -p no:deeplab": [PYTHON, "-m", "pytest", "--help", "-p", "no:deeplab"],
    "pytest --help": [PYTHON, "-m", "pytest", "--help"],
    "pytest test_unrelated.py -p no:deeplab": [
        PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_unrelated.py",
        "-p", "no:deeplab",
    ],
    "pytest test_unrelated.py": [
        PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_unrelated.py",
    ],
    "python -c 'import tensorflow'": [PYTHON, "-c", "import tensorflow"],
}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("empty-project")
    (path / "test_unrelated.py").write_text("def test_one():\n    assert 1 + 1 == 2\n")
    return path


def run(command: list[str], cwd: Path) -> str:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("PYTEST_ADDOPTS", None)
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.benchmark(group="startup (one fresh interpreter per round)", warmup=False)
@pytest.mark.parametrize("case", list(CASES))
def test_startup(benchmark: Any, workdir: Path, case: str) -> None:
    run(CASES[case], workdir)  # warm the OS file cache: rounds then measure the same thing
    benchmark.extra_info["command"] = " ".join(CASES[case][1:])
    benchmark.pedantic(run, args=(CASES[case], workdir), rounds=ROUNDS, iterations=1)


PROBE = """
import sys
{body}
print("PLUGIN-LOADED", "pytest_deeplab.plugin" in sys.modules)
print("TF-IMPORTED", any(m == "tensorflow" or m.startswith("tensorflow.") for m in sys.modules))
"""


@pytest.mark.parametrize(
    "body",
    [
        "import pytest_deeplab.plugin",
        "import pytest\ntry:\n    pytest.main(['--help'])\nexcept SystemExit:\n    pass",
        "import pytest\npytest.main(['-q', '-p', 'no:cacheprovider', 'test_unrelated.py'])",
    ],
    ids=["import-plugin", "pytest-help", "unrelated-test-run"],
)
def test_tensorflow_is_not_imported(workdir: Path, body: str) -> None:
    """The proof behind the figures above: TensorFlow is absent from sys.modules afterwards."""
    out = run([PYTHON, "-c", PROBE.format(body=body)], workdir)
    assert out.strip().splitlines()[-2:] == ["PLUGIN-LOADED True", "TF-IMPORTED False"], out
