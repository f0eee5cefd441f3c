"""What a model and a dataset are, for every part of the project: the catalogue's data types.

Everything downstream (fetching, the suite, the CLI) works from `ModelSpec`/`DatasetSpec`, so a
bundled model, a zoo model and a team's own graph look alike to the code that tests them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deeplab.errors import DeepLabError
from pytest_deeplab.runtime.formats import format_names

FORMATS = format_names()  # every registered format (runtime.formats)


class CatalogueError(DeepLabError, ValueError):
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


MULTI_SCALE = "MS"
"""The note of a published figure taken over several scales (and flips): not one run's cost."""


@dataclass(frozen=True)
class ZooFacts:
    """Published figures from the model zoo table, shown beside what we measure."""

    backbone: str = ""
    eval_output_stride: int | None = None
    published_miou: str = ""
    multiply_adds: float | None = None  # a number; shown with format_madds
    runtime_s: str = ""
    file_size: str = ""
    aspp: bool | None = None
    decoder: bool | None = None
    multiply_adds_note: str = ""  # how the published figure was taken, e.g. "MS" (multi-scale)

    @property
    def single_run_madds(self) -> float | None:
        """Multiply-adds of one inference, or None when the figure is not one: a multi-scale
        evaluation's figure ("MS", e.g. 3055 B for Xception-65 PASCAL trainval) counts every
        scale while the graph runs one. A figure quoted for one of two output strides
        ("OS 32; 7.1B at OS 16") is one run's cost and counts as given."""
        if self.multiply_adds is None or MULTI_SCALE in self.multiply_adds_note.split():
            return None
        return float(self.multiply_adds)

    @property
    def comparable_madds(self) -> float | None:
        """The figure a measurement of one graph run can be held against: no note at all (a
        two-stride figure is for an output stride the card cannot know the graph uses)."""
        return None if self.multiply_adds_note else self.single_run_madds


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
    # None: the format's own default (a frozen graph's ImageTensor:0 / SemanticPredictions:0,
    # a TF Lite model's only input and only plausible output)
    input_tensor: str | None = None
    output_tensor: str | None = None
    facts: ZooFacts = field(default_factory=ZooFacts)
    resize: str = "pad"  # TF Lite / Keras, fixed input size: "pad" (DeepLab's export), "stretch"
    xnnpack: bool = True  # TF Lite: False runs without the XNNPACK delegate (numerics change)
    normalize: str = "deeplab"  # Keras: the input scaling, "deeplab" [-1, 1] | "unit" | "none"
    allow_ops: tuple[str, ...] = ()  # ops outside the safety allowlist this model may hold

    @property
    def filename(self) -> str:
        if self.url:
            return self.url.rsplit("/", 1)[-1]
        return self.path.name if self.path else self.name




def validate_label_set(value: Any, where: str) -> str:
    """Check a label-set name early so a typo fails at configuration time, not mid-run."""
    from pytest_deeplab.data.labelsets import get_label_set

    try:
        get_label_set(value)
    except ValueError as exc:
        raise CatalogueError(f"{where}: {exc}") from None
    return str(value)


def format_madds(value: float | None, note: str = "") -> str:
    """Multiply-adds as the zoo prints them (billions, "B"), with how they were taken."""
    if value is None:
        return ""
    return f"{round(value / 1e9, 3):g}B" + (f" ({note})" if note else "")
