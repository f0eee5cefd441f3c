"""Look inside a model file, whatever its format: the measurements a model card is built from."""

from __future__ import annotations

from pathlib import Path

from pytest_deeplab.modelcard.structure import GraphInspection


def inspect_model(
    path: Path,
    fmt: str,
    *,
    input_tensor: str | None = None,
    output_tensor: str | None = None,
    size: int | None = None,
    default_size: int | None = None,
    allow_ops: tuple[str, ...] = (),
) -> GraphInspection:
    """Inspect a model file through its format. `size` forces the input size for multiply-adds.

    A file outside the op allowlist raises UnsafeModelError before TensorFlow or an
    interpreter sees it: `pytest-deeplab inspect` shows that verdict instead of a card.
    """
    from pytest_deeplab.runtime.formats import format_of_file
    from pytest_deeplab.runtime.safety.findings import UnsafeModelError

    model_format = format_of_file(path, fmt)
    verdict = model_format.safety_report(path, allow_ops)
    if not verdict.ok:
        raise UnsafeModelError(verdict, None)
    return model_format.inspect(path, input_tensor=input_tensor, output_tensor=output_tensor,
                                size=size, default_size=default_size)
