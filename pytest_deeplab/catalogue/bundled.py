"""The bundled mini-zoo: this module is the only reader of `minizoo.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_deeplab.catalogue.specs import DatasetSpec, ModelSpec, ZooFacts


def fixtures_dir() -> Path:
    """Where the bundled mini-zoo lives: inside the wheel, or at the top of a source checkout."""
    package = Path(__file__).resolve().parent.parent  # pytest_deeplab/
    for candidate in (package / "_fixtures", package.parent / "fixtures"):
        if (candidate / "minizoo.json").is_file():
            return candidate
    return package.parent / "fixtures"


def bundled_catalogue() -> tuple[list[ModelSpec], list[DatasetSpec]]:
    """Models and datasets of the bundled mini-zoo (a model's `archive` or plain `file`)."""
    root = fixtures_dir()
    manifest_path = root / "minizoo.json"
    if not manifest_path.is_file():
        return [], []
    manifest = json.loads(manifest_path.read_text())
    datasets = [
        DatasetSpec(
            name=name,
            images=root / entry["images"],
            labels=root / entry["labels"] if entry.get("labels") else None,
            label_suffix=entry.get("label_suffix", ""),
            label_set=entry.get("label_set", "minizoo"),
            source="bundled",
        )
        for name, entry in manifest["datasets"].items()
    ]
    golden = root / manifest["golden_images"] if manifest.get("golden_images") else None
    models = [
        ModelSpec(
            name=entry["name"],
            format=entry.get("format", "frozen_graph"),
            label_set=entry.get("label_set", "minizoo"),
            input_size=int(entry["input_size"]),
            source="bundled",
            path=root / (entry.get("file") or entry["archive"]),
            member=entry.get("member"),
            sha256=entry.get("sha256"),
            size=entry.get("size"),
            dataset=entry.get("dataset"),
            golden_images=golden,
            min_miou=entry.get("min_miou"),
            **{k: entry[k] for k in ("input_tensor", "output_tensor", "normalize", "resize")
               if k in entry},
            facts=ZooFacts(
                backbone=entry.get("architecture", ""),
                eval_output_stride=entry.get("output_stride"),
                published_miou=_percent(entry.get("measured_miou")),
                multiply_adds=_number(entry.get("multiply_adds")),
                aspp=entry.get("aspp"),
                decoder=entry.get("decoder"),
            ),
        )
        for entry in manifest["models"]
    ]
    return models, datasets


def _percent(value: Any) -> str:
    return f"{100 * float(value):.2f}%" if isinstance(value, (int, float)) else ""


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) else None
