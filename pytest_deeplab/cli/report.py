"""`pytest-deeplab report DIR...`: version trends over saved benchmark runs and gate results.

    pytest --deeplab-models=bundled --benchmark-autosave       # once per TF version (tox env)
    pytest-deeplab report .benchmarks --html trends.html --markdown trends.md

Median latency, CPU time and mIOU per model per TensorFlow version, as tables and plots
(HTML, PNG inline; plots need matplotlib: pip install 'pytest-deeplab[report]') and as
Markdown for a PR comment. Without --html / --markdown the Markdown goes to stdout.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

COMMAND = "report"


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(
        COMMAND, parents=[common],
        help="version trends (HTML with plots, Markdown) over saved benchmark runs and gates",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("runs", nargs="+", type=Path, metavar="DIR|FILE",
                   help="pytest-benchmark JSON (e.g. .benchmarks/), JUnit XML, "
                        "`pytest-deeplab gate --json` files; files or folders")
    p.add_argument("--html", type=Path, default=None, metavar="OUT.html",
                   help="write a self-contained HTML page with tables and plots")
    p.add_argument("--markdown", type=Path, default=None, metavar="OUT.md",
                   help="write the tables as Markdown (for a PR comment)")
    p.add_argument("--title", default="pytest-deeplab: version trends", help="page title")


def run(args: argparse.Namespace) -> int:
    from pytest_deeplab.history import CompareError
    from pytest_deeplab.report.html import ReportError
    from pytest_deeplab.report.trends import (
        MATPLOTLIB_HINT,
        load_trends,
        matplotlib_available,
        render_html,
        render_markdown,
    )

    try:
        trends = load_trends(args.runs)
    except CompareError as exc:
        print(f"pytest-deeplab report: {exc}", file=sys.stderr)
        return 2
    markdown = render_markdown(trends, args.title)
    try:
        if args.html:
            if not matplotlib_available():
                print(f"pytest-deeplab report: {MATPLOTLIB_HINT} (the HTML has tables only)",
                      file=sys.stderr)
            args.html.parent.mkdir(parents=True, exist_ok=True)
            args.html.write_text(render_html(trends, args.title), encoding="utf-8")
            print(f"wrote {args.html}", file=sys.stderr)
        if args.markdown:
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(markdown, encoding="utf-8")
            print(f"wrote {args.markdown}", file=sys.stderr)
    except (ReportError, OSError) as exc:
        print(f"pytest-deeplab report: {exc}", file=sys.stderr)
        return 2
    if not args.html and not args.markdown:
        print(markdown, end="")
    return 0
