"""What the installed plugin costs a project that does not select models: `pytest --co -q`
with and without it, interleaved.

    python benchmarks/startup_interleaved.py [--rounds 15] [--also OTHER_CHECKOUT]

A small project (pytest-benchmark benchmarks, its own `deeplab_model` fixture, plain tests) is
written to a temporary folder. Each round runs every variant once, in an order that rotates
from round to round, so machine load drifts over all variants alike; the figures are the median
wall time and CPU time (user + system of the pytest process; less disturbed by other load on
a shared machine) per variant, and the median of the per-round ratios to `-p no:deeplab`.
`--also DIR` adds the plugin from another checkout (e.g. an older commit's `git archive`), put
first on PYTHONPATH.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT = {
    "conftest.py": "import pytest\n\n\n@pytest.fixture\ndef deeplab_model():\n    return 'own'\n",
    "test_project.py": (
        "def test_own(deeplab_model):\n    assert deeplab_model == 'own'\n\n\n"
        "def test_speed(benchmark):\n    benchmark(sum, range(100))\n\n\n"
        + "".join(f"def test_plain_{i}():\n    assert {i} == {i}\n\n\n" for i in range(20))
    ),
}
REPO = Path(__file__).resolve().parents[1]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--also", type=Path, help="another checkout's plugin, as a variant")
    args = parser.parse_args()
    base_env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "CI")}
    pytest = [sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider"]
    here = {**base_env, "PYTHONPATH": str(REPO)}
    variants = {
        "-p no:deeplab": ([*pytest, "-p", "no:deeplab"], here),
        "plugin (this checkout)": (pytest, here),
    }
    if args.also is not None:
        variants[f"plugin ({args.also})"] = (pytest, {**base_env, "PYTHONPATH": str(args.also)})
    names = list(variants)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        for name, text in PROJECT.items():
            (project / name).write_text(text)
        for command, env in variants.values():  # warm the OS file cache, not measured
            timed(command, project, env)
        for round_ in range(args.rounds):
            order = names[round_ % len(names):] + names[:round_ % len(names)]
            for name in order:
                command, env = variants[name]
                times[name].append(timed(command, project, env))
    bare = times["-p no:deeplab"]
    print(f"pytest --co -q, {args.rounds} interleaved rounds, {sys.executable}")
    for name in names:
        cells = []
        for kind, i in (("wall", 0), ("CPU", 1)):
            median = statistics.median(t[i] for t in times[name])
            ratio = statistics.median(t[i] / b[i] for t, b in zip(times[name], bare))
            cells.append(f"{kind} {median * 1000:6.0f} ms (x{ratio:.3f})")
        print(f"  {name:34s} " + "   ".join(cells))


if __name__ == "__main__":
    main()
