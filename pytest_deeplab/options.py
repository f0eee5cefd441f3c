"""Command-line options and ini keys, and their resolution into one settings object.

Kept apart from the hooks so the `pytest-deeplab` command, the gate and its workers build their
settings with the same `build_options` as pytest does (the same defaults, the same ini keys).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_deeplab.shards.plan import Shard

from pytest_deeplab.constants import CACHE_ENV, GOLDEN_DIR_DEFAULT, RESULTS_DIR_DEFAULT
from pytest_deeplab.errors import DeepLabError


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
        "--deeplab-require-pins",
        action="store_true",
        default=False,
        help="refuse to run (usage error) when a selected model fetched from a URL or mirror has "
        "neither a published checksum nor a pin in deeplab-zoo.lock, instead of trusting it on "
        "first use (ini: deeplab_require_pins)",
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
        help=f"where diff images and this run's results file deeplab-run-K-of-N.json are "
        f"written (default: <rootdir>/{RESULTS_DIR_DEFAULT})",
    )
    group.addoption(
        "--deeplab-shard",
        metavar="K/N",
        default=None,
        help="run only shard K of N (1-based) of the selected models, split by expected cost "
        "(multiply-adds x images); each shard writes its results file for `pytest-deeplab merge`",
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
    parser.addini("deeplab_require_pins", "default for --deeplab-require-pins", type="bool",
                  default=False)


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
    require_pins: bool = False  # no trust on first use: every fetched model pinned or checksummed
    config_file: Path | None = None
    results_dir: Path = Path(RESULTS_DIR_DEFAULT)
    threads: int | None = None
    report: Path | None = None
    report_cards: bool = False
    xnnpack: bool = True  # False with --deeplab-no-xnnpack
    shard: Shard | None = None  # --deeplab-shard=K/N (pytest only; None runs every model)

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
    config_file = opt("deeplab_config")
    options = build_options(
        root,
        opt("deeplab_models") if opt("deeplab_models") is not None else ini("deeplab_models"),
        golden_dir=opt("deeplab_golden_dir") or ini("deeplab_golden_dir") or GOLDEN_DIR_DEFAULT,
        cache_dir=opt("deeplab_cache_dir"),
        mirrors=[*opt("deeplab_mirror"), *(config.getini("deeplab_mirrors") or [])],
        offline=bool(opt("deeplab_offline")),
        update_lock=bool(opt("deeplab_update_lock")),
        require_pins=bool(opt("deeplab_require_pins") or config.getini("deeplab_require_pins")),
        config_file=rooted(config_file, "") if config_file else None,
        threads=int(threads) if threads else None,
    )
    options.update_golden = opt("deeplab_update_golden")
    options.models_from_ini = opt("deeplab_models") is None and ini("deeplab_models") is not None
    options.prune_golden = bool(opt("deeplab_prune_golden"))
    options.allow_missing = bool(opt("deeplab_allow_missing"))
    options.results_dir = rooted(opt("deeplab_results_dir"), RESULTS_DIR_DEFAULT)
    if opt("deeplab_report"):  # like --junitxml: relative to where pytest was started
        report = Path(opt("deeplab_report")).expanduser()
        options.report = Path(config.invocation_params.dir) / report
    options.report_cards = bool(opt("deeplab_report_cards"))
    options.xnnpack = not opt("deeplab_no_xnnpack")
    if opt("deeplab_shard") is not None:  # a bad K/N is a usage error before anything runs
        from pytest_deeplab.shards.plan import ShardSpecError, parse_shard

        try:
            options.shard = parse_shard(opt("deeplab_shard"))
        except ShardSpecError as exc:
            raise pytest.UsageError(str(exc)) from None
    return options


def build_options(
    rootdir: Path,
    models: str | None,
    *,
    golden_dir: str | Path | None = None,
    cache_dir: str | Path | None = None,
    mirrors: list[str] | tuple[str, ...] = (),
    offline: bool = False,
    update_lock: bool = False,
    require_pins: bool | None = None,
    config_file: Path | None = None,
    threads: int | None = None,
) -> DeepLabOptions:
    """The one place settings are made, for pytest, the CLI, the gate and its workers.

    Unset values take the same defaults everywhere: the golden dir from the project's
    `deeplab_golden_dir` ini key (pytest's configuration files) else `deeplab-golden`, relative
    to the rootdir; the cache from `PYTEST_DEEPLAB_CACHE`, else the platform's cache;
    require_pins from the `deeplab_require_pins` ini key, else off.
    """
    rootdir = Path(rootdir)
    golden = Path(golden_dir or project_ini(rootdir).get("deeplab_golden_dir")
                  or GOLDEN_DIR_DEFAULT).expanduser()
    cache = Path(cache_dir).expanduser() if cache_dir else env_cache_dir()
    if require_pins is None:
        require_pins = ini_bool(project_ini(rootdir), "deeplab_require_pins")
    return DeepLabOptions(
        rootdir=rootdir,
        models=models,
        update_golden=None,
        golden_dir=golden if golden.is_absolute() else rootdir / golden,
        cache_dir=cache,
        mirrors=list(mirrors),
        offline=offline,
        update_lock=update_lock,
        require_pins=require_pins,
        config_file=config_file,
        results_dir=rootdir / RESULTS_DIR_DEFAULT,
        threads=threads,
    )


TRUE_WORDS = ("y", "yes", "t", "true", "on", "1")
FALSE_WORDS = ("n", "no", "f", "false", "off", "0", "")


def ini_bool(ini: dict[str, str], key: str) -> bool:
    """A bool ini value read as pytest reads it (yes/no, true/false, on/off, 1/0); anything else
    is an error naming the key, not a silent default."""
    word = ini.get(key, "").strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise OptionsError(f"ini key {key} = {ini[key]!r} is not a bool: use true or false")


class OptionsError(DeepLabError, ValueError):
    """A setting read outside pytest (the CLI, the gate) that cannot be understood."""


def env_cache_dir() -> Path | None:
    """The model cache named by `PYTEST_DEEPLAB_CACHE` (read here and nowhere else)."""
    value = os.environ.get(CACHE_ENV)
    return Path(value).expanduser() if value else None


def project_ini(rootdir: Path) -> dict[str, str]:
    """pytest's ini values of the project in `rootdir` (pytest.ini, pyproject.toml's
    [tool.pytest.ini_options], tox.ini [pytest], setup.cfg [tool:pytest]; the first that has a
    pytest section wins, as in pytest), for commands that run outside pytest."""
    import configparser
    import tomllib

    for name in ("pytest.ini", ".pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg"):
        path = rootdir / name
        if not path.is_file():
            continue
        try:
            if name == "pyproject.toml":
                table = tomllib.loads(path.read_text(encoding="utf-8"))
                section = table.get("tool", {}).get("pytest", {}).get("ini_options")
                if section is not None:
                    return {k: str(v) for k, v in section.items()}
                continue
            parser = configparser.ConfigParser(interpolation=None)
            parser.read(path, encoding="utf-8")
        except (OSError, ValueError, configparser.Error):
            continue
        key = {"setup.cfg": "tool:pytest"}.get(name, "pytest")
        if parser.has_section(key):
            return dict(parser.items(key))
        if name in ("pytest.ini", ".pytest.ini"):
            return {}  # pytest.ini is the configuration even without a [pytest] section
    return {}
