"""`pytest-deeplab compare DIR...`: saved benchmark runs as a model x TensorFlow version table.

    pytest --deeplab-models=bundled --benchmark-autosave        # once per tox environment
    pytest-deeplab compare .benchmarks --markdown
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

COMMAND = "compare"


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        COMMAND, parents=[common],
        help="lay saved benchmark runs out as model x TensorFlow version",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="DIR|FILE",
                   help="pytest-benchmark JSON (e.g. .benchmarks/) or JUnit XML, files or folders")
    p.add_argument("--markdown", action="store_true", help="Markdown tables instead of text")
    p.add_argument("--output", "-o", type=Path, default=None, help="write to a file too")


def run(args: argparse.Namespace) -> int:
    from pytest_deeplab.history import (
        CompareError,
        build_comparison,
        load_entries,
        render_comparison,
    )

    try:
        comparison = build_comparison(load_entries(args.runs))
    except CompareError as exc:
        print(f"pytest-deeplab compare: {exc}", file=sys.stderr)
        return 2
    text = render_comparison(comparison, markdown=args.markdown)
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    return 0
