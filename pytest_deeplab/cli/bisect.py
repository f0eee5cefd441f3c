"""`pytest-deeplab bisect`: which TensorFlow build made our models slower (or different)?

    pytest-deeplab bisect --good 'tensorflow-cpu==2.16.*' --bad 'tensorflow-cpu==2.21.*' \\
        --with 'numpy<2' --config ci/real-zoo.toml --models real-deeplabv3-tflite
    pytest-deeplab bisect --good 'tf-nightly==2.22.0.dev20260301' --bad tf-nightly
    pytest-deeplab bisect --good python --bad tf-nightly \\
        --candidates 'tf-nightly==2.22.0.dev20260601'

The candidates are the versions the package index offers strictly between good and bad for the
bad end's distribution (final releases unless --pre; for tf-nightly every nightly, by date), or
--candidates by hand (interpreters, tox:ENV or requirement specs). Good may be the newer build
(to find what made a model faster, give the fast one as good). Each step builds (or reuses) one
environment and runs the gate of it against the good end: bad when any model FAILs, good when
every model passes; an INCONCLUSIVE step is rerun once with twice the budget, then skipped.

Exit status: 0 a first bad build was found; 1 good and bad do not differ (the bad end passes
against good); 2 the bisection could not run; 3 undecided builds leave a range, not one build.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any

from pytest_deeplab.cli.envs import installer_from_args, store_from_args
from pytest_deeplab.cli.gate import (
    add_gate_options,
    check_gate_args,
    env_pair,
    gate_settings,
    is_existing,
)

COMMAND = "bisect"


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        COMMAND, parents=[common],
        help="find the TensorFlow build between a good and a bad one where a model changed",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--good", required=True, metavar="SPEC",
                   help="the good end: requirement spec, interpreter or tox:ENV")
    p.add_argument("--bad", required=True, metavar="SPEC",
                   help="the bad end; its distribution's versions are the candidates")
    p.add_argument("--candidates", default=None, metavar="SPEC,SPEC,...",
                   help="the builds between, good end first, instead of asking the index")
    p.add_argument("--pre", action="store_true",
                   help="pre-releases are candidates too (nightly distributions always are)")
    p.add_argument("--with", dest="pins", action="append", default=[], metavar="REQ",
                   help="extra pin for every environment built, e.g. 'numpy<2' (repeatable)")
    p.add_argument("--env", action="append", type=env_pair, default=[], metavar="K=V",
                   help="environment variable for every side (repeatable)")
    p.add_argument("--keep-envs", action="store_true",
                   help="keep every environment built (default: only the ends and the "
                        "current last good / first bad are kept as it goes)")
    add_gate_options(p)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _pins_for(text: str, pins: list[str]) -> list[str]:
    """--with applies to requirement specs; an existing interpreter is taken as it is."""
    from pytest_deeplab.envs.spec import parse_spec

    return list(pins) if parse_spec(text, option="--candidates").kind == "requirements" else []


def _end_version(text: str, option: str, distribution: str | None, args: argparse.Namespace,
                 index: Any, listed: dict[str, Any]) -> Any:
    """(distribution, Version) an end stands for: picked from the index, or probed."""
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    from pytest_deeplab.bisect.candidates import CandidateError, index_versions, pick
    from pytest_deeplab.envs.provision import probe
    from pytest_deeplab.envs.spec import TENSORFLOW_DISTRIBUTIONS, parse_spec

    spec = parse_spec(text, option=option)
    if spec.kind == "requirements":
        name = canonicalize_name(spec.names[0])
        if name not in listed:
            listed[name] = index_versions(name, index)
        return pick(spec.requirements[0], listed[name], args.pre)
    if spec.kind == "python":
        assert spec.python is not None
        found = probe(spec.python, sorted(TENSORFLOW_DISTRIBUTIONS))["versions"]
        assert isinstance(found, dict)
        names = [n for n in sorted(found) if found[n]]
        if distribution in names:
            names = [distribution]
        if names:
            from pytest_deeplab.bisect.candidates import Pinned

            return Pinned(names[0], Version(str(found[names[0]])))
        raise CandidateError(f"{option} {text}: no TensorFlow installed there")
    raise CandidateError(f"{option} {text}: the versions of a tox environment are not known "
                         "before it is built; give --candidates, or a requirement spec")


def plan(args: argparse.Namespace) -> tuple[list[str], dict[str, str], bool]:
    """The points (good end, candidates, bad end) with the version shown for each."""
    from pytest_deeplab.bisect.candidates import CandidateError, between, order_between
    from pytest_deeplab.envs.installer import IndexOptions

    if args.candidates is not None:
        middle = [c.strip() for c in args.candidates.split(",") if c.strip()]
        points = [args.good, *middle, args.bad]
        if len(set(points)) != len(points):
            raise CandidateError("good, bad and --candidates must all differ")
        versions = {p: p.split("==", 1)[1] if "==" in p else p for p in points}
        return points, versions, False
    index = IndexOptions(args.index_url, tuple(args.find_links), args.no_index)
    listed: dict[str, Any] = {}
    bad = _end_version(args.bad, "--bad", None, args, index, listed)
    good = _end_version(args.good, "--good", bad.distribution, args, index, listed)
    key = order_between(good.version, bad.version)
    if key(good.version) == key(bad.version):
        raise CandidateError(f"--good {args.good} and --bad {args.bad} are the same build "
                             f"({bad.version}): nothing lies between them")
    if bad.distribution not in listed:
        from pytest_deeplab.bisect.candidates import index_versions

        listed[bad.distribution] = index_versions(bad.distribution, index)
    inside = between(good.version, bad.version, listed[bad.distribution], bad.distribution,
                     args.pre)
    middle = [f"{bad.distribution}=={v}" for v in inside]
    points = [args.good, *middle, args.bad]
    versions = {args.good: str(good.version), args.bad: str(bad.version),
                **{p: str(v) for p, v in zip(middle, inside)}}
    return points, versions, key(good.version) > key(bad.version)


def run(args: argparse.Namespace) -> int:
    from pytest_deeplab.bisect.answer import Answer, render_answer
    from pytest_deeplab.bisect.candidates import CandidateError
    from pytest_deeplab.bisect.search import (
        EXIT_ERROR,
        BisectError,
        bisect,
        step_confidence,
        steps_left,
    )
    from pytest_deeplab.bisect.steps import GateSteps
    from pytest_deeplab.envs.installer import InstallError
    from pytest_deeplab.envs.spec import EnvSpecError
    from pytest_deeplab.gate.controller import GateError
    from pytest_deeplab.gate.sides import build_side

    started = time.perf_counter()
    try:
        check_gate_args(args)
        points, versions, good_is_newer = plan(args)
        middle = points[1:-1]
        print(f"{len(middle)} candidate(s) between {versions[points[0]]} (good) and "
              f"{versions[points[-1]]} (bad)" + (":" if middle else ""), flush=True)
        for point in middle:
            print(f"  {versions.get(point, point)}", flush=True)
        rootdir, store = args.rootdir.resolve(), store_from_args(args)
        installer: list[Any] = []

        def make_side(text: str, label: str = "B") -> Any:
            pins = _pins_for(text, args.pins)
            if pins or not is_existing(text):
                installer[:] = installer or [installer_from_args(args)]
            option = {args.good: "--good", args.bad: "--bad"}.get(text, "--candidates")
            return build_side(label, text, pins, option, rootdir, dict(args.env), args.threads,
                              store, installer[0] if installer else None, _log)

        good = make_side(args.good, "A")
        each = step_confidence(args.confidence, len(middle))
        print(f"each step's gate at {each:.2%} confidence, so that the answer holds at "
              f"{args.confidence:.0%} over its {1 + steps_left(len(middle))} planned steps",
              flush=True)
        base = dataclasses.replace(gate_settings(args, good, good), confidence=each)
        steps = GateSteps(base, make_side, args.good, args.bad, store, args.keep_envs, _log)
        result = bisect(points, steps, _log)
    except (CandidateError, EnvSpecError, InstallError, GateError, BisectError) as exc:
        print(f"pytest-deeplab bisect: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pytest-deeplab bisect: interrupted", file=sys.stderr)
        return EXIT_ERROR
    answer = Answer(result, versions, middle, good_is_newer, time.perf_counter() - started,
                    steps.disk_peak, {**_settings_record(args), "step_confidence": each,
                                      "removed_envs": steps.removed})
    markdown = render_answer(answer, markdown=True)
    print(render_answer(answer, markdown=False) if args.text else markdown)
    if args.markdown:
        args.markdown.write_text(markdown, encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(answer.as_dict(), indent=2, default=str),
                             encoding="utf-8")
    return result.exit_code


def _settings_record(args: argparse.Namespace) -> dict[str, Any]:
    return {"models": args.models, "threshold": args.threshold,
            "cpu_threshold": None if args.no_cpu_gate else (args.cpu_threshold or args.threshold),
            "max_seconds": args.max_seconds, "confidence": args.confidence,
            "with": list(args.pins), "env": dict(args.env), "pre": args.pre,
            "config": str(args.config) if args.config else None,
            "kept_envs": bool(args.keep_envs),
            "rootdir": str(Path(args.rootdir).resolve())}
