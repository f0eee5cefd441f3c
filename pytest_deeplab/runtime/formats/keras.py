"""Keras 3 `.keras` models: read as data and checked first, then loaded with safe_mode on.

A `.keras` zip holds config.json (nested serialized objects), metadata.json and the weights.
Loading imports the module each object names, and a Lambda layer carries bytecode: the file is
a program. So config.json is read with zipfile and json alone, every object in the tree is held
against `keras_allowlist.txt`, and only a file without findings reaches
`keras.saving.load_model(path, safe_mode=True, compile=False)`.

The input is normalised per model (`normalize`): "deeplab" x/127.5-1 (DeepLab's), "unit" x/255,
"none" the raw values as float32. A fixed input size is met as TF Lite's is (runtime.fitting:
pad by default, or stretch); a model whose height and width are None takes the image as it is.
The output is logits [1, H, W, C] (arg-max) or class ids [1, H, W] / [1, H, W, 1].
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.base import ModelLoadError, to_mask
from pytest_deeplab.runtime.fitting import (
    RESIZE_MODES,
    Placement,
    mask_back,
    placement,
    resized_image,
)
from pytest_deeplab.runtime.safety.findings import OpUse, SafetyReport, UnsafeModelError

ALLOWLIST_FILE = Path(__file__).with_name("keras_allowlist.txt")
MEMBERS = ("config.json", "metadata.json", "model.weights.h5")
MAX_CONFIG_BYTES = 64 * 1024 * 1024  # a DeepLab's config is ~0.2 MB; more is not a model
SCALING = {"deeplab": (127.5, -1.0), "unit": (255.0, 0.0), "none": (1.0, 0.0)}  # x / a + b
NORMALIZE_MODES = tuple(SCALING)
NORMALIZE_HELP = ('"deeplab" (x / 127.5 - 1, DeepLab\'s [-1, 1]), "unit" (x / 255) or "none" '
                  "(the raw 0..255 values as float32)")
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


# -- identity and settings ---------------------------------------------------------------------

def keras_identity() -> dict[str, Any]:
    """Keras' version and backend, for the run identity (imports nothing that is not loaded)."""
    if "keras" in sys.modules:
        keras = sys.modules["keras"]
        return {"keras": str(keras.__version__), "keras_backend": str(keras.backend.backend())}
    try:
        version: str | None = metadata.version("keras")
    except metadata.PackageNotFoundError:
        version = None
    return {"keras": version, "keras_backend": os.environ.get("KERAS_BACKEND") or "tensorflow"}


def input_table(normalize: str) -> tuple[np.ndarray, float]:
    """What each RGB byte becomes (float32, divided as DeepLab's graphs divide), and the
    padding: the mean pixel, 127.5, scaled the same way."""
    divisor, offset = SCALING[normalize]
    table = np.arange(256, dtype=np.float32) / np.float32(divisor) + np.float32(offset)
    return table, 127.5 / divisor + offset


# -- the predictor -----------------------------------------------------------------------------

class KerasPredictor:
    """A checked .keras model behind `predict(image) -> mask`, the mask at the image's size."""

    def __init__(self, name: str, path: Path, *, threads: int | None = None,
                 normalize: str = "deeplab", resize: str = "pad", label_set: str | None = None,
                 num_classes: int | None = None, allow_ops: Sequence[str] = ()) -> None:
        self.name = name
        self.path = str(path)
        if normalize not in SCALING or resize not in RESIZE_MODES:
            raise ModelLoadError(f"{name}: normalize must be {NORMALIZE_HELP} (got {normalize!r})"
                                 f" and resize one of {', '.join(RESIZE_MODES)} (got {resize!r})")
        self.normalize, self.resize, self.threads = normalize, resize, threads
        if path.suffix != ".keras":
            raise ModelLoadError(f"{path}: a Keras model file must end in .keras (Keras reads "
                                 "other names as legacy formats); rename it or re-save it")
        self.safety = check_keras_file(path, name, allow_ops)  # before Keras is imported
        self.model, self.threads_applied = _load(path, threads)
        self._keras = sys.modules["keras"]
        self.input_hw, self.output_kind = _signature(self.model, path, name, label_set,
                                                     num_classes)
        self.input_size = max(self.input_hw) if self.input_hw else None
        self._table, self._pad = input_table(self.normalize)

    def predict(self, image: np.ndarray) -> np.ndarray:
        if self.input_hw is None:  # any size: the image as it is
            place = Placement(image.shape[:2], image.shape[:2])
            batch = np.take(self._table, image)[np.newaxis]
        else:
            place = placement(image.shape[:2], self.input_hw, self.resize)
            fitted = resized_image(image, place.region_hw)
            batch = np.full((1, *self.input_hw, 3), self._pad, dtype=np.float32)
            batch[0, :fitted.shape[0], :fitted.shape[1]] = np.take(self._table, fitted)
        out = np.asarray(self.model.predict_on_batch(batch))[0]
        ids = to_mask(out.argmax(axis=-1)) if self.output_kind == "logits" else _ids(out)
        full_hw = batch.shape[1:3]
        if ids.shape != full_hw:  # e.g. logits at the output stride
            ids = mask_back(ids, Placement(full_hw, ids.shape))
        rh, rw = place.region_hw
        return mask_back(np.ascontiguousarray(ids[:rh, :rw]), place)

    def runtime_record(self) -> dict[str, Any]:
        """What makes this model's masks and timings comparable (goldens, benchmarks)."""
        return {"format": "keras", "keras": str(self._keras.__version__),
                "keras_backend": str(self._keras.backend.backend()), "threads": self.threads,
                "threads_applied": self.threads_applied,
                "normalize": self.normalize, "resize": self.resize,
                "input_size": self.input_size}

    def describe(self) -> dict[str, Any]:
        inp, out = self.model.inputs[0], self.model.outputs[0]
        out_name = self.model.layers[-1].name if self.model.layers else out.name
        return {"input": f"{inp.name} ({inp.dtype}, {list(inp.shape)})",
                "output": f"{out_name} ({out.dtype}, {list(out.shape)}) ({self.output_kind})",
                "layers": len(self.model.layers), **self.runtime_record()}

    def close(self) -> None:
        del self.model


def _load(path: Path, threads: int | None) -> tuple[Any, bool]:
    """The model, and whether `threads` took effect (TensorFlow fixes its pools once)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import keras
    except ImportError as exc:
        raise ModelLoadError(f"{path}: Keras 3 is not importable ({exc}); `pip install keras` "
                             "(TensorFlow 2.16 and later bring it)") from None
    if not str(keras.__version__).startswith(tuple("3456789")):
        raise ModelLoadError(f"{path}: .keras files of Keras 3 need Keras 3; this environment has "
                             f"Keras {keras.__version__} (TensorFlow before 2.16 brings Keras 2). "
                             "`pip install \"keras>=3\"` or a TensorFlow from 2.16 on.")
    applied = False
    if threads and keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
        except RuntimeError:  # already initialised by an earlier model in this process
            pass
        applied = tf.config.threading.get_intra_op_parallelism_threads() == threads
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False), applied
    except Exception as exc:  # Keras raises ValueError, TypeError, OSError, KeyError...
        lambda_hint = f"\n{FIX}" if "lambda" in str(exc).lower() else ""
        raise ModelLoadError(f"{path}: Keras {keras.__version__} cannot load this model "
                             f"({type(exc).__name__}: {exc}){lambda_hint}") from None


def _signature(model: Any, path: Path, name: str, label_set: str | None,
               num_classes: int | None) -> tuple[tuple[int, int] | None, str]:
    """(fixed input height and width or None, "logits" | "ids") from the model's own shapes."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise ModelLoadError(f"{path}: expected one image input and one output, found "
                             f"{len(model.inputs)} input(s) and {len(model.outputs)} output(s)")
    in_shape, out_shape = tuple(model.inputs[0].shape), tuple(model.outputs[0].shape)
    if len(in_shape) != 4 or in_shape[3] != 3:
        raise ModelLoadError(f"{path}: the input must be [batch, height, width, 3] (RGB, "
                             f"channels last), not {list(in_shape)}")
    h, w = in_shape[1], in_shape[2]
    if (h is None) != (w is None):
        raise ModelLoadError(f"{path}: the input fixes one side only ({list(in_shape)}); fix "
                             "both or neither")
    if len(out_shape) == 3 or (len(out_shape) == 4 and out_shape[3] == 1):
        return (None if h is None else (int(h), int(w))), "ids"
    if len(out_shape) != 4:
        raise ModelLoadError(f"{path}: the output must be logits [1, H, W, C] or class ids "
                             f"[1, H, W] / [1, H, W, 1], not {list(out_shape)}")
    classes = out_shape[3]
    if num_classes is not None and classes is not None and classes != num_classes:
        raise ModelLoadError(
            f"{path}: the model scores {classes} classes (its output has {classes} logits "
            f"channels) but its label set {label_set!r} has {num_classes}. Set label_set in "
            f"[tool.pytest-deeplab.models.{name}] to the set the model was trained on.")
    return (None if h is None else (int(h), int(w))), "logits"


def _ids(values: np.ndarray) -> np.ndarray:
    """Class ids of a [H, W] or [H, W, 1] output (floats that hold whole numbers are fine)."""
    if values.ndim == 3:
        values = values[..., 0]
    if values.dtype.kind == "f":
        values = np.rint(values)
    return to_mask(values)
