"""Look inside a model file, whatever its format: the measurements a model card is built from."""

from __future__ import annotations

from pathlib import Path

from pytest_deeplab.modelcard.structure import GraphInspection
from pytest_deeplab.runtime.base import ModelLoadError
from pytest_deeplab.runtime.graph_inspect import inspect_frozen_graph
from pytest_deeplab.runtime.tflite_inspect import inspect_tflite


def inspect_model(
    path: Path,
    fmt: str,
    *,
    input_tensor: str = "ImageTensor:0",
    output_tensor: str = "SemanticPredictions:0",
    size: int | None = None,
    default_size: int | None = None,
    allow_ops: tuple[str, ...] = (),
) -> GraphInspection:
    """Inspect a frozen graph or TF Lite model. `size` forces the input size for multiply-adds.

    A file outside the op allowlist raises UnsafeModelError before TensorFlow or an
    interpreter sees it: `pytest-deeplab inspect` shows that verdict instead of a card.
    """
    from pytest_deeplab.runtime.safety.check import report_for
    from pytest_deeplab.runtime.safety.findings import UnsafeModelError

    if not path.exists():
        raise ModelLoadError(f"{path}: no such model file")
    if fmt in ("frozen_graph", "tflite"):
        verdict = report_for(path, fmt, allow_ops)
        if not verdict.ok:
            raise UnsafeModelError(verdict, None)
    if fmt == "frozen_graph":
        return inspect_frozen_graph(path, input_tensor, output_tensor, size=size,
                                    default_size=default_size)
    if fmt == "tflite":
        return inspect_tflite(path)
    if fmt == "keras":  # checked against its allowlist on load (runtime/formats/keras.py)
        from pytest_deeplab.runtime.formats.keras_inspect import inspect_keras

        return inspect_keras(path, size=size, default_size=default_size, allow_ops=allow_ops)
    raise ModelLoadError(
        f"{path}: model cards are available for frozen graphs, TF Lite and Keras models, not "
        f"{fmt!r}. "
        "Export a frozen graph (DeepLab's export_model.py) to inspect it."
    )
