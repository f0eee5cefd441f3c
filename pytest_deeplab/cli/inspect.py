"""`pytest-deeplab inspect MODEL`: the model card of a catalogue model (or a model file).

MODEL is resolved exactly as `list` / `fetch` resolve names (bundled, official and the user's
models from pyproject.toml or --config); its file comes from the cache, fetching it if needed.
A path to a .pb / .tflite file is inspected directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COMMAND = "inspect"


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        COMMAND, parents=[common],
        help="model card: tensors, ops, parameters, multiply-adds, output stride, ASPP, decoder",
        description="Measure a model from its graph and print its card beside the catalogue's "
                    "published figures.",
    )
    parser.add_argument("models", nargs="+", metavar="MODEL",
                        help="catalogue name or glob (see `pytest-deeplab list`), or a model file")
    parser.add_argument("--size", type=int, default=None, metavar="N",
                        help="measure multiply-adds at an NxN input (default: the graph's crop)")
    parser.add_argument("--json", action="store_true", help="print the cards as JSON")
    parser.add_argument("--compare-with", default=None, metavar="NAME",
                        help="show this catalogue entry's published figures beside the measured")


def _file_model(path: Path) -> Any:
    from pytest_deeplab.catalogue.specs import ModelSpec
    from pytest_deeplab.runtime.formats import get_format, guess_format

    fmt = get_format(guess_format(path))
    return ModelSpec(name=path.name, format=fmt.name, label_set="pascal",
                     input_size=None if fmt.size_from_file else 513, source="user", path=path)


def run(args: argparse.Namespace) -> int:
    from pytest_deeplab.catalogue.resolved import resolve_selection
    from pytest_deeplab.catalogue.specs import CatalogueError, ModelSpec
    from pytest_deeplab.cli.main import options_from_args
    from pytest_deeplab.fetching.fetch import FetchError
    from pytest_deeplab.fetching.model_files import ModelFiles
    from pytest_deeplab.fetching.trust import UnpinnedModelsError
    from pytest_deeplab.modelcard.card import build_card, render_text
    from pytest_deeplab.options import OptionsError
    from pytest_deeplab.runtime.base import ModelLoadError
    from pytest_deeplab.runtime.inspection import inspect_model

    if args.size is not None and args.size < 16:
        print("pytest-deeplab inspect: --size must be at least 16 pixels", file=sys.stderr)
        return 2
    files = [Path(m) for m in args.models if Path(m).exists()]
    names = [m for m in args.models if not Path(m).exists()]
    try:
        options = options_from_args(args, ",".join(names) or "all")
        selection = resolve_selection(options)
        models: list[tuple[ModelSpec, Path | None]] = [
            (m, None) for m in (selection.selected if names else [])]
        models += [(_file_model(p), p) for p in files]
        compare = None
        if args.compare_with:
            (compare,) = selection.catalogue.select(args.compare_with)[:1]
    except (CatalogueError, OptionsError) as exc:
        message = str(exc).replace("--deeplab-models: ", "")
        print(f"pytest-deeplab inspect: {message}", file=sys.stderr)
        return 2
    official = selection.catalogue.by_source("official")
    model_files = ModelFiles(options)

    cards, verdicts, failed = [], [], 0
    for model, direct in models:
        try:
            path = direct or model_files.path(model)
            verdict = safety_verdict(path, model)
            if verdict is not None:
                verdicts.append(verdict)
                if not verdict.ok:
                    failed += 1
                    if not args.json:
                        print(render_verdict(verdict, model.name))
                    continue
            measured = inspect_model(
                path, model.format, input_tensor=model.input_tensor,
                output_tensor=model.output_tensor, size=args.size,
                default_size=model.input_size, allow_ops=model.allow_ops,
            )
        except (FetchError, OSError) as exc:
            failed += 1
            print(f"pytest-deeplab inspect: {model.name}: the model file is not available: "
                  f"{exc}. `pytest-deeplab fetch {model.name}` gets it.", file=sys.stderr)
            continue
        except UnpinnedModelsError as exc:
            failed += 1
            print(f"pytest-deeplab inspect: {exc}", file=sys.stderr)
            continue
        except ModelLoadError as exc:
            failed += 1
            where = "" if direct else f"{model.name}: "
            print(f"pytest-deeplab inspect: {where}{exc}", file=sys.stderr)
            continue
        card = build_card(model, measured, official, compare)
        cards.append((card, verdict))

    if args.json:
        documents = [{**card.to_dict(), "safety": v.as_dict() if v else None} for card, v in cards]
        documents += [{"model": v.path, "safety": v.as_dict()} for v in verdicts if not v.ok]
        print(json.dumps(documents, indent=2))
    else:
        print("\n".join(render_text(card) + (render_verdict(v, None) + "\n" if v else "")
                        for card, v in cards), end="")
    return 1 if failed else 0


def safety_verdict(path: Path, model: Any) -> Any:
    """The allowlist verdict, read from the file alone."""
    from pytest_deeplab.runtime.formats import get_format

    return get_format(model.format).safety_report(path, model.allow_ops)


def render_verdict(verdict: Any, name: str | None) -> str:
    """One line when the file passes; the refusal with every op outside the allowlist if not."""
    from pytest_deeplab.runtime.safety.findings import refusal_message

    if not verdict.ok:
        return refusal_message(verdict, name)
    own = (f"; allowed for this model only: {', '.join(verdict.allowed_by_model)}"
           if verdict.allowed_by_model else "")
    return (f"  op allowlist   passed: {sum(verdict.ops.values())} ops of "
            f"{len(verdict.ops)} types, all pure computation{own}")
