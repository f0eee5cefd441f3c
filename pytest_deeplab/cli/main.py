"""The `pytest-deeplab` command: `list` the catalogue, `fetch` models into the cache.

It reads the same configuration as the plugin (the rootdir's pyproject.toml or --config) so a
CI image can be pre-warmed with exactly the models the suite will ask for.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_deeplab.catalogue.resolved import Selection, resolve_selection
from pytest_deeplab.catalogue.specs import CatalogueError, format_madds
from pytest_deeplab.fetching.model_files import ModelFiles, is_cached
from pytest_deeplab.options import DeepLabOptions, OptionsError, build_options
from pytest_deeplab.shards.plan import ShardSpecError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pytest-deeplab", description="DeepLab model catalogue and cache for pytest-deeplab"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--rootdir", type=Path, default=Path.cwd(),
                        help="project folder whose pyproject.toml is read (default: here)")
    common.add_argument("--config", type=Path, default=None,
                        help="TOML with [tool.pytest-deeplab] tables")
    common.add_argument("--cache-dir", type=Path, default=None,
                        help="model cache (env PYTEST_DEEPLAB_CACHE)")
    common.add_argument("--mirror", action="append", default=[], metavar="URL|DIR",
                        help="mirror tried before the official URL (repeatable)")
    common.add_argument("--offline", action="store_true", help="never touch the network")
    common.add_argument("--require-pins", action=argparse.BooleanOptionalAction, default=None,
                        help="refuse models fetched from a URL or mirror that have neither a "
                             "published checksum nor a pin in deeplab-zoo.lock (default: the "
                             "project's deeplab_require_pins ini key, else off)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common], help="every model known, and what is cached")
    fetch = commands.add_parser("fetch", parents=[common], help="download models into the cache")
    fetch.add_argument("models", nargs="+", help="names, globs, all, official, user")
    fetch.add_argument("--shard", metavar="K/N", default=None,
                       help="only the models of shard K of N, split as --deeplab-shard=K/N "
                            "splits the same selection (a CI job warms only its own cache)")
    fetch.add_argument("--update-lock", action="store_true",
                       help="accept archives whose checksum differs from deeplab-zoo.lock")
    for module in _command_modules():
        module.add_parser(commands, common)
    return parser


def _command_modules() -> list[Any]:
    """Subcommands that live in their own modules (each has `add_parser` and `run`)."""
    import importlib

    return [importlib.import_module(name) for name in EXTRA_COMMANDS]


# Each module exposes add_parser(subparsers, common) and run(args) -> exit code; the subcommand's
# name is the module's COMMAND.
EXTRA_COMMANDS: tuple[str, ...] = (
    "pytest_deeplab.cli.gate", "pytest_deeplab.cli.compare", "pytest_deeplab.cli.inspect",
    "pytest_deeplab.cli.report", "pytest_deeplab.cli.envs", "pytest_deeplab.cli.explain",
    "pytest_deeplab.cli.merge", "pytest_deeplab.cli.bisect",
)


def options_from_args(args: argparse.Namespace, models: str) -> DeepLabOptions:
    """Plugin settings from the subcommands' shared options (list, fetch, inspect)."""
    return build_options(
        args.rootdir.resolve(),
        models,
        cache_dir=args.cache_dir,
        mirrors=list(args.mirror),
        offline=args.offline,
        update_lock=getattr(args, "update_lock", False),
        require_pins=getattr(args, "require_pins", None),
        config_file=args.config.resolve() if args.config else None,
    )


def _list(selection: Selection, options: DeepLabOptions) -> int:
    catalogue = selection.catalogue
    header = ("name", "source", "format", "labels", "input", "backbone", "OS", "published mIOU",
              "MAdds", "size", "cached")
    rows = [header]
    for model in catalogue.models.values():
        f = model.facts
        size = str(model.input_size or "file")  # TF Lite: the size its file declares
        rows.append((
            model.name, model.source, model.format, model.label_set, size,
            f.backbone, str(f.eval_output_stride or ""), f.published_miou,
            format_madds(f.multiply_adds, f.multiply_adds_note),
            f.file_size, is_cached(model, options),
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())
    print(f"\n{len(catalogue.models)} models; datasets: {', '.join(catalogue.datasets) or 'none'}")
    return 0


def _fetch(selection: Selection, files: ModelFiles) -> int:
    """Fetch the selection into the cache and pin each archive in the rootdir's deeplab-zoo.lock
    (with where it came from), as a pytest run would: this is how a lock is written on purpose."""
    from pytest_deeplab.fetching.fetch import FetchError
    from pytest_deeplab.fetching.trust import UnpinnedModelsError, mirror_pin_note

    try:
        files.require_pins(selection.selected, option="--require-pins")
    except UnpinnedModelsError as exc:
        print(f"pytest-deeplab: {exc}", file=sys.stderr)
        return 2
    failed = 0
    for model in selection.selected:
        try:
            path = files.path(model)
        except (FetchError, OSError) as exc:
            failed += 1
            print(f"FAILED {model.name}: {exc}", file=sys.stderr)
        else:
            print(f"ok     {model.name}: {path}")
    lock = files.lock_path
    for name, fetched in files.fetched.items():
        if fetched.pinned:  # "new", or "updated" (--update-lock)
            updated = " (updated)" if fetched.pinned == "updated" else ""
            print(f"pinned {name}: sha256 {fetched.sha256} ({fetched.size} bytes) from "
                  f"{fetched.origin} in {lock}{updated}")
    for pin in files.mirror_pins.values():
        print(f"CHECK  {mirror_pin_note(pin.as_dict())}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    for module in _command_modules():
        if args.command == module.COMMAND:
            return int(module.run(args))
    spec = ",".join(args.models) if args.command == "fetch" else "all"
    try:
        options = options_from_args(args, spec)
        if getattr(args, "shard", None):
            from pytest_deeplab.shards.plan import parse_shard

            options.shard = parse_shard(args.shard, option="--shard")
        selection = resolve_selection(options)
    except (CatalogueError, ShardSpecError, OptionsError) as exc:
        print(f"pytest-deeplab: {exc}", file=sys.stderr)
        return 2
    if args.command == "list":
        return _list(selection, options)
    return _fetch(selection, ModelFiles(options))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
