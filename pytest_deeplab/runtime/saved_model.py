"""SavedModels exported with a serving signature that maps an image to a mask or logits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.runtime.base import ModelLoadError, to_mask
from pytest_deeplab.runtime.tf import import_tensorflow


class SavedModelPredictor:
    """The `serving_default` signature: one image input; an int mask or float logits output."""

    input_size: int | None = None  # takes the demo-resized image as it is

    def __init__(
        self, name: str, path: Path, threads: int | None, *, allow_ops: tuple[str, ...] = ()
    ) -> None:
        from pytest_deeplab.runtime.safety.check import check_saved_model

        check_saved_model(path, name, allow_ops)  # before tf.saved_model.load runs anything
        tf = import_tensorflow()
        self.name = name
        self.path = str(path)
        if threads:
            try:
                tf.config.threading.set_intra_op_parallelism_threads(threads)
                tf.config.threading.set_inter_op_parallelism_threads(1)
            except RuntimeError:
                pass  # already initialised by an earlier model in this process
        try:
            self.model = tf.saved_model.load(str(path))
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{path}: not a loadable SavedModel directory ({exc})") from None
        signatures = getattr(self.model, "signatures", {})
        if "serving_default" not in signatures:
            raise ModelLoadError(
                f"{path}: no 'serving_default' signature; found {sorted(signatures) or 'none'}"
            )
        self.fn = signatures["serving_default"]
        _, kwargs = self.fn.structured_input_signature
        if len(kwargs) != 1:
            raise ModelLoadError(f"{path}: expected one image input, found {sorted(kwargs)}")
        ((self.input_key, spec),) = kwargs.items()
        self.input_dtype = spec.dtype
        self._tf = tf

    def predict(self, image: np.ndarray) -> np.ndarray:
        x = self._tf.convert_to_tensor(image[np.newaxis])
        if self.input_dtype != x.dtype:
            x = self._tf.cast(x, self.input_dtype)
        outputs = self.fn(**{self.input_key: x})
        (value,) = (v.numpy() for v in outputs.values()) if len(outputs) == 1 else (
            outputs[sorted(outputs)[0]].numpy(),
        )
        result = np.asarray(value)[0]
        if result.dtype.kind == "f":
            result = result.argmax(axis=-1)
        return to_mask(result)

    def describe(self) -> dict[str, Any]:
        return {"format": "saved_model", "input": f"{self.input_key} ({self.input_dtype.name})"}

    def close(self) -> None:
        del self.model
