"""Command-line options and ini keys, and their resolution into one settings object.

Kept apart from the hooks so the `pytest-deeplab` command can share the same option helpers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

GOLDEN_DIR_DEFAULT = "deeplab-golden"
RESULTS_DIR_DEFAULT = "deeplab-results"


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("deeplab", "DeepLab model regression suite (pytest-deeplab)")
    group.addoption(
        "--deeplab-models",
        metavar="SPEC",
        default=None,
        help="models to test: all | bundled | official | user | comma-separated names or globs "
        "(ini: deeplab_models). Nothing is collected when unset.",
    )
    group.addoption(
        "--deeplab-update-golden",
        nargs="?",
        const="yes",
        default=None,
        metavar="force",
        help="write or refresh golden masks (refused when CI is set, unless =force)",
    )
    group.addoption(
        "--deeplab-prune-golden",
        action="store_true",
        default=False,
        help="delete goldens no selected item uses (only after a complete, unfiltered run)",
    )
    group.addoption(
        "--deeplab-golden-dir",
        metavar="DIR",
        default=None,
        help=f"where golden masks live (ini: deeplab_golden_dir; "
        f"default: <rootdir>/{GOLDEN_DIR_DEFAULT})",
    )
    group.addoption(
        "--deeplab-cache-dir",
        metavar="DIR",
        default=None,
        help="model cache (env PYTEST_DEEPLAB_CACHE; default: the platform cache dir)",
    )
    group.addoption(
        "--deeplab-mirror",
        metavar="URL|DIR",
        action="append",
        default=[],
        help="a URL prefix or directory laid out like download.tensorflow.org/models/;"
        " repeatable, tried in order (ini: deeplab_mirrors)",
    )
    group.addoption(
        "--deeplab-offline",
        action="store_true",
        default=False,
        help="never touch the network: cache and local mirrors only",
    )
    group.addoption(
        "--deeplab-allow-missing",
        action="store_true",
        default=False,
        help="skip (instead of erroring on) models that cannot be had",
    )
    group.addoption(
        "--deeplab-update-lock",
        action="store_true",
        default=False,
        help="accept archives whose checksum differs from deeplab-zoo.lock",
    )
    group.addoption(
        "--deeplab-config",
        metavar="FILE",
        default=None,
        help="TOML with [tool.pytest-deeplab] tables (default: the rootdir's pyproject.toml)",
    )
    group.addoption(
        "--deeplab-results-dir",
        metavar="DIR",
        default=None,
        help=f"where diff images are written (default: <rootdir>/{RESULTS_DIR_DEFAULT})",
    )
    group.addoption(
        "--deeplab-threads",
        metavar="N",
        type=int,
        default=None,
        help="TensorFlow intra-op threads (inter-op is then 1); recorded with results"
        " (ini: deeplab_threads)",
    )
    group.addoption(
        "--deeplab-no-xnnpack",
        action="store_true",
        default=False,
        help="run every TF Lite model without the XNNPACK delegate (TF Lite's op resolver "
        "BUILTIN_WITHOUT_DEFAULT_DELEGATES); it changes numerics and speed and is recorded with "
        "goldens and benchmarks. Per model: xnnpack = false in its table",
    )
    group.addoption(
        "--deeplab-report",
        metavar="FILE.html",
        default=None,
        help="write a self-contained HTML report: per model and golden image the input, ground "
        "truth, golden and current masks and a diff overlay, with agreement, per-class IoU, "
        "mIOU and latency; failures first (needs Jinja2, a dependency)",
    )
    group.addoption(
        "--deeplab-report-cards",
        action="store_true",
        default=False,
        help="measure each model's card for the report from its graph (multiply-adds, output "
        "stride, ASPP, decoder; seconds per model); without it the catalogue's figures show",
    )
    parser.addini("deeplab_models", "default for --deeplab-models", default=None)
    parser.addini("deeplab_golden_dir", "default for --deeplab-golden-dir", default=None)
    parser.addini("deeplab_mirrors", "mirrors tried in order", type="linelist", default=[])
    parser.addini("deeplab_threads", "default for --deeplab-threads", default=None)


@dataclass
class DeepLabOptions:
    """Every setting the suite uses, resolved from options, ini, environment and rootdir."""

    rootdir: Path
    models: str | None
    update_golden: str | None
    golden_dir: Path
    cache_dir: Path | None
    mirrors: list[str] = field(default_factory=list)
    offline: bool = False
    prune_golden: bool = False
    models_from_ini: bool = False
    allow_missing: bool = False
    update_lock: bool = False
    config_file: Path | None = None
    results_dir: Path = Path(RESULTS_DIR_DEFAULT)
    threads: int | None = None
    report: Path | None = None
    report_cards: bool = False
    xnnpack: bool = True  # False with --deeplab-no-xnnpack

    @property
    def in_ci(self) -> bool:
        return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def resolve_options(config: pytest.Config) -> DeepLabOptions:
    root = Path(config.rootpath)

    def opt(name: str) -> Any:
        return config.getoption(name)

    def ini(name: str) -> Any:
        value = config.getini(name)
        return value or None

    def rooted(value: str | None, default: str) -> Path:
        path = Path(value or default).expanduser()
        return path if path.is_absolute() else root / path

    threads = opt("deeplab_threads") or ini("deeplab_threads")
    cache = opt("deeplab_cache_dir") or os.environ.get("PYTEST_DEEPLAB_CACHE")
    config_file = opt("deeplab_config")
    return DeepLabOptions(
        rootdir=root,
        models=opt("deeplab_models")
        if opt("deeplab_models") is not None
        else ini("deeplab_models"),
        update_golden=opt("deeplab_update_golden"),
        golden_dir=rooted(
            opt("deeplab_golden_dir") or ini("deeplab_golden_dir"), GOLDEN_DIR_DEFAULT
        ),
        cache_dir=Path(cache).expanduser() if cache else None,
        mirrors=[*opt("deeplab_mirror"), *(config.getini("deeplab_mirrors") or [])],
        offline=bool(opt("deeplab_offline")),
        models_from_ini=opt("deeplab_models") is None and ini("deeplab_models") is not None,
        prune_golden=bool(opt("deeplab_prune_golden")),
        allow_missing=bool(opt("deeplab_allow_missing")),
        update_lock=bool(opt("deeplab_update_lock")),
        config_file=rooted(config_file, "") if config_file else None,
        results_dir=rooted(opt("deeplab_results_dir"), RESULTS_DIR_DEFAULT),
        threads=int(threads) if threads else None,
        report=(  # like --junitxml: relative to where pytest was started
            Path(config.invocation_params.dir) / Path(opt("deeplab_report")).expanduser()
            if opt("deeplab_report") else None
        ),
        report_cards=bool(opt("deeplab_report_cards")),
        xnnpack=not opt("deeplab_no_xnnpack"),
    )
