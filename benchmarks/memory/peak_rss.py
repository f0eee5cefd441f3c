"""Peak memory of the whole suite against its largest model alone (issue 14: goal ratio <= 1.3).

    python benchmarks/memory/peak_rss.py [--repeat N] [--largest MODEL] [-n WORKERS]
    python benchmarks/memory/peak_rss.py --trace      # memory after each item of one suite run
    python benchmarks/memory/peak_rss.py --baseline OLD_CHECKOUT   # before/after, interleaved

Runs, each in a fresh pytest process, (a) the built-in suite over the bundled mini-zoo plus the
real models of `ci/real-zoo.toml` (the real-zoo run of `.ci/run`, with the bundled models added)
and (b) the same command selecting only the suite's largest model. The largest model is the one
whose run alone has the highest peak RSS: each model is first run alone once to find it (skip
that with `--largest NAME`). Then (a) and (b) alternate `--repeat` times, so load on the shared
machine hits both alike, and the medians and their ratio are printed. With `--baseline DIR` the
suite also runs from another checkout (DIR, e.g. `git worktree add ../old <commit>`, beside this
one so that its ci/real-zoo.toml finds ../shared/real-zoo too) in the same rounds: pytest started
in DIR imports DIR's plugin, since the working directory comes first on sys.path.

Peak RSS is read with `os.wait4` on the pytest process: the kernel's high-water mark of that
process, or of its largest descendant when larger (xdist workers with `-n`), never a sum.

Why one golden dir serves both kinds of model: `--deeplab-golden-dir=ci/real-zoo-golden` holds the
real-zoo goldens, and bundled models fall back to the goldens shipped in `fixtures/golden` when
that dir has none of theirs, so one session checks all of them.

Latency items run with `--benchmark-disable` (one timed call, no statistics): they pass without
measuring, and the run is still not "nothing checked" because mask and mIOU items ran.

Needs ../shared/real-zoo beside the repository: without it the script says so and exits 0
(1 when the CI environment variable is set).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REAL_ZOO = REPO.parent / "shared" / "real-zoo"
OFFICIAL_IN_CONFIG = "deeplabv3_257_mv_gpu"  # declared in ci/real-zoo.toml, fetched by mirror


def pytest_command(models: str, cache: Path, workers: int) -> list[str]:
    command = [
        sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
        f"--deeplab-models={models}", "-m", "deeplab", "--benchmark-disable",
        "--deeplab-threads=2",
        "--deeplab-config=ci/real-zoo.toml", "--deeplab-golden-dir=ci/real-zoo-golden",
        f"--deeplab-mirror={REAL_ZOO / 'models'}", "--deeplab-offline",
        f"--deeplab-cache-dir={cache}",
    ]
    if workers:
        command += ["-n", str(workers), "--dist", "loadgroup"]
    return command


def run(command: list[str], trace: bool = False, cwd: Path = REPO) -> tuple[int, str]:
    """Run pytest in a fresh process; return its peak RSS in KiB and its output.

    A failing run is not measured: its peak would describe a different amount of work.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    # tests/conftest.py turns skips into failures under CI, and ADE20K's mIOU item skips (its
    # table has no labelled dataset): the measurement is the same either way
    env.pop("CI", None)
    if trace:
        here = str(Path(__file__).resolve().parent)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (here, env.get("PYTHONPATH")) if p)
        command = [*command, "-p", "rss_trace", "-s"]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-30:])
        raise SystemExit(f"this run failed (exit {proc.returncode}), so it is not measured:\n"
                         f"  {' '.join(command)}\n{tail}")
    return int(usage.ru_maxrss), text  # Linux: KiB


def suite_models(cache: Path) -> list[str]:
    """The models the whole-suite command selects, read from its collected test ids."""
    command = [*pytest_command(SUITE, cache, 0), "--collect-only"]
    _, text = run(command)
    names: list[str] = []
    for line in text.splitlines():
        if line.startswith("deeplab::"):
            name = line.split("::")[1]
            if name not in names:
                names.append(name)
    if not names:
        raise SystemExit(f"the suite selected no model:\n{text}")
    return names


SUITE = f"bundled,user,{OFFICIAL_IN_CONFIG}"


def mib(kib: float) -> str:
    return f"{kib / 1024:.0f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="suite/largest pairs (default 3)")
    parser.add_argument("--largest", help="skip the search and use this model as the largest")
    parser.add_argument("-n", "--workers", type=int, default=0,
                        help="run under pytest-xdist with N workers (--dist loadgroup)")
    parser.add_argument("--trace", action="store_true",
                        help="run the suite once, printing memory after each item")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout whose suite run is measured in the same rounds")
    args = parser.parse_args(argv)
    if not (REAL_ZOO / "models").is_dir():
        why = f"the real DeepLab artefacts are not on this machine ({REAL_ZOO} is absent)"
        if os.environ.get("CI"):
            print(f"error (CI is set, so every resource must be present): {why}; "
                  "put the real-zoo folder beside the repository, as .ci/run expects")
            return 1
        print(f"skipped: {why}")
        return 0
    with tempfile.TemporaryDirectory(prefix="deeplab-rss-cache-") as tmp:
        cache = Path(tmp)
        if args.trace:
            peak, text = run(pytest_command(SUITE, cache, args.workers), trace=True)
            print("\n".join(line for line in text.splitlines() if line.startswith("RSS ")))
            print(f"peak RSS of the suite: {mib(peak)}")
            return 0
        models = suite_models(cache)
        print(f"suite: {len(models)} models: {', '.join(models)}")
        largest = args.largest
        if largest is None:
            alone = {}
            for name in models:
                alone[name], _ = run(pytest_command(name, cache, args.workers))
                print(f"  alone  {name:32s} {mib(alone[name])}", flush=True)
            largest = max(alone, key=alone.__getitem__)
        elif largest not in models:
            raise SystemExit(f"--largest {largest}: not one of the suite's models ({models})")
        print(f"largest model: {largest}")
        suite_cmd = pytest_command(SUITE, cache, args.workers)
        one_cmd = pytest_command(largest, cache, args.workers)
        whole: list[int] = []
        single: list[int] = []
        base: list[int] = []
        runs = [(suite_cmd, REPO, whole), (one_cmd, REPO, single)]
        if args.baseline is not None:
            runs.append((suite_cmd, args.baseline.resolve(), base))
        for round_ in range(args.repeat):
            order = runs[round_ % len(runs):] + runs[:round_ % len(runs)]  # rotated each round
            for command, cwd, sink in order:
                peak, _ = run(command, cwd=cwd)
                sink.append(peak)
            line = f"  round {round_ + 1}: suite {mib(whole[-1])}, {largest} {mib(single[-1])}"
            print(line + (f", baseline suite {mib(base[-1])}" if base else ""), flush=True)
        suite_median, single_median = statistics.median(whole), statistics.median(single)
        print(f"\nsuite command: {' '.join(suite_cmd[1:])}")
        print(f"peak RSS, median of {args.repeat}: suite {mib(suite_median)}, "
              f"largest model ({largest}) alone {mib(single_median)}")
        print(f"ratio suite / largest: {suite_median / single_median:.3f} (goal <= 1.3)")
        if base:
            base_median = statistics.median(base)
            print(f"baseline ({args.baseline}) suite: {mib(base_median)}, ratio "
                  f"{base_median / single_median:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
