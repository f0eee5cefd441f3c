"""The golden store: one indexed PNG mask plus one JSON metadata file per (model, image).

Layout: `<root>/<model>/<image_id>.png` (palette PNG in the label set's colours, so a reviewer
can open it) and `<root>/<model>/<image_id>.json` (where the mask came from: model and image
hashes, TensorFlow version, oneDNN flag, threads, preprocessing). Masks are compared as decoded
arrays, never as PNG bytes: pytest-mpl's hash library broke on every encoder upgrade.

Goldens are read from `root` first, then from read-only fallbacks (e.g. the goldens shipped
with the bundled mini-zoo), and written only to `root`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional

import numpy as np

from pytest_deeplab import __version__
from pytest_deeplab.data.images import ImageError
from pytest_deeplab.data.labelsets import LabelSet
from pytest_deeplab.data.masks import read_mask_png, save_mask_png
from pytest_deeplab.errors import DeepLabError
from pytest_deeplab.files import write_atomically

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


class GoldenError(DeepLabError, ValueError):
    """A golden file that cannot be trusted; the message names it and the command to fix it."""

    def __init__(self, path: Path, problem: str, model: str, image_id: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(
            f"{path}: {problem}. Re-create it with `{update_command(model, image_id)}` "
            "(or delete the file and run that command)."
        )


def update_command(model: str, image_id: str) -> str:
    """The command that (re)writes one golden; quoted in every golden-related failure."""
    return f"pytest --deeplab-models={model} --deeplab-update-golden -k '{model} and {image_id}'"


def mask_sha256(mask: np.ndarray) -> str:
    """Hash of the decoded indices and shape (not of the PNG), to tie a JSON to its PNG."""
    mask = np.ascontiguousarray(mask, dtype=np.uint8)
    digest = hashlib.sha256(f"{mask.shape[0]}x{mask.shape[1]}:".encode())
    digest.update(mask.tobytes())
    return digest.hexdigest()


def golden_metadata(
    *,
    model: str,
    model_sha256: str,
    image: str,
    image_sha256: str,
    label_set: str,
    tensorflow: str,
    onednn: Optional[bool],
    threads: Optional[int],
    input_size: int,
    created: Optional[str] = None,
    runtime: Optional[Mapping[str, Any]] = None,
    allow_ops: Sequence[str] = (),
) -> dict[str, Any]:
    """Metadata in the store's schema; `save` adds `shape`, `mask_sha256` and `created`.

    `runtime` is a TF Lite model's runtime record (interpreter, XNNPACK, threads, resize): the
    resize convention joins `preprocessing`, the rest is kept under `tflite`.
    """
    metadata: dict[str, Any] = {
        "model": model,
        "model_sha256": model_sha256,
        "image": image,
        "image_sha256": image_sha256,
        "label_set": label_set,
        "tensorflow": tensorflow,
        "onednn": onednn,
        "threads": threads,
        "plugin_version": __version__,
        # Stored pixels, EXIF orientation ignored (images.load_rgb): the demo's and eval.py's rule.
        "preprocessing": {"input_size": input_size, "resample": "lanczos", "exif": "ignored"},
        "created": created or _now(),
    }
    if allow_ops:  # ops outside the safety allowlist the model's table let this file hold
        metadata["allow_ops"] = sorted(allow_ops)
    if runtime:
        metadata["preprocessing"]["resize"] = runtime.get("resize")
    if runtime and runtime.get("keras"):  # a Keras model's record (runtime/formats/keras.py)
        metadata["preprocessing"]["normalize"] = runtime.get("normalize")
        metadata["keras"] = {key: runtime.get(key) for key in KERAS_KEYS}
    elif runtime:
        metadata["tflite"] = {key: runtime.get(key) for key in TFLITE_KEYS}
    return metadata


TFLITE_KEYS = ("interpreter", "xnnpack", "delegated_partitions", "threads")
KERAS_KEYS = ("keras", "keras_backend", "threads")


def runtime_differences(metadata: Mapping[str, Any], runtime: Optional[Mapping[str, Any]]) -> str:
    """How this run's TF Lite settings differ from the ones a golden was made with ("" if not):
    a changed resize convention or XNNPACK setting explains a mask change by itself."""
    if not runtime:
        return ""
    if "resize" not in metadata.get("preprocessing", {}):
        return (f"the golden does not record how the image was fitted to the TF Lite input (it "
                f"predates resize; such goldens stretched the image, resize = \"stretch\"); this "
                f"run uses resize={runtime.get('resize')}")
    then = {"resize": metadata.get("preprocessing", {}).get("resize"),
            "xnnpack": metadata.get("tflite", {}).get("xnnpack")}
    now = {"resize": runtime.get("resize"), "xnnpack": runtime.get("xnnpack")}
    changed = [key for key in then if then[key] is not None and then[key] != now[key]]
    if not changed:
        return ""

    def show(values: Mapping[str, Any]) -> str:
        return ", ".join(f"{key}={values[key]}" for key in changed)

    return f"the golden was made with {show(then)}; this run uses {show(now)}"


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Golden:
    """A decoded golden mask, its metadata and where it was read from."""

    mask: np.ndarray
    metadata: dict[str, Any]
    png_path: Path
    read_only: bool = False
    """True when it came from a fallback directory (e.g. shipped with the package)."""

    @property
    def json_path(self) -> Path:
        return self.png_path.with_suffix(".json")


class GoldenStore:
    """Reads goldens from `root`, then from `fallbacks`; writes them to `root` only."""

    def __init__(self, root: Path, fallbacks: Sequence[Path] = ()) -> None:
        self.root = Path(root)
        self.fallbacks = tuple(Path(p) for p in fallbacks)

    def png_path(self, model: str, image_id: str, root: Optional[Path] = None) -> Path:
        check_golden_name(model, "model")
        check_golden_name(image_id, "image id")
        return (root or self.root) / model / f"{image_id}.png"

    # ------------------------------------------------------------------ reading

    def load(self, model: str, image_id: str) -> Golden | None:
        """The golden for (model, image), or None when no directory has one.

        A half-present or inconsistent golden raises `GoldenError` rather than reading as
        missing: silently re-creating it would turn a corrupted baseline into a new one.
        """
        for directory in (self.root, *self.fallbacks):
            png = self.png_path(model, image_id, directory)
            json_path = png.with_suffix(".json")
            if png.exists() or json_path.exists():
                return _read(png, model, image_id, read_only=directory != self.root)
        return None

    # ------------------------------------------------------------------ writing

    def save(
        self,
        model: str,
        image_id: str,
        mask: np.ndarray,
        metadata: Mapping[str, Any],
        label_set: LabelSet,
    ) -> Golden:
        """Write the PNG, then the JSON, each atomically, into `root`.

        The JSON carries the mask's shape and hash, so if a crash falls between the two
        writes, the next `load` reports the mismatch instead of trusting stale metadata.
        """
        png = self.png_path(model, image_id)
        mask = np.asarray(mask)
        if mask.ndim != 2:
            raise ValueError(f"a golden mask must be 2-D, got shape {mask.shape}")
        record = dict(metadata)
        record.update(
            model=model,
            label_set=label_set.name,
            shape=[int(mask.shape[0]), int(mask.shape[1])],
            mask_sha256=mask_sha256(mask),
        )
        record.setdefault("plugin_version", __version__)
        record.setdefault("created", _now())
        text = json.dumps(record, indent=2, sort_keys=True) + "\n"
        save_mask_png(mask, png, label_set)
        write_atomically(png.with_suffix(".json"), lambda handle: handle.write(text.encode()))
        return Golden(np.asarray(mask, dtype=np.uint8), record, png)

    # ------------------------------------------------------------------ housekeeping

    def entries(self, root_only: bool = True) -> set[tuple[str, str]]:
        """Every (model, image_id) with a PNG or JSON file, in root (and fallbacks if asked)."""
        directories = (self.root,) if root_only else (self.root, *self.fallbacks)
        return {(m, i) for d in directories for m, i, _ in _golden_files(d)}

    def models(self) -> set[str]:
        """Models with a folder of goldens in root."""
        return {m for m, _, _ in _golden_files(self.root)}

    def unused(
        self, selected: set[tuple[str, str]], models: Optional[Collection[str]] = None
    ) -> list[Path]:
        """Files in root whose (model, image_id) is not in `selected`; fallbacks are never listed.

        Only the folders of `models` are looked at, by default the models that appear in
        `selected`: a run of some models must not call another model's goldens unused
        (syrupy's lesson). Pass `models=store.models()` to look at every folder.
        """
        scope = {m for m, _ in selected} if models is None else set(models)
        return sorted(
            path
            for model, image_id, path in _golden_files(self.root)
            if model in scope and (model, image_id) not in selected
        )


def check_golden_name(name: str, what: str) -> None:
    """Model names and image ids become path components: no separators, no `..`."""
    if not _SAFE_NAME.match(name) or ".." in name:
        raise ValueError(
            f"{what} {name!r} cannot name a golden file: use letters, digits, '.', '_', '+', '-'"
        )


def _golden_files(directory: Path) -> Iterator[tuple[str, str, Path]]:
    """(model, image_id, path) of each golden PNG/JSON under a store directory."""
    if not directory.is_dir():
        return
    for model_dir in sorted(p for p in directory.iterdir() if p.is_dir()):
        for path in sorted(model_dir.iterdir()):
            if (
                path.is_file()
                and path.suffix in (".png", ".json")
                and not path.name.startswith(".")
            ):
                yield model_dir.name, path.stem, path


def _read(png: Path, model: str, image_id: str, read_only: bool) -> Golden:
    """Decode and cross-check one golden pair."""
    json_path = png.with_suffix(".json")
    for path in (png, json_path):
        if not path.exists():
            other = json_path if path == png else png
            raise GoldenError(path, f"is missing although {other.name} exists", model, image_id)
    metadata = _read_json(json_path, model, image_id)
    try:
        mask = read_mask_png(png)
    except ImageError as exc:
        raise GoldenError(
            png, f"is not a readable golden mask ({exc.problem})", model, image_id
        ) from exc
    _cross_check(mask, metadata, png, json_path, model, image_id)
    return Golden(mask, metadata, png, read_only)


def _read_json(path: Path, model: str, image_id: str) -> dict[str, Any]:
    try:
        metadata = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise GoldenError(path, f"is not valid JSON ({exc})", model, image_id) from exc
    if not isinstance(metadata, dict):
        raise GoldenError(path, "does not hold a JSON object", model, image_id)
    return metadata


def _cross_check(
    mask: np.ndarray,
    metadata: dict[str, Any],
    png: Path,
    json_path: Path,
    model: str,
    image_id: str,
) -> None:
    """The JSON must describe this PNG: same shape and, when recorded, same mask hash."""
    shape = metadata.get("shape")
    if not (isinstance(shape, list) and len(shape) == 2 and all(isinstance(v, int) for v in shape)):
        raise GoldenError(
            json_path, f'has no valid "shape" [h, w] (got {shape!r})', model, image_id
        )
    if tuple(shape) != mask.shape:
        raise GoldenError(
            png,
            f"is {mask.shape[0]} x {mask.shape[1]} but {json_path.name} says "
            f"{shape[0]} x {shape[1]} (height x width)",
            model,
            image_id,
        )
    recorded = metadata.get("mask_sha256")
    if recorded is not None and recorded != mask_sha256(mask):
        raise GoldenError(
            png,
            f"does not hold the mask {json_path.name} describes (its mask_sha256 differs; "
            "was one of the two files replaced or an update interrupted?)",
            model,
            image_id,
        )
