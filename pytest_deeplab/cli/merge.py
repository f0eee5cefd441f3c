"""`pytest-deeplab merge DIR...`: the shards of one run as one summary, JUnit XML, HTML, verdict.

    pytest --deeplab-models=all --deeplab-shard=1/3 --deeplab-results-dir=out/1   # job 1 of 3
    ...
    pytest-deeplab merge out/ --junitxml=deeplab.xml --html=deeplab.html

Finds every deeplab-run-K-of-N.json under the folders given, checks that they are each shard of
one run exactly once (same split, selection, pytest-deeplab version and TensorFlow / oneDNN /
thread identity unless --allow-mixed), prints the summary and exits 0 when everything passed,
1 when anything failed, 2 when the files cannot be merged (each problem named).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import Any

COMMAND = "merge"


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        COMMAND, parents=[common],
        help="combine the results files of sharded runs into one verdict",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("paths", nargs="+", type=Path, metavar="DIR|FILE",
                   help="folders holding the shards' results (searched recursively) or files")
    p.add_argument("--junitxml", type=Path, default=None, metavar="OUT.xml",
                   help="write one JUnit XML for the whole run")
    p.add_argument("--html", type=Path, default=None, metavar="OUT.html",
                   help="write one HTML report for the whole run")
    p.add_argument("--allow-mixed", action="store_true",
                   help="merge shards that ran under different TensorFlow / oneDNN / threads "
                        "(the outputs then say so)")


def run(args: argparse.Namespace) -> int:
    from pytest_deeplab.shards.merge import MergeError, merge_files
    from pytest_deeplab.shards.render import summary_lines

    try:
        merged = merge_files(args.paths, allow_mixed=args.allow_mixed)
    except MergeError as exc:
        print("pytest-deeplab merge: refused, nothing was merged:", file=sys.stderr)
        for problem in exc.problems:
            first, *rest = problem.splitlines()
            print("\n".join([f"  - {first}", *(f"    {line}" for line in rest)]),
                  file=sys.stderr)
        return 2
    width = shutil.get_terminal_size((80, 24)).columns
    print("\n".join(summary_lines(merged, width)))
    if args.junitxml:
        from pytest_deeplab.shards.junit import write_junit

        try:
            print(f"wrote {write_junit(args.junitxml, merged.items, _suite_properties(merged))}",
                  file=sys.stderr)
        except OSError as exc:
            return _unwritten(args.junitxml, exc)
    if args.html:
        from pytest_deeplab.report.html import ReportError
        from pytest_deeplab.report.merged import write_merged_report

        try:
            print(f"wrote {write_merged_report(args.html, merged, command=_command(args))}",
                  file=sys.stderr)
        except (ReportError, OSError) as exc:
            return _unwritten(args.html, exc)
    return merged.exit_status


def _unwritten(path: Path, exc: Exception) -> int:
    print(f"pytest-deeplab merge: {path} NOT written: {exc} (the verdict above stands, but this "
          "output is missing)", file=sys.stderr)
    return 2


def _suite_properties(merged: Any) -> list[tuple[str, Any]]:
    """Suite-level JUnit properties: how the run was split, and whether it was mixed."""
    properties: list[tuple[str, Any]] = [
        ("deeplab_models", merged.selection_spec),
        ("deeplab_shards", merged.count),
    ]
    if merged.mixed:
        properties.append(("deeplab_mixed_identities", " | ".join(merged.mixed)))
    elif merged.identity:
        properties.append(("deeplab_tensorflow", merged.identity.get("tensorflow")))
    return properties


def _command(args: argparse.Namespace) -> str:
    return " ".join(["pytest-deeplab", "merge", *map(str, args.paths)]
                    + (["--allow-mixed"] if args.allow_mixed else []))
