"""`pytest-deeplab explain MODEL`: the first op where two runs of a model part ways.

    # two environments, one model (interpreters as the gate takes them)
    pytest-deeplab explain mini_mnv2_os16 --baseline .tox/tf215/bin/python \\
        --candidate .tox/tf221/bin/python
    pytest-deeplab explain model.pb --image photo.jpg --env-b TF_ENABLE_ONEDNN_OPTS=0
    # two files, one environment: a re-export, a TF Lite conversion
    pytest-deeplab explain frozen_inference_graph.pb --against model_float.tflite --image x.png
    # where the time goes: untraced timings for the verdict, a per-op probe for the ops
    pytest-deeplab explain model.tflite --latency --baseline 'tensorflow-cpu==2.15.*' \\
        --candidate 'tensorflow-cpu==2.21.*' --json latency.json

Every floating-point tensor the model computes on the image is compared in topological order:
max |a-b|, relative L2 error, fraction of elements beyond tolerance. The first tensor that differs
at all and the first beyond --tolerance are named with their op; the final masks are compared.

Exit status: 0 it ran (whatever it found); 2 it could not (model, image, interpreter, or a graph
the running TensorFlow cannot read: the pre-flight names the op, its nodes and the version).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pytest_deeplab.cli.envs import add_install_options
from pytest_deeplab.cli.gate import _env_pair

if TYPE_CHECKING:
    from pytest_deeplab.catalogue.resolved import Selection
    from pytest_deeplab.fetching.model_files import ModelFiles

COMMAND = "explain"
EXIT_RAN, EXIT_ERROR = 0, 2


def add_parser(subparsers: Any, common: argparse.ArgumentParser) -> None:
    from pytest_deeplab.explain.runner import DEFAULT_CHUNK_MB, DEFAULT_TOLERANCE

    p = subparsers.add_parser(
        COMMAND, parents=[common],
        help="find the first op where two runs of a model (environments or files) part ways",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("model", metavar="MODEL", help="catalogue name, or a .pb / .tflite file")
    p.add_argument("--against", default=None, metavar="OTHER_MODEL",
                   help="compare with this model (name or file) instead of another environment")
    p.add_argument("--baseline", default=None, metavar="PY_A",
                   help="side A as the gate takes it: interpreter, tox:ENV or requirement spec "
                        "(default: this interpreter)")
    p.add_argument("--candidate", default=None, metavar="PY_B",
                   help="side B, the same forms (default: A's interpreter)")
    p.add_argument("--with-a", action="append", default=[], metavar="REQ",
                   help="extra pin for a spec baseline, e.g. 'numpy<2' (repeatable)")
    p.add_argument("--with-b", action="append", default=[], metavar="REQ",
                   help="extra pin for a spec candidate (repeatable)")
    p.add_argument("--env-a", action="append", type=_env_pair, default=[], metavar="K=V",
                   help="environment variable for A only (repeatable)")
    p.add_argument("--env-b", action="append", type=_env_pair, default=[], metavar="K=V",
                   help="environment variable for B only (repeatable)")
    p.add_argument("--image", type=Path, default=None, metavar="PATH",
                   help="image to run on (default: the model's first golden image)")
    p.add_argument("--input-size", type=int, default=None, metavar="N",
                   help="demo-resize the image to N (default: the catalogue's, 513 for files)")
    p.add_argument("--input-tensor", default=None,
                   help="input of a frozen graph given as a file (ImageTensor:0)")
    p.add_argument("--output-tensor", default=None,
                   help="output of a frozen graph given as a file (SemanticPredictions:0)")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help=f"relative L2 error that counts as a divergence ({DEFAULT_TOLERANCE:g}; "
                        "oneDNN on/off stays far below it, see the README)")
    p.add_argument("--threads", type=int, default=None, help="intra-op threads on both sides")
    p.add_argument("--attribute", action="store_true",
                   help="rerun each side with oneDNN (XNNPACK for TF Lite) flipped and say "
                        "whether the divergence disappears")
    p.add_argument("--unfused", action="store_true",
                   help="frozen graphs: every float tensor of the graph, Grappler's op fusion "
                        "off (default: the tensors plain inference materialises, fusions kept)")
    p.add_argument("--chunk-mb", type=float, default=DEFAULT_CHUNK_MB,
                   help=f"tensors fetched per pass, in MiB ({DEFAULT_CHUNK_MB})")
    p.add_argument("--workdir", type=Path, default=None,
                   help="folder for the temporary tensor files (default: the system's temp)")
    p.add_argument("--json", type=Path, default=None, metavar="OUT.json",
                   help="write the whole profile as JSON")
    p.add_argument("--html", type=Path, default=None, metavar="OUT.html",
                   help="write the report with the divergence plot")
    latency = p.add_argument_group(
        "latency", "--latency: where the time goes between A and B (docs/explain-latency.md)")
    latency.add_argument("--latency", action="store_true",
                         help="compare inference time instead of tensors: how the model runs "
                              "(delegation, kernels, threads), then the ops that got slower")
    latency.add_argument("--runs", type=int, default=None, metavar="N",
                         help="rounds per side, each an untraced and a traced inference (30)")
    latency.add_argument("--warmup", type=int, default=None, metavar="N",
                         help="untraced and traced warm-up inferences per side (3)")
    latency.add_argument("--xnnpack-a", choices=("on", "off"), default=None,
                         help="TF Lite: XNNPACK for A (default: the model's xnnpack key, on)")
    latency.add_argument("--xnnpack-b", choices=("on", "off"), default=None,
                         help="TF Lite: XNNPACK for B (default: the model's xnnpack key, on)")
    latency.add_argument("--explained-tolerance", type=float, default=None, metavar="F",
                         help="the per-op differences must add up to the total difference "
                              "within this fraction, else attribution is refused (0.25)")
    add_install_options(p)


def _file_model(path: Path, args: argparse.Namespace) -> Any:
    from pytest_deeplab.explain.sides import ModelRef
    from pytest_deeplab.runtime.formats import guess_format

    return ModelRef(path.name, path.resolve(), guess_format(path), args.input_tensor,
                    args.output_tensor)


def _resolve(text: str, selection: Selection, files: ModelFiles,
             args: argparse.Namespace) -> tuple[Any, Any]:
    """(ModelRef, catalogue ModelSpec or None) for a name or a file."""
    from pytest_deeplab.catalogue.specs import CatalogueError
    from pytest_deeplab.explain.sides import ExplainError, ModelRef

    path = Path(text)
    if path.is_file():
        return _file_model(path, args), None
    try:
        selected = selection.catalogue.select(text)
    except CatalogueError as exc:
        if path.suffix in (".pb", ".tflite") or path.is_dir():
            raise ExplainError(f"{text}: no such model file (explain reads .pb and .tflite "
                               "files, not SavedModel folders)") from None
        raise ExplainError(str(exc).replace("--deeplab-models: ", "")) from None
    if len(selected) != 1:
        raise ExplainError(f"{text!r} names {len(selected)} models; name exactly one "
                           "(`pytest-deeplab list` shows them)")
    model = selected[0]
    from pytest_deeplab.runtime.formats import get_format

    if not get_format(model.format).explainable:
        raise ExplainError(f"{model.name} is a {model.format}; explain reads frozen graphs and "
                           "TF Lite models")
    file = files.path(model)
    from pytest_deeplab.runtime.formats import own_settings

    return ModelRef(model.name, file, model.format, model.input_tensor, model.output_tensor,
                    model.allow_ops, own_settings(model)), model


def _image(args: argparse.Namespace, selection: Selection, spec: Any) -> tuple[Path, Any]:
    from pytest_deeplab.data.images import demo_resize, load_rgb
    from pytest_deeplab.explain.sides import ExplainError

    path = args.image
    if path is None and spec is not None:
        refs = selection.golden_images(spec)
        pairs = selection.labelled_pairs(spec)
        path = refs[0].path if refs else pairs[0][0] if pairs else None
    if path is None:
        raise ExplainError(f"{args.model} has no golden images to default to: give --image PATH")
    # a TF Lite model takes its size from the file (the catalogue's is then None)
    size = args.input_size or (spec.input_size if spec is not None else None) or 513
    return path, demo_resize(load_rgb(path), size)


def _side(label: str, text: str, option: str, args: argparse.Namespace, env: Any,
          pins: Any = ()) -> Any:
    """An interpreter, tox:ENV or requirement spec, resolved (or built) as the gate does."""
    from pytest_deeplab.cli.envs import installer_from_args, store_from_args
    from pytest_deeplab.gate.sides import build_side

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    return build_side(label, text, tuple(pins), option, args.rootdir.resolve(), dict(env),
                      args.threads,
                      store_from_args(args), installer_from_args(args), log)


def _sides(args: argparse.Namespace) -> dict[str, Any]:
    """The two models, the image and the two sides: what tensor and latency explain share."""
    from pytest_deeplab.catalogue.resolved import resolve_selection
    from pytest_deeplab.cli.main import options_from_args
    from pytest_deeplab.fetching.model_files import ModelFiles

    options = options_from_args(args, "all")
    selection, files = resolve_selection(options), ModelFiles(options)
    model_a, spec_a = _resolve(args.model, selection, files, args)
    model_b = _resolve(args.against, selection, files, args)[0] if args.against else model_a
    image_path, image = _image(args, selection, spec_a)
    side_a = _side("A", args.baseline or sys.executable, "--baseline", args, args.env_a,
                   args.with_a)
    side_b = (_side("B", args.candidate, "--candidate", args, args.env_b, args.with_b)
              if args.candidate else replace(side_a, label="B", env=dict(args.env_b)))
    return {"model_a": model_a, "model_b": model_b, "side_a": side_a, "side_b": side_b,
            "image": image, "image_path": Path(image_path).resolve()}


def settings_from_args(args: argparse.Namespace) -> Any:
    from pytest_deeplab.explain.runner import ExplainSettings

    shared = _sides(args)
    return ExplainSettings(
        **shared, tolerance=args.tolerance,
        chunk_mb=args.chunk_mb, attribute=args.attribute, workdir=args.workdir,
        unfused=args.unfused,
    )


def latency_settings_from_args(args: argparse.Namespace) -> Any:
    from pytest_deeplab.explain.latency_attribution import TOLERANCE
    from pytest_deeplab.explain.latency_runner import (
        DEFAULT_RUNS,
        DEFAULT_WARMUP,
        LatencySettings,
    )

    return LatencySettings(
        **_sides(args),
        runs=args.runs if args.runs is not None else DEFAULT_RUNS,
        warmup=args.warmup if args.warmup is not None else DEFAULT_WARMUP,
        xnnpack_a=None if args.xnnpack_a is None else args.xnnpack_a == "on",
        xnnpack_b=None if args.xnnpack_b is None else args.xnnpack_b == "on",
        tolerance=args.explained_tolerance if args.explained_tolerance is not None
        else TOLERANCE, workdir=args.workdir)


def finite(value: Any) -> Any:
    """JSON without NaN or Infinity (they are not JSON): such figures become null."""
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _latency_problem(args: argparse.Namespace) -> str | None:
    if (args.runs is not None and args.runs < 3) or (args.warmup is not None and args.warmup < 0):
        return "--runs must be at least 3 and --warmup at least 0"
    if args.explained_tolerance is not None and not 0 < args.explained_tolerance < 1:
        return "--explained-tolerance must lie between 0 and 1"
    if args.attribute or args.unfused:
        return "--attribute and --unfused compare tensors; they do not go with --latency"
    return None


def run(args: argparse.Namespace) -> int:
    from pytest_deeplab.catalogue.specs import CatalogueError
    from pytest_deeplab.envs.installer import InstallError
    from pytest_deeplab.envs.spec import EnvSpecError
    from pytest_deeplab.explain.render import render_text
    from pytest_deeplab.explain.runner import run_explain
    from pytest_deeplab.explain.sides import ExplainError
    from pytest_deeplab.fetching.fetch import FetchError
    from pytest_deeplab.fetching.trust import UnpinnedModelsError

    if args.tolerance <= 0 or args.chunk_mb <= 0:
        print("pytest-deeplab explain: --tolerance and --chunk-mb must be positive",
              file=sys.stderr)
        return EXIT_ERROR
    if args.latency:
        return run_latency_command(args)
    try:
        explanation = run_explain(settings_from_args(args))
    except (ExplainError, CatalogueError, FetchError, UnpinnedModelsError, FileNotFoundError,
            EnvSpecError, InstallError) as exc:
        print(f"pytest-deeplab explain: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ValueError) as exc:  # an unreadable image, a model file that vanished
        print(f"pytest-deeplab explain: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pytest-deeplab explain: interrupted", file=sys.stderr)
        return EXIT_ERROR
    data = explanation.as_dict()
    print(render_text(data), end="")
    if args.json:
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")
    if args.html:
        from pytest_deeplab.explain.html import write_html

        write_html(data, args.html)
    return EXIT_RAN


def run_latency_command(args: argparse.Namespace) -> int:
    from pytest_deeplab.catalogue.specs import CatalogueError
    from pytest_deeplab.envs.installer import InstallError
    from pytest_deeplab.envs.spec import EnvSpecError
    from pytest_deeplab.explain.latency_render import render_latency_text, write_latency_html
    from pytest_deeplab.explain.latency_runner import run_latency
    from pytest_deeplab.explain.sides import ExplainError
    from pytest_deeplab.fetching.fetch import FetchError

    problem = _latency_problem(args)
    if problem:
        print(f"pytest-deeplab explain: {problem}", file=sys.stderr)
        return EXIT_ERROR
    try:
        data = finite(run_latency(latency_settings_from_args(args)))
    except (ExplainError, CatalogueError, FetchError, FileNotFoundError, EnvSpecError,
            InstallError) as exc:
        print(f"pytest-deeplab explain: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, ValueError) as exc:
        print(f"pytest-deeplab explain: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pytest-deeplab explain: interrupted", file=sys.stderr)
        return EXIT_ERROR
    print(render_latency_text(data), end="")
    if args.json:
        args.json.write_text(json.dumps(data, indent=2), encoding="utf-8")
    if args.html:
        write_latency_html(data, args.html)
    return EXIT_RAN
