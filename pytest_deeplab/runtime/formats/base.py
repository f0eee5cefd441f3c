"""`ModelFormat`: everything the project knows about one kind of model file, in one class.

A format recognises its files, names the settings that mean something for it, lists its ops for
the allowlist check, loads a predictor (only after that check), inspects the file for a model
card, opens its intermediates for `explain`, checks it against the running TensorFlow before any
timing, and says which versions belong to a run's identity. The rest of the project asks the
registry (runtime.formats.get_format) and never compares format names.

Importing this module imports neither TensorFlow nor numpy: the catalogue reads class attributes
while the plugin is still starting.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pytest_deeplab.modelcard.structure import GraphInspection
    from pytest_deeplab.runtime.base import Predictor
    from pytest_deeplab.runtime.safety.findings import SafetyReport


@dataclass(frozen=True)
class LoadRequest:
    """What a format needs to load one model: the file and the model table's settings."""

    name: str
    path: Path
    input_tensor: str | None = None  # None: the format's own default (or the only one)
    output_tensor: str | None = None
    threads: int | None = None
    xnnpack: bool = True
    resize: str = "pad"
    label_set: str | None = None
    num_classes: int | None = None
    allow_ops: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)  # format-specific keys (normalize)


class ModelFormat(ABC):
    """One kind of model file. Subclasses set the class attributes and the abstract methods."""

    name: ClassVar[str]  # the `format = "..."` value
    label: ClassVar[str]  # how people name it: "TF Lite", "frozen graph"
    suffixes: ClassVar[tuple[str, ...]] = ()  # file name endings it recognises
    is_directory: ClassVar[bool] = False  # a model is a folder (SavedModel)
    size_from_file: ClassVar[bool] = False  # unset input_size means the size the file declares
    own_keys: ClassVar[tuple[str, ...]] = ()  # model-table keys meaningful for this format only
    has_xnnpack: ClassVar[bool] = False  # runs through TF Lite's delegate (explain can flip it)
    explainable: ClassVar[bool] = False  # `intermediates` is implemented
    default_input_tensor: ClassVar[str | None] = None
    default_output_tensor: ClassVar[str | None] = None

    def read_settings(self, table: Mapping[str, Any]) -> dict[str, Any]:
        """This format's own keys (`own_keys`) of a model table, checked: the ModelSpec fields
        they set. A bad value raises ValueError with a message a user can act on."""
        return {}

    def recognises(self, path: Path) -> bool:
        if self.is_directory:
            return path.is_dir()
        return any(str(path).endswith(suffix) for suffix in self.suffixes)

    @abstractmethod
    def safety_report(self, path: Path, allow_ops: Sequence[str] = ()) -> SafetyReport:
        """Every op the file holds against the allowlist; reads the file, runs nothing."""

    @abstractmethod
    def load(self, request: LoadRequest) -> Predictor:
        """The predictor, after the allowlist check has passed on the bytes that load."""

    def inspect(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                size: int | None, default_size: int | None) -> GraphInspection:
        """Measurements for a model card; formats without one say so."""
        from pytest_deeplab.runtime.base import ModelLoadError

        raise ModelLoadError(
            f"{path}: model cards are available for frozen graphs, TF Lite and Keras models, "
            f"not {self.name}. Export a frozen graph (DeepLab's export_model.py) to inspect it."
        )

    def intermediates(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                      threads: int | None, image: Any, xnnpack: bool, unfused: bool,
                      allow_ops: tuple[str, ...], settings: Mapping[str, Any] | None = None
                      ) -> Any:
        """Every intermediate tensor on one image, for `explain`."""
        from pytest_deeplab.runtime.base import ModelLoadError

        raise ModelLoadError(f"{path}: explain reads frozen graphs and TF Lite models, "
                             f"not {self.name}")

    def latency_probe(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                      threads: int | None, image: Any, xnnpack: bool,
                      allow_ops: tuple[str, ...], settings: Mapping[str, Any] | None = None
                      ) -> Any:
        """Untraced and per-op traced inference, for `explain --latency`; `settings` are the
        model's own keys of this format (`own_keys`), as the suite loads it with."""
        from pytest_deeplab.runtime.base import ModelLoadError

        raise ModelLoadError(f"{path}: explain --latency has no probe for {self.label} models")

    def preflight(self, path: Path) -> dict[str, Any]:
        """Can the running TensorFlow load this file at all? Plain data for a worker's reply."""
        return {"ok": True, "problems": [], "notes": [f"no pre-flight check for {self.name}"]}

    def identity(self) -> dict[str, Any]:
        """Versions beyond TensorFlow's that a run of this format depends on."""
        return {}

    def resolve_tensor(self, given: str | None, default: str | None) -> str | None:
        return given if given is not None else default
