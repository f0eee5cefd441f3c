"""`pytest-deeplab envs`: the environments the gate built from requirement specs.

    pytest-deeplab envs list
    pytest-deeplab envs make 'tensorflow-cpu==2.15.*' --with 'numpy<2'   # build ahead (CI images)
    pytest-deeplab envs prune --older-than 30      # not used for 30 days
    pytest-deeplab envs prune --all                # everything (one being built is kept)

They live under <cache>/envs (the model cache: --cache-dir or PYTEST_DEEPLAB_CACHE).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from pytest_deeplab.options import env_cache_dir

COMMAND = "envs"


def add_install_options(p: argparse.ArgumentParser) -> None:
    """How environments are built; shared with `gate`."""
    p.add_argument("--installer", choices=("auto", "uv", "pip"), default="auto",
                   help="uv when present (auto), or force one (default auto)")
    p.add_argument("--index-url", default=None, help="package index for built environments")
    p.add_argument("--find-links", action="append", default=[], metavar="DIR|URL",
                   help="extra place to find wheels (repeatable)")
    p.add_argument("--no-index", action="store_true",
                   help="use only --find-links, never an index")


def installer_from_args(args: argparse.Namespace) -> Any:
    from pytest_deeplab.envs.installer import IndexOptions, make_installer

    index = IndexOptions(args.index_url, tuple(args.find_links), args.no_index)
    return make_installer(args.installer, index)


def store_from_args(args: argparse.Namespace) -> Any:
    from pytest_deeplab.envs.store import EnvStore

    cache = args.cache_dir or env_cache_dir()
    return EnvStore.under_cache(Path(cache).resolve() if cache else None)


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    p = subparsers.add_parser(COMMAND, help="list, build or prune the "
                              "environments the gate builds from specs", description=__doc__,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = p.add_subparsers(dest="envs_action", required=True)
    actions.add_parser("list", parents=[common],
                       help="every built environment, its pins, size and last use")
    make = actions.add_parser("make", parents=[common],
                              help="build (or reuse) the environment for a spec")
    make.add_argument("spec", help="a requirement, e.g. 'tensorflow-cpu==2.15.*' or tf-nightly")
    make.add_argument("--with", dest="pins", action="append", default=[], metavar="REQ",
                      help="extra pin, e.g. 'numpy<2' (repeatable)")
    add_install_options(make)
    prune = actions.add_parser("prune", parents=[common], help="delete environments")
    prune.add_argument("--older-than", type=float, default=None, metavar="DAYS",
                       help="only those not used for this many days")
    prune.add_argument("--all", action="store_true", help="every environment")
    prune.add_argument("--dry-run", action="store_true", help="say what would go")


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _list(store: Any) -> int:
    records = store.records()
    if not records:
        print(f"no environments under {store.root}")
        return 0
    from pytest_deeplab.history import format_table

    rows = []
    for r in records:
        rows.append([Path(r.path).name, " ".join(r.requested), f"{len(r.pins)} pins",
                     f"{r.size_bytes / 1e6:.0f} MB", f"{r.build_seconds:.0f} s",
                     time.strftime("%Y-%m-%d %H:%M", time.localtime(r.last_used)), r.installer])
    print(format_table(["environment", "asked for", "resolved", "size", "built in",
                        "last used", "installer"], rows, False))
    print(f"\n{len(records)} environment(s) under {store.root}")
    for path in store.incomplete():
        print(f"incomplete (a build that did not finish; `envs prune --all` removes it): {path}")
    return 0


def _prune(store: Any, args: argparse.Namespace) -> int:
    if args.older_than is None and not args.all:
        print("pytest-deeplab envs prune: say --all or --older-than DAYS", file=sys.stderr)
        return 2
    cutoff = time.time() - 86400 * (args.older_than or 0.0)
    targets = [Path(r.path) for r in store.records() if args.all or r.last_used < cutoff]
    targets += store.incomplete() if args.all else []
    kept = 0
    for path in targets:
        if args.dry_run:
            print(f"would remove {path}")
        elif store.remove(path):
            print(f"removed {path}")
        else:
            kept += 1
            print(f"kept {path}: another process is building it")
    print(f"{len(targets) - kept} of {len(targets)} environment(s) "
          f"{'would be ' if args.dry_run else ''}removed")
    return 0


def run(args: argparse.Namespace) -> int:
    from pytest_deeplab.envs.installer import InstallError
    from pytest_deeplab.envs.spec import EnvSpecError, parse_spec

    store = store_from_args(args)
    if args.envs_action == "list":
        return _list(store)
    if args.envs_action == "prune":
        return _prune(store, args)
    from pytest_deeplab.envs.provision import provision

    try:
        spec = parse_spec(args.spec, args.pins, option="spec")
        if spec.kind != "requirements":
            raise EnvSpecError(f"{args.spec!r} is an interpreter or tox environment, "
                               "not a requirement to build from")
        env = provision(spec, store, installer_from_args(args), sys.executable, _log)
    except (EnvSpecError, InstallError) as exc:
        print(f"pytest-deeplab envs: {exc}", file=sys.stderr)
        return 2
    print(env.python)
    return 0
