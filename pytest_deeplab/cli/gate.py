"""`pytest-deeplab gate`: baseline vs candidate environment, alternating, with a verdict.

    pytest-deeplab gate --baseline python --candidate tf-nightly
    pytest-deeplab gate --baseline 'tensorflow-cpu==2.15.*' --with-a 'numpy<2' --candidate python
    pytest-deeplab gate --baseline tox:tf215 --candidate tox:tf221
    pytest-deeplab gate --baseline python --candidate python --env-b TF_ENABLE_ONEDNN_OPTS=0

--baseline / --candidate: an interpreter (path or name on PATH), `tox:ENV` (built by tox from
the rootdir's tox.ini), or a requirement spec: an environment is resolved, built with uv (else
venv + pip) under <cache>/envs, reused while the resolution is the same, with this pytest-deeplab
installed in it (`pytest-deeplab envs` lists and prunes them).

Exit status: 0 every model passes; 1 a model FAILs (slower beyond the threshold, masks disagree
beyond its min_agreement, it fails to load or run, an image one side did not return); 2 the
gate could not run (an environment that cannot be built or is not what was asked for, bad
configuration, nothing selected); 3 INCONCLUSIVE: nothing failed, but the time budget ran out
before a model's ratio was shown above or below the threshold.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from pytest_deeplab.cli.envs import add_install_options
from pytest_deeplab.options import env_cache_dir

COMMAND = "gate"
CALLS_PER_ROUND = 1


def env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


_env_pair = env_pair  # the name cli/explain.py imports


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        COMMAND, parents=[common],
        help="compare latency and masks of two environments (e.g. two TF versions)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--baseline", required=True, metavar="ENV_A",
                   help="baseline (A): interpreter, tox:ENV or requirement spec")
    p.add_argument("--candidate", required=True, metavar="ENV_B",
                   help="candidate (B): interpreter, tox:ENV or requirement spec")
    p.add_argument("--with-a", action="append", default=[], metavar="REQ",
                   help="extra pin for a spec baseline, e.g. 'numpy<2' (repeatable)")
    p.add_argument("--with-b", action="append", default=[], metavar="REQ",
                   help="extra pin for a spec candidate (repeatable)")
    p.add_argument("--env-a", action="append", type=env_pair, default=[], metavar="K=V",
                   help="environment variable for A only (repeatable)")
    p.add_argument("--env-b", action="append", type=env_pair, default=[], metavar="K=V",
                   help="environment variable for B only (repeatable)")
    p.add_argument("--threads-a", type=int, default=None, help="intra-op threads for A only")
    p.add_argument("--threads-b", type=int, default=None, help="intra-op threads for B only")
    add_gate_options(p)


def add_gate_options(p: argparse.ArgumentParser) -> None:
    """What a gate measures and how it decides; shared with `bisect`, which runs gates."""
    p.add_argument("--models", default="bundled,user",
                   help="SPEC as for --deeplab-models (default: bundled,user)")
    p.add_argument("--threshold", type=float, default=1.10,
                   help="FAIL when latency B/A is shown to lie above this (1.10)")
    p.add_argument("--cpu-threshold", type=float, default=None,
                   help="the same for CPU time per inference (default: --threshold)")
    p.add_argument("--no-cpu-gate", action="store_true",
                   help="report CPU time B/A without failing on it")
    p.add_argument("--rounds", type=int, default=None,
                   help="a fixed number of alternating rounds per model (default: sequential, "
                        "until decided or --max-seconds)")
    p.add_argument("--max-seconds", "--seconds", dest="max_seconds", type=float, default=60.0,
                   help="budget of alternating rounds per model; undecided then is "
                        "INCONCLUSIVE, exit 3 (60)")
    p.add_argument("--warmup", type=int, default=5,
                   help="untimed inferences per side after the first call (5)")
    p.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                   help="pause before each timed inference, so thread pools of the side that "
                        "just ran stop spinning (default 0)")
    p.add_argument("--calls-per-round", type=int, default=CALLS_PER_ROUND, metavar="K",
                   help="timed calls per side in each round, pairs alternating AB, BA; the "
                        "round compares the fastest of each side (default "
                        f"{CALLS_PER_ROUND}: one call per side; measured under load, more "
                        "calls per round did not decide sooner, see docs/gate-under-load.md)")
    p.add_argument("--threads", type=int, default=None,
                   help="TensorFlow intra-op threads on both sides (inter-op is then 1)")
    p.add_argument("--confidence", type=float, default=0.95,
                   help="family-wise: a run raises a false FAIL with probability at most "
                        "1 - this, over all models and metrics (0.95)")
    p.add_argument("--max-images", type=int, default=None,
                   help="compare masks on at most this many images per model")
    p.add_argument("--json", type=Path, default=None, metavar="OUT.json",
                   help="write the full report, raw timings included")
    p.add_argument("--markdown", type=Path, default=None, metavar="OUT.md",
                   help="write the PR-ready table")
    p.add_argument("--text", action="store_true",
                   help="print aligned text instead of Markdown")
    add_install_options(p)


def settings_from_args(args: argparse.Namespace, log: Any) -> Any:
    from pytest_deeplab.cli.envs import installer_from_args, store_from_args
    from pytest_deeplab.gate.sides import build_side

    rootdir = args.rootdir.resolve()
    store, installer = store_from_args(args), None
    if args.threads_a is None:
        args.threads_a = args.threads
    if args.threads_b is None:
        args.threads_b = args.threads
    sides = []
    for label, text, pins, env, threads, option in (
        ("A", args.baseline, args.with_a, args.env_a, args.threads_a, "--baseline"),
        ("B", args.candidate, args.with_b, args.env_b, args.threads_b, "--candidate"),
    ):
        if installer is None and not is_existing(text):
            installer = installer_from_args(args)
        sides.append(build_side(label, text, pins, option, rootdir, dict(env), threads, store,
                                installer, log))
    return gate_settings(args, sides[0], sides[1])


def gate_settings(args: argparse.Namespace, baseline: Any, candidate: Any) -> Any:
    """GateSettings for two sides from the shared gate options (gate and bisect)."""
    from pytest_deeplab.gate.controller import GateSettings

    cache = args.cache_dir or env_cache_dir()
    return GateSettings(
        baseline=baseline,
        candidate=candidate,
        models=args.models,
        rootdir=args.rootdir.resolve(),
        config_file=args.config.resolve() if args.config else None,
        cache_dir=Path(cache).resolve() if cache else None,
        mirrors=list(args.mirror),
        offline=args.offline,
        require_pins=args.require_pins,
        threshold=args.threshold,
        cpu_threshold=None if args.no_cpu_gate else (args.cpu_threshold or args.threshold),
        rounds=args.rounds,
        max_seconds=args.max_seconds,
        warmup=args.warmup,
        settle=args.settle,
        calls_per_round=args.calls_per_round,
        confidence=args.confidence,
        max_images=args.max_images,
    )


def check_gate_args(args: argparse.Namespace) -> None:
    from pytest_deeplab.gate.controller import GateError

    if args.calls_per_round < 1:
        raise GateError("--calls-per-round must be at least 1")
    if args.rounds is not None and args.rounds < 2:
        raise GateError("--rounds must be at least 2")
    if not 0 < args.confidence < 1:
        raise GateError(f"--confidence must lie in (0, 1), got {args.confidence}")


def is_existing(text: str) -> bool:
    """An interpreter or tox environment: nothing to resolve, no installer needed."""
    return text.startswith("tox:") or os.sep in text or shutil.which(text) is not None


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from pytest_deeplab.envs.installer import InstallError
    from pytest_deeplab.envs.spec import EnvSpecError
    from pytest_deeplab.gate.controller import EXIT_ERROR, GateError, render, run_gate

    try:
        check_gate_args(args)
        settings = settings_from_args(args, _log)
        report = run_gate(settings, _log)
    except (GateError, EnvSpecError, InstallError) as exc:
        print(f"pytest-deeplab gate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pytest-deeplab gate: interrupted", file=sys.stderr)
        return EXIT_ERROR
    markdown = render(report, markdown=True)
    print(render(report, markdown=False) if args.text else markdown, end="")
    if args.markdown:
        args.markdown.write_text(markdown, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2, default=str),
                             encoding="utf-8")
    return report.exit_code
