"""What models and datasets exist: the official zoo, the bundled mini-zoo, and the user's own.

Everything downstream (fetching, the suite, the CLI) works from `ModelSpec`/`DatasetSpec`, so a
bundled model, a zoo model and a team's own graph look alike to the code that tests them.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_deeplab.data.labelsets import get_label_set, label_set_mismatch

FORMATS = ("frozen_graph", "tflite", "saved_model")
ZOO_BASE_URL = "http://download.tensorflow.org/models/"
TFLITE_BASE_URL = "https://storage.googleapis.com/download.tensorflow.org/models/tflite/gpu/"


class CatalogueError(ValueError):
    """A model or dataset cannot be described: unknown name, bad configuration."""


@dataclass(frozen=True)
class DatasetSpec:
    """Images (and optionally label maps) that models are evaluated on."""

    name: str
    images: Path
    labels: Path | None = None
    label_suffix: str = ""
    label_set: str = "pascal"
    source: str = "user"


@dataclass(frozen=True)
class ZooFacts:
    """Published figures from the model zoo table, shown beside what we measure."""

    backbone: str = ""
    eval_output_stride: int | None = None
    published_miou: str = ""
    multiply_adds: str = ""
    runtime_s: str = ""
    file_size: str = ""
    aspp: bool | None = None
    decoder: bool | None = None


@dataclass(frozen=True)
class ModelSpec:
    """One model the suite can test, wherever its file comes from."""

    name: str
    format: str
    label_set: str
    input_size: int | None  # None: the size the model file declares (TF Lite)
    source: str  # "bundled" | "official" | "user"
    path: Path | None = None  # a local file, directory (SavedModel) or .tar.gz archive
    url: str | None = None
    member: str | None = None  # file inside an archive
    sha256: str | None = None
    sha384: str | None = None
    size: int | None = None
    dataset: str | None = None
    golden_images: Path | None = None
    min_miou: float | None = None
    min_iou_per_class: Mapping[str, float] = field(default_factory=dict)
    min_agreement: float = 0.999
    min_class_iou: float = 0.99
    input_tensor: str = "ImageTensor:0"  # frozen-graph defaults; for TF Lite they mean "unset":
    output_tensor: str = "SemanticPredictions:0"  # the only input / only plausible output
    facts: ZooFacts = field(default_factory=ZooFacts)
    resize: str = "pad"  # TF Lite, fixed input size: "pad" (DeepLab's export) or "stretch"
    xnnpack: bool = True  # TF Lite: False runs without the XNNPACK delegate (numerics change)

    @property
    def filename(self) -> str:
        if self.url:
            return self.url.rsplit("/", 1)[-1]
        return self.path.name if self.path else self.name


def _zoo(
    name: str,
    tarball: str,
    label_set: str,
    input_size: int,
    facts: ZooFacts,
    sha384: str | None = None,
    size: int | None = None,
    *,
    format: str = "frozen_graph",
    member: str = "frozen_inference_graph.pb",
    input_tensor: str = "ImageTensor:0",
    output_tensor: str = "SemanticPredictions:0",
) -> ModelSpec:
    return ModelSpec(
        name=name,
        format=format,
        label_set=label_set,
        input_size=input_size,
        source="official",
        url=f"{ZOO_BASE_URL}{tarball}.tar.gz",
        member=member,
        sha384=sha384,
        size=size,
        input_tensor=input_tensor,
        output_tensor=output_tensor,
        facts=facts,
    )


# g3doc/quantize.md: 8-bit quantization-aware MobileNet-v2 PASCAL models. Each archive holds a
# frozen graph (frozen_inference_graph.pb, exported by export_model.py, so ImageTensor:0 uint8 in,
# SemanticPredictions:0 out) and its TF Lite conversion (frozen_inference_graph.tflite, made by
# convert_to_tflite.py: input MobilenetV2/MobilenetV2/input, uint8 [1,513,513,3] quantized with
# mean 127.5 and std 127.5, no resize or padding inside; output ArgMax, class ids [1,513,513]).
# Both formats are catalogued; the `_tflite` entry takes the archive's .tflite.
_MNV2_8BIT, _MNV2_DM05_8BIT = "MobileNet-v2 (8-bit QAT)", "MobileNet-v2 x0.5 (8-bit QAT)"
_QUANT_IN, _QUANT_OUT = "MobilenetV2/MobilenetV2/input", "ArgMax"
_QUANTIZED_8BIT: tuple[ModelSpec, ...] = (
    _zoo("mobilenetv2_coco_voc_trainaug_8bit", "deeplabv3_mnv2_pascal_train_aug_8bit_2019_04_26",
         "pascal", 513, ZooFacts(_MNV2_8BIT, 16, "74.26% (val)", "2.75B", "", "24MB",
                                 False, False)),
    _zoo("mobilenetv2_coco_voc_trainaug_8bit_tflite",
         "deeplabv3_mnv2_pascal_train_aug_8bit_2019_04_26",
         "pascal", 513, ZooFacts(_MNV2_8BIT, 16, "74.26% (val)", "2.75B", "", "2.2MB",
                                 False, False),
         format="tflite", member="frozen_inference_graph.tflite",
         input_tensor=_QUANT_IN, output_tensor=_QUANT_OUT),
    _zoo("mobilenetv2_dm05_coco_voc_trainaug_8bit",
         "deeplabv3_mnv2_dm05_pascal_train_aug_8bit_2019_04_26",
         "pascal", 513, ZooFacts(_MNV2_DM05_8BIT, 16, "69.65% (val)", "0.88B", "", "8.2MB",
                                 False, False)),
    _zoo("mobilenetv2_dm05_coco_voc_trainaug_8bit_tflite",
         "deeplabv3_mnv2_dm05_pascal_train_aug_8bit_2019_04_26",
         "pascal", 513, ZooFacts(_MNV2_DM05_8BIT, 16, "69.65% (val)", "0.88B", "", "751.1KB",
                                 False, False),
         format="tflite", member="frozen_inference_graph.tflite",
         input_tensor=_QUANT_IN, output_tensor=_QUANT_OUT),
)

# g3doc/model_zoo.md, "EdgeTPU-DeepLab models on Cityscapes": published at two output strides
# (32 and 16), so no single stride is claimed. The zoo does not list these archives' files; the
# member is "the archive's only *.pb" (an archive with none, or with several, fails its fetch
# saying so) and its tensors are export_model.py's defaults. No ASPP, no decoder (zoo text).
# Latency is quoted for a Pixel 4 Edge TPU simulator, not a CPU, so no runtime is given here.
_EDGETPU: tuple[ModelSpec, ...] = (
    _zoo("edgetpu_deeplab_cityscapes", "edgetpu-deeplab_2020_03_09",
         "cityscapes", 2048, ZooFacts("EdgeTPU-MobileNet 1.0", None,
                                      "70.6% / 74.1% (val, OS 32 / 16)",
                                      "5.6B / 7.1B (OS 32 / 16)", "", "", False, False),
         member="*.pb"),
    _zoo("edgetpu_deeplab_slim_cityscapes", "edgetpu-deeplab-slim_2020_03_09",
         "cityscapes", 2048, ZooFacts("EdgeTPU-MobileNet 0.75", None,
                                      "70.0% / 73.2% (val, OS 32 / 16)",
                                      "3.5B / 4.3B (OS 32 / 16)", "", "", False, False),
         member="*.pb"),
)


# research/deeplab/g3doc/model_zoo.md. The frozen graphs are exported at output stride 8 (or as the
# zoo says) with a single scale, so published mIOU is NOT what a graph scores: thresholds for these
# models are measured under our protocol and configured by the user, never copied from the table.
# Cityscapes graphs take full 2048x1024 frames and pad them inside the graph (crop 1025x2049), so
# the demo resize targets 2048: a frame reaches the graph with its pixels unchanged.
_MNV2 = "MobileNet-v2"
OFFICIAL_MODELS: tuple[ModelSpec, ...] = (
    _zoo("mobilenetv2_dm05_coco_voc_trainaug", "deeplabv3_mnv2_dm05_pascal_trainaug_2018_10_01",
         "pascal", 513, ZooFacts("MobileNet-v2 x0.5", 16, "70.19% (val)", "0.88B", "", "7.6MB",
                                 False, False)),
    _zoo("mobilenetv2_dm05_coco_voc_trainval", "deeplabv3_mnv2_dm05_pascal_trainval_2018_10_01",
         "pascal", 513, ZooFacts("MobileNet-v2 x0.5", 8, "71.83% (test)", "2.84B", "", "7.6MB",
                                 False, False)),
    _zoo("mobilenetv2_coco_voc_trainaug", "deeplabv3_mnv2_pascal_train_aug_2018_01_29",
         "pascal", 513, ZooFacts(_MNV2, 16, "75.32% (val)", "2.75B", "0.1", "23MB", False, False),
         sha384="d3f2b27bb00c485ca45d68731f7198a23926cb865dd010fc444bcad9158e33413cd60da2588a9be3"
                "ff1e8c9b4557362b",
         size=23882985),
    _zoo("mobilenetv2_coco_voc_trainval", "deeplabv3_mnv2_pascal_trainval_2018_01_29",
         "pascal", 513, ZooFacts(_MNV2, 8, "80.25% (test)", "152.59B (MS)", "26.9", "23MB",
                                 False, False)),
    _zoo("xception65_coco_voc_trainaug", "deeplabv3_pascal_train_aug_2018_01_04",
         "pascal", 513, ZooFacts("Xception-65", 16, "82.20% (val)", "54.17B", "0.7", "439MB",
                                 True, True)),
    _zoo("xception65_coco_voc_trainval", "deeplabv3_pascal_trainval_2018_01_04",
         "pascal", 513, ZooFacts("Xception-65", 8, "87.80% (test)", "3055.35B (MS)", "223.2",
                                 "439MB", True, True)),
    _zoo("mobilenetv2_coco_cityscapes_trainfine", "deeplabv3_mnv2_cityscapes_train_2018_02_05",
         "cityscapes", 2048, ZooFacts(_MNV2, 16, "70.71% (val)", "21.27B", "0.8", "23MB",
                                      False, False)),
    _zoo("mobilenetv3_large_cityscapes_trainfine",
         "deeplab_mnv3_large_cityscapes_trainfine_2019_11_15",
         "cityscapes", 2048, ZooFacts("MobileNet-v3 large", 32, "72.41% (val)", "15.95B", "",
                                      "17MB")),
    _zoo("mobilenetv3_small_cityscapes_trainfine",
         "deeplab_mnv3_small_cityscapes_trainfine_2019_11_15",
         "cityscapes", 2048, ZooFacts("MobileNet-v3 small", 32, "68.99% (val)", "4.63B", "",
                                      "5MB")),
    _zoo("xception65_cityscapes_trainfine", "deeplabv3_cityscapes_train_2018_02_06",
         "cityscapes", 2048, ZooFacts("Xception-65", 16, "78.79% (val)", "418.64B", "5.0",
                                      "439MB", True, True)),
    _zoo("xception71_dpc_cityscapes_trainfine",
         "deeplab_cityscapes_xception71_trainfine_2018_09_08",
         "cityscapes", 2048, ZooFacts("Xception-71 + DPC", 16, "80.31% (val)", "502.07B", "",
                                      "445MB")),
    _zoo("xception71_dpc_cityscapes_trainval",
         "deeplab_cityscapes_xception71_trainvalfine_2018_09_08",
         "cityscapes", 2048, ZooFacts("Xception-71 + DPC", 8, "82.66% (test, MS)", "", "",
                                      "446MB")),
    _zoo("mobilenetv2_ade20k_train", "deeplabv3_mnv2_ade20k_train_2018_12_03",
         "ade20k", 257, ZooFacts(_MNV2, 16, "32.04% (val)", "", "", "24.8MB")),
    _zoo("xception65_ade20k_train", "deeplabv3_xception_ade20k_train_2018_05_29",
         "ade20k", 513, ZooFacts("Xception-65", 8, "45.65% (val, MS)", "", "", "439MB",
                                 True, True)),
    ModelSpec(
        name="deeplabv3_257_mv_gpu",
        format="tflite",
        label_set="pascal",
        input_size=257,
        source="official",
        url=f"{TFLITE_BASE_URL}deeplabv3_257_mv_gpu.tflite",
        # The official file's checksum (the same bytes ship in many public repositories).
        sha256="68a539782c2c6a72f8aac3724600124a85ed977162b44e84cbae5db717c933c6",
        size=2779264,
        input_tensor="sub_7",
        output_tensor="ResizeBilinear_3",
        # No published table for this file; read from the model itself (pytest-deeplab inspect):
        # its conv filters equal the dm05 graph's, at output stride 8.
        facts=ZooFacts("MobileNet-v2 x0.5", 8, "", "", "", "2.7MB", False, False),
    ),
    *_QUANTIZED_8BIT, *_EDGETPU,
)


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
            **{k: entry[k] for k in ("input_tensor", "output_tensor") if k in entry},
            facts=ZooFacts(
                backbone=entry.get("architecture", ""),
                eval_output_stride=entry.get("output_stride"),
                published_miou=_percent(entry.get("measured_miou")),
                multiply_adds=_billions(entry.get("multiply_adds")),
                aspp=entry.get("aspp"),
                decoder=entry.get("decoder"),
            ),
        )
        for entry in manifest["models"]
    ]
    return models, datasets


def _percent(value: Any) -> str:
    return f"{100 * float(value):.2f}%" if isinstance(value, (int, float)) else ""


def _billions(value: Any) -> str:
    return f"{float(value) / 1e9:.3f}B" if isinstance(value, (int, float)) else ""


@dataclass
class Catalogue:
    """Every model and dataset known to this run, by name."""

    models: dict[str, ModelSpec]
    datasets: dict[str, DatasetSpec]

    def by_source(self, source: str) -> list[ModelSpec]:
        return [m for m in self.models.values() if m.source == source]

    def select(self, spec: str) -> list[ModelSpec]:
        """Resolve `all`, `bundled`, `official`, `user`, or comma-separated names and globs.

        An unknown name is an error that suggests close names: a typo must never shrink the
        suite silently.
        """
        chosen: dict[str, ModelSpec] = {}
        for token in (t.strip() for t in spec.split(",")):
            if not token:
                continue
            for model in self._resolve(token):
                chosen.setdefault(model.name, model)
        return list(chosen.values())

    def _resolve(self, token: str) -> list[ModelSpec]:
        if token == "all":
            return list(self.models.values())
        if token in ("bundled", "official", "user"):
            return self.by_source(token)
        if token in self.models:
            return [self.models[token]]
        if any(ch in token for ch in "*?["):
            matched = [m for n, m in self.models.items() if fnmatch.fnmatchcase(n, token)]
            if matched:
                return matched
            raise CatalogueError(f"--deeplab-models: the pattern {token!r} matches no model. "
                                 "Run `pytest-deeplab list` to see the catalogue.")
        close = difflib.get_close_matches(token, list(self.models), n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise CatalogueError(
            f"--deeplab-models: unknown model {token!r}.{hint} "
            "Use all, bundled, official, user, names or globs; `pytest-deeplab list` shows them."
        )


def build_catalogue(user_config: Mapping[str, Any] | None, config_dir: Path) -> Catalogue:
    """Merge bundled, official and user entries; user entries may override official settings."""
    bundled_models, bundled_datasets = bundled_catalogue()
    # Official models are pinned on the bundled golden scenes until a user names photos of
    # their own: any fixed input shows whether a model's masks moved between TF versions.
    scenes = bundled_models[0].golden_images if bundled_models else None
    official = [replace(m, golden_images=m.golden_images or scenes) for m in OFFICIAL_MODELS]
    models = {m.name: m for m in (*bundled_models, *official)}
    datasets = {d.name: d for d in bundled_datasets}
    if user_config:
        from pytest_deeplab.catalogue.config import apply_user_config

        apply_user_config(user_config, config_dir, models, datasets)
    for model in models.values():
        if model.dataset and model.dataset not in datasets:
            raise CatalogueError(
                f"model {model.name!r} names dataset {model.dataset!r}, which is not defined. "
                f"Known datasets: {', '.join(sorted(datasets)) or 'none'}."
            )
        dataset = datasets.get(model.dataset or "")
        problem = label_set_mismatch(model, dataset) if dataset else ""
        if problem:  # a bundled model, or one the user's configuration did not touch
            raise CatalogueError(f"{model.source} model: {problem}")
    return Catalogue(models, datasets)


def validate_label_set(value: Any, where: str) -> str:
    """Check a label-set name early so a typo fails at configuration time, not mid-run."""
    try:
        get_label_set(value)
    except ValueError as exc:
        raise CatalogueError(f"{where}: {exc}") from None
    return str(value)


def with_overrides(model: ModelSpec, **changes: Any) -> ModelSpec:
    return replace(model, **changes)


def names(models: Iterable[ModelSpec]) -> list[str]:
    return [m.name for m in models]
