"""The Keras format's allowlist check: a .keras file's config.json read as data, never run.

A `.keras` zip holds config.json (nested serialized objects), metadata.json and the weights.
Loading imports the module each object names, and a Lambda layer carries bytecode: the file is
a program. So config.json is read here with zipfile and json alone (no Keras, no TensorFlow),
every serialized object in the whole tree is listed with the layer that holds it and held against
`keras_allowlist.txt`, and only a file without findings may reach Keras.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.safety.findings import OpUse, SafetyReport, UnsafeModelError

ALLOWLIST_FILE = Path(__file__).with_name("keras_allowlist.txt")
MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
MAX_CONFIG_BYTES = 64 * 1024 * 1024  # a DeepLab's config is ~0.2 MB; more is not a model
FIX = ("Rebuild the model from built-in Keras layers (Rescaling, Resizing, Activation, ... "
       "instead of Lambda or custom layers) and save it again with model.save(\"NAME.keras\"); "
       "the plugin never loads a .keras file with safe_mode off.")
ACTIVATION_KEYS = ("activation", "recurrent_activation")


@dataclass(frozen=True)
class KerasObject:
    """One serialized object of a config: what Keras would import and build, and where."""

    class_name: str
    module: str | None
    registered_name: str | None
    where: str  # the layer path, e.g. "model/decoder/conv1"
    key: str  # where in that layer's config, e.g. "config.kernel_initializer"
    function: str | None = None  # for class_name "function" and activations given by name

    @property
    def op(self) -> str:
        return f"function {self.function}" if self.function is not None else self.class_name


@dataclass(frozen=True)
class Finding:
    """Something in a .keras file that is refused: which object (op), where, and why."""

    op: str
    where: str
    reason: str
    allowable: bool = False  # a built-in Keras class off the list: a model's allow_ops may name it

    def as_record(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.op} at {self.where}: {self.reason}"


@cache
def load_allowlist(path: Path = ALLOWLIST_FILE) -> dict[str, frozenset[str]]:
    """The [modules], [classes], [functions] and [markers] sections of the allowlist file."""
    sections: dict[str, set[str]] = {}
    current: set[str] | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], set())
        elif line and current is not None:
            current.add(line)
    return {s: frozenset(sections.get(s, ())) for s in ("modules", "classes", "functions",
                                                         "markers")}


# -- reading the file as data (no Keras) -------------------------------------------------------

def read_config(path: Path) -> tuple[dict[str, Any], list[Finding]]:
    """config.json of a .keras zip, and findings about the zip's members. Raises ModelLoadError
    when the file is not a readable .keras zip at all."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ModelLoadError(f"{path}: not a Keras 3 .keras file (a zip archive): {exc}. Save "
                             "the model with model.save(\"NAME.keras\").") from None
    with archive:
        names = [info.filename for info in archive.infolist()]
        findings = [Finding("zip member", name, "a .keras file holds only "
                            f"{', '.join(MEMBERS)}; other members are refused")
                    for name in sorted(set(names) - set(MEMBERS))]
        findings += [Finding("zip member", name, "appears more than once in the zip")
                     for name in sorted({n for n in names if names.count(n) > 1})]
        if "config.json" not in names:
            raise ModelLoadError(f"{path}: no config.json in the zip, so not a Keras 3 .keras "
                                 "file (a Keras 2 .h5 or a SavedModel? save it with Keras 3)")
        if archive.getinfo("config.json").file_size > MAX_CONFIG_BYTES:
            raise ModelLoadError(f"{path}: config.json is over {MAX_CONFIG_BYTES} bytes")
        try:
            config = json.loads(archive.read("config.json"))
        except (ValueError, zipfile.BadZipFile, OSError) as exc:
            raise ModelLoadError(f"{path}: config.json cannot be read as JSON: {exc}") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{path}: config.json is not a serialized Keras model")
    return config, findings


def list_objects(config: Any, where: str = "", key: str = "") -> Iterator[KerasObject]:
    """Every serialized object in the tree: each dict with `class_name`, at any depth, and the
    activations named by string. `where` grows by a layer's name inside a `layers` list."""
    if isinstance(config, list):
        for i, item in enumerate(config):
            yield from list_objects(item, where, f"{key}[{i}]")
        return
    if not isinstance(config, dict):
        return
    if "class_name" in config:
        inner = config.get("config")
        function = inner if config["class_name"] == "function" and isinstance(inner, str) else None
        module, registered = (config.get(k) for k in ("module", "registered_name"))
        yield KerasObject(str(config["class_name"]), None if module is None else str(module),
                          None if registered is None else str(registered), where or "(model)",
                          key or "(root)", function)
    for name, value in config.items():
        child = f"{key}.{name}" if key else str(name)
        if name == "layers" and isinstance(value, list):
            for i, layer in enumerate(value):
                layer_name = _layer_name(layer, i)
                yield from list_objects(layer, f"{where}/{layer_name}" if where else layer_name)
        elif name in ACTIVATION_KEYS and isinstance(value, str):
            yield KerasObject("function", "keras.activations", None, where or "(model)", child,
                              value)
        else:
            yield from list_objects(value, where, child)


def _layer_name(layer: Any, index: int) -> str:
    inner = layer.get("config") if isinstance(layer, dict) else None
    name = inner.get("name") if isinstance(inner, dict) else None
    return str(name) if name else f"layers[{index}]"


def object_findings(obj: KerasObject, allow: dict[str, frozenset[str]]) -> list[Finding]:
    """Why one object is refused (an empty list when it is allowed)."""
    where = f"layer {obj.where}" + ("" if obj.key == "(root)" else f", {obj.key}")
    if obj.class_name == "Lambda":
        return [Finding("Lambda", where, f"Lambda layer {obj.where.rsplit('/', 1)[-1]!r} holds "
                        "Python bytecode that would run when the model loads")]
    if obj.class_name == "__lambda__":
        return [Finding("__lambda__", where, "a Python lambda (bytecode) that would run on load")]
    if obj.class_name.startswith("__"):
        if obj.class_name not in allow["markers"] or obj.module is not None:
            return [Finding(obj.class_name, where, "not a plain-data marker of Keras' serializer "
                            "(e.g. __typespec__ imports the module its config names)")]
        return []
    found: list[Finding] = []
    if obj.registered_name and ">" in obj.registered_name:
        found.append(Finding(obj.op, where, f"registered_name {obj.registered_name!r} names a "
                             "custom object of a package, not a built-in Keras one"))
    elif obj.registered_name not in (None, obj.class_name, obj.function):
        found.append(Finding(obj.op, where, f"registered_name {obj.registered_name!r} differs "
                             "from the built-in class's name"))
    if obj.class_name == "function":
        if obj.module not in allow["modules"] | {"builtins"}:
            found.append(Finding(obj.op, where, f"module {obj.module!r} is not Keras' own"))
        if obj.function not in allow["functions"]:
            found.append(Finding(obj.op, where, "not a built-in Keras activation on the "
                                 "allowlist"))
        return found
    if obj.module not in allow["modules"]:
        found.append(Finding(obj.op, where, f"module {obj.module!r} is outside Keras' built-in "
                             "namespaces; loading would import it"))
    if obj.class_name not in allow["classes"]:
        found.append(Finding(obj.op, where, "not a built-in pure-computation class on the "
                             f"allowlist ({ALLOWLIST_FILE.name})", allowable=not found))
    return found


def keras_findings(path: Path, allow_ops: Sequence[str] = ()) -> list[Finding]:
    """What the allowlist refuses; the model's `allow_ops` let built-in classes off the list
    through, never a Lambda, a foreign module, a custom registered name or a stray zip member."""
    return _judge(path, allow_ops)[1]


def keras_report(path: Path, allow_ops: Sequence[str] = ()) -> SafetyReport:
    """The verdict in runtime.safety's form: every object counted by op, the refused ones."""
    return _judge(path, allow_ops)[0]


def _judge(path: Path, allow_ops: Sequence[str]) -> tuple[SafetyReport, list[Finding]]:
    config, findings = read_config(path)
    allow = load_allowlist()
    objects = list(list_objects(config))
    for obj in objects:
        findings.extend(f for f in object_findings(obj, allow)
                        if not (f.allowable and f.op in allow_ops))
    report = SafetyReport(path=str(path), format="keras", ops=Counter(o.op for o in objects))
    report.refused = [OpUse(f.op, f"{f.where}: {f.reason}") for f in findings]
    report.allowed_by_model = sorted({o.op for o in objects} & set(allow_ops))
    return report, findings


class KerasRefusedError(UnsafeModelError):
    """A .keras file refused by its config check; the message names each object and the fix."""

    def __init__(self, report: SafetyReport, findings: list[Finding], name: str) -> None:
        self.report, self.findings = report, findings
        shown = "\n".join(f"  - {f}" for f in findings[:20])
        more = f"\n  ... and {len(findings) - 20} more" if len(findings) > 20 else ""
        allowable = sorted({f.op for f in findings if f.allowable})
        hint = (f"\nIf you trust this file, built-in classes off the list can be allowed for this "
                f"model only: allow_ops = [{', '.join(repr(op) for op in allowable)}] in "
                f"[tool.pytest-deeplab.models.{name}]." if len(allowable) == len(findings) else
                f"\n{FIX}")
        ModelLoadError.__init__(self, f"{report.path}: model {name} was not loaded: "
                                f"{len(findings)} object(s) in its config.json are not allowed:"
                                f"\n{shown}{more}{hint}")


def check_keras_file(path: Path, name: str, allow_ops: Sequence[str] = ()) -> SafetyReport:
    """The report of a file that passed; a refused file raises, naming every finding (up to 20),
    the file and the fix."""
    report, findings = _judge(path, allow_ops)
    if findings:
        raise KerasRefusedError(report, findings, name)
    return report
