"""User configuration: `[tool.pytest-deeplab]` in pyproject.toml or a `--deeplab-config` file.

Every key is checked against the known ones: a misspelt `min_mIOU` silently ignored would turn a
gate into a rubber stamp, so unknown keys are errors that name the file and suggest the key meant.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Mapping, MutableMapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from pytest_deeplab.catalogue.specs import (
    CatalogueError,
    DatasetSpec,
    ModelSpec,
    ZooFacts,
    validate_label_set,
)
from pytest_deeplab.data.labelsets import label_set_mismatch
from pytest_deeplab.runtime.formats import format_names, get_format, guess_format

TOP_KEYS = {"models", "datasets"}
DATASET_KEYS = {"images", "labels", "label_suffix", "label_set"}
MODEL_KEYS = {
    "path",
    "allow_ops",
    "url",
    "sha256",
    "format",
    "member",
    "dataset",
    "golden_images",
    "input_size",
    "label_set",
    "min_miou",
    "min_iou_per_class",
    "min_agreement",
    "min_class_iou",
    "input_tensor",
    "output_tensor",
    "resize",
    "xnnpack",
    "normalize",
    "multiply_adds",
}


class ConfigError(CatalogueError):
    """The configuration file is malformed or names something that does not exist."""


def load_config_file(path: Path) -> dict[str, Any]:
    """Read the pytest-deeplab tables of a TOML file (`[tool.pytest-deeplab]` or top level)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such configuration file (--deeplab-config)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc}); TOML files are UTF-8") from None
    except OSError as exc:  # a directory, no permission
        raise ConfigError(f"{path}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    tool = data.get("tool", {})
    table = tool.get("pytest-deeplab") if isinstance(tool, dict) else None
    if table is None and path.name != "pyproject.toml":
        table = {k: v for k, v in data.items() if k in TOP_KEYS} or data
    if not isinstance(table, (dict, type(None))):
        raise ConfigError(
            f"{path}: [tool.pytest-deeplab] must be a table (with [tool.pytest-deeplab.models.NAME]"
            f" and [tool.pytest-deeplab.datasets.NAME] tables), not {type(table).__name__} "
            f"{table!r}"
        )
    table = dict(table or {})
    table["__file__"] = str(path)
    return table


def apply_user_config(
    config: Mapping[str, Any],
    base_dir: Path,
    models: MutableMapping[str, ModelSpec],
    datasets: MutableMapping[str, DatasetSpec],
) -> None:
    """Add the user's datasets and models (or override settings of known ones) in place."""
    source = str(config.get("__file__", "configuration"))
    _check_keys(
        {k for k in config if k != "__file__"}, TOP_KEYS, f"{source}: [tool.pytest-deeplab]"
    )
    for name, entry in _tables(config.get("datasets", {}), source, "datasets").items():
        datasets[name] = _dataset(name, entry, base_dir, f"{source}: [datasets.{name}]")
    for name, entry in _tables(config.get("models", {}), source, "models").items():
        where = f"{source}: [models.{name}]"
        model = _model(name, entry, base_dir, models.get(name), where, datasets)
        dataset = datasets.get(model.dataset or "")
        problem = label_set_mismatch(model, dataset) if dataset else ""
        if problem:
            raise ConfigError(f"{where}: {problem}")
        models[name] = model


def _tables(value: Any, source: str, what: str) -> dict[str, dict[str, Any]]:
    if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
        raise ConfigError(
            f"{source}: [{what}] must hold one table per name, "
            f"e.g. [tool.pytest-deeplab.{what}.NAME]"
        )
    return value


def _check_keys(keys: set[str], allowed: set[str], where: str) -> None:
    for key in sorted(keys - allowed):
        close = difflib.get_close_matches(key, sorted(allowed), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(
            f"{where}: unknown key {key!r}{hint}. Known keys: {', '.join(sorted(allowed))}"
        )


def _dataset(name: str, entry: dict[str, Any], base: Path, where: str) -> DatasetSpec:
    _check_keys(set(entry), DATASET_KEYS, where)
    if "images" not in entry:
        raise ConfigError(f"{where}: 'images' (a directory of *.jpg / *.png) is required")
    _check_strings(entry, ("images", "labels", "label_suffix"), where)
    return DatasetSpec(
        name=name,
        images=_path(entry["images"], base),
        labels=_path(entry["labels"], base) if entry.get("labels") else None,
        label_suffix=str(entry.get("label_suffix", "")),
        label_set=validate_label_set(entry.get("label_set", "pascal"), where),
        source="user",
    )


def _model(
    name: str,
    entry: dict[str, Any],
    base: Path,
    known: ModelSpec | None,
    where: str,
    datasets: Mapping[str, DatasetSpec],
) -> ModelSpec:
    _check_keys(set(entry), MODEL_KEYS, where)
    _check_strings(entry, ("path", "url", "sha256", "format", "member", "dataset",
                           "golden_images", "input_tensor", "output_tensor"), where)
    changes: dict[str, Any] = {}
    for key in ("dataset", "input_tensor", "output_tensor", "member", "sha256", "url"):
        if key in entry:
            changes[key] = str(entry[key])
    for key in ("min_miou", "min_agreement", "min_class_iou"):
        if key in entry:
            changes[key] = _fraction(entry[key], key, where)
    if "min_iou_per_class" in entry:
        table = entry["min_iou_per_class"]
        if not isinstance(table, dict):
            raise ConfigError(
                f"{where}: min_iou_per_class must be a table, e.g. {{aeroplane = 0.85}}"
            )
        changes["min_iou_per_class"] = {str(k): _fraction(v, k, where) for k, v in table.items()}
    if "input_size" in entry:
        size = entry["input_size"]
        if not isinstance(size, int) or size < 16:
            raise ConfigError(f"{where}: input_size must be a whole number of pixels (e.g. 513)")
        changes["input_size"] = size
    if "label_set" in entry:
        changes["label_set"] = validate_label_set(entry["label_set"], where)
    if "format" in entry:
        if entry["format"] not in format_names():
            raise ConfigError(f"{where}: format must be one of {', '.join(format_names())}")
        changes["format"] = entry["format"]
    if "path" in entry:
        changes["path"] = _path(entry["path"], base)
    if "golden_images" in entry:
        changes["golden_images"] = _path(entry["golden_images"], base)
    changes.update(_format_settings(entry, where))
    if "allow_ops" in entry:
        changes["allow_ops"] = _op_names(entry["allow_ops"], where)
    if "multiply_adds" in entry:  # one inference's cost (`pytest-deeplab inspect`): for shards
        madds = entry["multiply_adds"]
        if isinstance(madds, bool) or not isinstance(madds, (int, float)) or not madds > 0:
            raise ConfigError(f"{where}: multiply_adds must be a number above 0 (multiply-adds "
                              f"of one inference, e.g. 5.4e10), got {madds!r}")
        facts = known.facts if known is not None else ZooFacts()
        changes["facts"] = replace(facts, multiply_adds=float(madds), multiply_adds_note="")
    if known is not None:
        return _format_only(replace(known, **changes), entry, where)
    if "path" not in changes and "url" not in changes:
        raise ConfigError(f"{where}: a new model needs 'path' (a local file) or 'url' (+ 'sha256')")
    fmt = changes.pop("format", guess_format(changes.get("path") or changes.get("url")))
    dataset = datasets.get(str(changes.get("dataset", "")))
    return _format_only(ModelSpec(
        name=name,
        format=fmt,
        # Without a label_set of its own a model takes its dataset's; pascal only when neither.
        label_set=changes.pop("label_set", dataset.label_set if dataset else "pascal"),
        # TF Lite: unset means the input size the model file declares.
        input_size=changes.pop("input_size", None if get_format(fmt).size_from_file else 513),
        source="user",
        **changes,
    ), entry, where)


def _format_settings(entry: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Each format reads and checks its own keys (runtime.formats: `own_keys`, `read_settings`);
    which format may carry them is `_format_only`'s question."""
    changes: dict[str, Any] = {}
    for name in format_names():
        try:
            changes.update(get_format(name).read_settings(entry))
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return changes


def _format_only(model: ModelSpec, entry: Mapping[str, Any], where: str) -> ModelSpec:
    """Keys that mean something for some formats only (resize, xnnpack: TF Lite) are errors
    elsewhere, not silently ignored settings."""
    fmt = get_format(model.format)
    others = {key for name in format_names() for key in get_format(name).own_keys}
    given = [key for key in sorted(others - set(fmt.own_keys)) if key in entry]
    if given:
        owners = sorted({name for name in format_names()
                         if set(given) & set(get_format(name).own_keys)})
        raise ConfigError(
            f"{where}: {' and '.join(given)} appl{'y' if len(given) > 1 else 'ies'} to "
            f"{' and '.join(get_format(o).label for o in owners)} models only "
            f"(format = \"{owners[0]}\"); "
            f"this model is a {model.format}"
            + (" (a frozen graph pads images inside itself and runs without XNNPACK)"
               if not fmt.own_keys else "")
        )
    return model


def _op_names(value: Any, where: str) -> tuple[str, ...]:
    """`allow_ops = ["Op", ...]`: names only, so one model's exception cannot be a wildcard."""
    if not isinstance(value, list) or not all(
        isinstance(op, str) and op.replace("_", "").replace("-", "").isalnum() for op in value
    ):
        raise ConfigError(
            f"{where}: allow_ops must be a list of op names, e.g. allow_ops = [\"FlexAddV2\"] "
            f"(each name exactly as the refusal message gives it), got {value!r}"
        )
    return tuple(sorted(set(value)))


def _check_strings(entry: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    """Paths, names and URLs must be TOML strings: `path = ["a.pb"]` would otherwise become the
    file "['a.pb']" and fail later with a confusing "does not exist"."""
    for key in keys:
        if key in entry and not isinstance(entry[key], str):
            raise ConfigError(
                f"{where}: {key} must be a string (in quotes), got {type(entry[key]).__name__} "
                f"{entry[key]!r}"
            )


def _fraction(value: Any, key: str, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(f"{where}: {key} must be a number between 0 and 1, got {value!r}")
    return float(value)


def _path(value: Any, base: Path) -> Path:
    path = Path(str(value)).expanduser()
    return path if path.is_absolute() else (base / path).resolve()
