"""The machine-readable results file every run leaves in `--deeplab-results-dir`.

One JSON document per job (`deeplab-run-K-of-N.json`; an unsharded run is 1 of 1) holding what
`pytest-deeplab merge` needs to rebuild the whole run's verdict elsewhere: who ran it (the
TensorFlow identity), what was selected and how it was split, every item's outcome, each
model's figures, and the HTML report's records. It is written atomically (a reader sees the
old file or the new one, never half of one) and read back strictly: a file from another schema
or pytest-deeplab version, or a truncated one, is an error naming the file, never merged.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pytest_deeplab import __version__
from pytest_deeplab.errors import DeepLabError
from pytest_deeplab.files import write_text_atomically
from pytest_deeplab.verdicts.record import OUTCOMES, ItemResult

__all__ = ["OUTCOMES", "ItemResult", "ResultsError", "RunResults"]

SCHEMA = "pytest-deeplab-results"
SCHEMA_VERSION = 1
FILE_GLOB = "deeplab-run-*-of-*.json"


class ResultsError(DeepLabError):
    """A results file cannot be used: its message names the file and what to do."""


def results_file_name(index: int, count: int) -> str:
    return f"deeplab-run-{index}-of-{count}.json"


@dataclass
class RunResults:
    """What one pytest run (one shard, or a whole unsharded run) leaves behind."""

    identity: dict[str, Any] | None
    """TensorFlow version/git, oneDNN flag, threads, TF Lite runtime; None when no model ran."""
    selection_spec: str
    selected: list[str]
    shard_index: int
    shard_count: int
    shard_models: list[str]
    costs: dict[str, float]
    """The expected costs the split was planned from (the same in every shard of one run)."""
    exitstatus: int
    items: list[ItemResult]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per model of this shard: {"spec": {...}, "results": {...}} for the summary and report."""
    report: Any = None
    """The HTML report's records (opaque here), or None when no report was recorded."""
    command: str = ""
    project_version: str = __version__
    created: str = field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    path: Path | None = None
    """Where it was read from (not stored)."""

    @property
    def shard_label(self) -> str:
        return f"{self.shard_index}/{self.shard_count}"

    def to_document(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "project_version": self.project_version,
            "created": self.created,
            "command": self.command,
            "identity": _jsonable(self.identity),
            "selection": {"spec": self.selection_spec, "models": list(self.selected)},
            "shard": {"index": self.shard_index, "count": self.shard_count,
                      "models": list(self.shard_models), "costs": _jsonable(self.costs)},
            "exitstatus": self.exitstatus,
            "items": [_jsonable({
                "nodeid": i.nodeid, "outcome": i.outcome, "duration": i.duration,
                "longrepr": i.longrepr, "message": i.message, "when": i.when,
                "user_properties": [[str(n), v] for n, v in i.user_properties],
            }) for i in self.items],
            "models": _jsonable(self.models),
            "report": _jsonable(self.report),
        }


def _jsonable(value: Any) -> Any:
    """Plain JSON: NaN and infinities become null (strict JSON has none), tuples become lists,
    keys become strings, anything else is written as its str() (as pytest's JUnit XML does)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def write_results(results: RunResults, directory: Path) -> Path:
    """Write `deeplab-run-K-of-N.json` into `directory` atomically; returns its path."""
    path = Path(directory) / results_file_name(results.shard_index, results.shard_count)
    return write_text_atomically(path, json.dumps(results.to_document(), indent=1,
                                                  allow_nan=False) + "\n")



def read_results(path: Path, project_version: str = __version__) -> RunResults:
    """Read and check one results file (schema and pytest-deeplab version must match ours)."""
    path = Path(path)
    rerun = "re-run that shard, or download its results again if the copy was cut short"
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ResultsError(f"{path}: not a pytest-deeplab results file (not UTF-8 text)") from None
    except OSError as exc:
        raise ResultsError(f"{path}: cannot read the results file ({exc.strerror})") from None
    if not text.strip():
        raise ResultsError(f"{path}: the results file is empty; {rerun}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        stripped = text.strip()  # a results file is one object: "{" ... "}"
        cut = stripped.startswith("{") and (not stripped.endswith("}")
                                            or exc.pos >= len(text.rstrip()))
        what = "ends in the middle of its JSON (truncated)" if cut else "is not valid JSON"
        raise ResultsError(
            f"{path}: the results file {what}: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno}; {rerun}"
        ) from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise ResultsError(
            f"{path}: not a pytest-deeplab results file (no \"schema\": \"{SCHEMA}\"); "
            f"merge only the {FILE_GLOB} files that runs write into --deeplab-results-dir"
        )
    version = document.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: results schema version {version!r}, but this pytest-deeplab reads version "
            f"{SCHEMA_VERSION}; merge with the pytest-deeplab version that ran the shards"
        )
    written_by = document.get("project_version")
    if written_by != project_version:
        raise ResultsError(
            f"{path}: written by pytest-deeplab {written_by}, but this is pytest-deeplab "
            f"{project_version}; shards and merge must use one version: install "
            f"pytest-deeplab=={written_by} for the merge, or re-run every shard with "
            f"{project_version}"
        )
    try:
        return _from_document(document, path)
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ResultsError(f"{path}: malformed results file ({detail}); {rerun}") from None


def _typed(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{where} has the wrong type ({type(value).__name__})")
    return value


def _names(value: Any, where: str) -> list[str]:
    return [_typed(name, str, f"{where}[{i}]") for i, name in enumerate(_typed(value, list, where))]


def _item(data: Any, where: str) -> ItemResult:
    _typed(data, dict, where)
    outcome = _typed(data["outcome"], str, f"{where}.outcome")
    if outcome not in OUTCOMES:
        raise ValueError(f"{where}.outcome is {outcome!r}, not one of {', '.join(OUTCOMES)}")
    properties = [
        (_typed(p, list, f"{where}.user_properties")[0], p[1])
        for p in _typed(data.get("user_properties", []), list, f"{where}.user_properties")
    ]
    return ItemResult(
        nodeid=_typed(data["nodeid"], str, f"{where}.nodeid"),
        outcome=outcome,
        duration=float(_typed(data.get("duration", 0.0), (int, float), f"{where}.duration")),
        longrepr=_typed(data.get("longrepr", ""), str, f"{where}.longrepr"),
        message=_typed(data.get("message", ""), str, f"{where}.message"),
        when=_typed(data.get("when", ""), str, f"{where}.when"),
        user_properties=properties,
    )


def _from_document(document: dict[str, Any], path: Path) -> RunResults:
    selection = _typed(document["selection"], dict, "selection")
    shard = _typed(document["shard"], dict, "shard")
    index = _typed(shard["index"], int, "shard.index")
    count = _typed(shard["count"], int, "shard.count")
    if not 1 <= index <= count:
        raise ValueError(f"shard {index}/{count} is not a shard (1 <= K <= N)")
    identity = document.get("identity")
    costs = _typed(shard.get("costs", {}), dict, "shard.costs")
    return RunResults(
        identity=None if identity is None else _typed(identity, dict, "identity"),
        selection_spec=_typed(selection["spec"], str, "selection.spec"),
        selected=_names(selection["models"], "selection.models"),
        shard_index=index,
        shard_count=count,
        shard_models=_names(shard["models"], "shard.models"),
        costs={name: float(_typed(c, (int, float), f"shard.costs[{name!r}]"))
               for name, c in costs.items()},
        exitstatus=_typed(document["exitstatus"], int, "exitstatus"),
        items=[_item(item, f"items[{i}]")
               for i, item in enumerate(_typed(document["items"], list, "items"))],
        models=_typed(document.get("models", {}), dict, "models"),
        report=document.get("report"),
        command=_typed(document.get("command", ""), str, "command"),
        project_version=str(document["project_version"]),
        created=_typed(document.get("created", ""), str, "created"),
        path=path,
    )
