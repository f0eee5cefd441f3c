"""`pytest-deeplab gate`: baseline vs candidate environment, alternating, with a verdict.

    pytest-deeplab gate --baseline .tox/tf215/bin/python --candidate .tox/tf221/bin/python
    pytest-deeplab gate --baseline python --candidate python --env-b TF_ENABLE_ONEDNN_OPTS=0

Exit status: 0 no regression; 1 a model is slower beyond the threshold (the whole interval),
its masks disagree beyond its min_agreement, or it fails to load or run in one environment;
2 the gate could not run (bad interpreter or configuration, nothing selected).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

COMMAND = "gate"


def _env_pair(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        COMMAND, parents=[common],
        help="compare latency and masks of two environments (e.g. two TF versions)",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--baseline", required=True, metavar="PY_A",
                   help="Python interpreter of the baseline environment (A)")
    p.add_argument("--candidate", required=True, metavar="PY_B",
                   help="Python interpreter of the candidate environment (B)")
    p.add_argument("--env-a", action="append", type=_env_pair, default=[], metavar="K=V",
                   help="environment variable for A only (repeatable)")
    p.add_argument("--env-b", action="append", type=_env_pair, default=[], metavar="K=V",
                   help="environment variable for B only (repeatable)")
    p.add_argument("--models", default="bundled,user",
                   help="SPEC as for --deeplab-models (default: bundled,user)")
    p.add_argument("--threshold", type=float, default=1.10,
                   help="fail when the interval of latency B/A lies wholly above this (1.10)")
    p.add_argument("--cpu-threshold", type=float, default=None,
                   help="the same for CPU time per inference (default: --threshold)")
    p.add_argument("--no-cpu-gate", action="store_true",
                   help="report CPU time B/A without failing on it")
    p.add_argument("--rounds", type=int, default=None,
                   help="alternating rounds per model (default: as many as fit in --seconds, "
                        "at least 30, at most 1000)")
    p.add_argument("--seconds", type=float, default=30.0,
                   help="timed-inference budget per model when --rounds is not given (30)")
    p.add_argument("--warmup", type=int, default=5,
                   help="untimed inferences per side after the first call (5)")
    p.add_argument("--settle", type=float, default=0.0, metavar="SECONDS",
                   help="pause before each timed inference, so thread pools of the side that "
                        "just ran stop spinning (default 0)")
    p.add_argument("--threads", type=int, default=None,
                   help="TensorFlow intra-op threads on both sides (inter-op is then 1)")
    p.add_argument("--threads-a", type=int, default=None, help="intra-op threads for A only")
    p.add_argument("--threads-b", type=int, default=None, help="intra-op threads for B only")
    p.add_argument("--confidence", type=float, default=0.95, help="interval level (0.95)")
    p.add_argument("--max-images", type=int, default=None,
                   help="compare masks on at most this many images per model")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (0)")
    p.add_argument("--json", type=Path, default=None, metavar="OUT.json",
                   help="write the full report, raw timings included")
    p.add_argument("--markdown", type=Path, default=None, metavar="OUT.md",
                   help="write the PR-ready table")
    p.add_argument("--text", action="store_true",
                   help="print aligned text instead of Markdown")


def _python(value: str) -> str:
    found = shutil.which(value) if os.sep not in value else value
    if found is None or not Path(found).exists():
        raise FileNotFoundError(f"interpreter {value!r} not found")
    return str(Path(found).absolute())


def settings_from_args(args: argparse.Namespace) -> Any:
    from pytest_deeplab.gate import GateSettings, Side

    cache = args.cache_dir or os.environ.get("PYTEST_DEEPLAB_CACHE")
    return GateSettings(
        baseline=Side("A", _python(args.baseline), dict(args.env_a),
                      args.threads_a if args.threads_a is not None else args.threads),
        candidate=Side("B", _python(args.candidate), dict(args.env_b),
                       args.threads_b if args.threads_b is not None else args.threads),
        models=args.models,
        rootdir=args.rootdir.resolve(),
        config_file=args.config.resolve() if args.config else None,
        cache_dir=Path(cache).resolve() if cache else None,
        mirrors=list(args.mirror),
        offline=args.offline,
        threshold=args.threshold,
        cpu_threshold=None if args.no_cpu_gate else (args.cpu_threshold or args.threshold),
        rounds=args.rounds,
        seconds=args.seconds,
        warmup=args.warmup,
        settle=args.settle,
        confidence=args.confidence,
        seed=args.seed,
        max_images=args.max_images,
    )


def run(args: argparse.Namespace) -> int:
    from pytest_deeplab.gate import EXIT_ERROR, GateError, render, run_gate

    try:
        settings = settings_from_args(args)
        if args.rounds is not None and args.rounds < 2:
            raise GateError("--rounds must be at least 2")
        report = run_gate(settings)
    except (GateError, FileNotFoundError) as exc:
        print(f"pytest-deeplab gate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pytest-deeplab gate: interrupted", file=sys.stderr)
        return EXIT_ERROR
    markdown = render(report, markdown=True)
    print(render(report, markdown=False) if args.text else markdown)
    if args.markdown:
        args.markdown.write_text(markdown, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(report.as_dict(), indent=2, default=str),
                             encoding="utf-8")
    return report.exit_code
