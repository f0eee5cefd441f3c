"""Every layer output of a Keras model on one image, for `explain`, through the suite's predictor.

The model is loaded by `KerasPredictor` (config check first, safe_mode on) and the image goes
through its own input handling (normalize, pad), so explain's mask is the suite's. A second
functional model over the same layers returns every single-tensor layer output in one pass; on
the mini models that is tens of MB, on a large model it is all activations at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from pytest_deeplab.data.images import demo_resize
from pytest_deeplab.runtime.formats.keras_predictor import KerasPredictor
from pytest_deeplab.runtime.intermediate_records import TensorRecord, save_array


class KerasIntermediates:
    """One forward pass of a .keras model with every layer's output kept."""

    def __init__(self, path: Path, threads: int | None, image: np.ndarray,
                 allow_ops: tuple[str, ...] = (), *, normalize: str = "deeplab") -> None:
        import keras

        self.predictor = KerasPredictor(path.stem, path, threads=threads, allow_ops=allow_ops,
                                        normalize=normalize)
        size = self.predictor.input_size
        if size and max(image.shape[:2]) > size:  # as the suite resizes to the model's size
            image = demo_resize(image, size)
        self._mask = self.predictor.predict(image)
        model = self.predictor.model
        layers = [layer for layer in model.layers
                  if not isinstance(layer, keras.layers.InputLayer)
                  and not isinstance(layer.output, (list, tuple))]
        probe = keras.Model(model.inputs, [layer.output for layer in layers])
        batch, _ = self.predictor.batch(image)
        outputs = probe.predict_on_batch(batch)
        self.values: dict[str, np.ndarray] = {"input": batch}
        self.records = [TensorRecord(name="input", op="input", type="InputLayer",
                                     dtype="float32", shape=list(batch.shape),
                                     bytes=int(batch.nbytes))]
        for layer, value in zip(layers, outputs):
            array = np.asarray(value)
            self.values[layer.name] = array
            self.records.append(TensorRecord(
                name=layer.name, op=layer.name, type=type(layer).__name__,
                dtype=array.dtype.name, shape=list(array.shape),
                bytes=int(array.size) * (array.itemsize if array.dtype.kind == "f" else 4)))
        self._output = layers[-1].name if layers else "input"

    def dump(self, names: list[str], folder: Path) -> list[dict[str, Any]]:
        position = {r.name: i for i, r in enumerate(self.records)}
        return [{"name": name, "file": save_array(folder, position[name], self.values[name]),
                 "shape": list(self.values[name].shape)} for name in names]

    def mask(self) -> np.ndarray:
        return self._mask

    def describe(self) -> dict[str, Any]:
        record = self.predictor.runtime_record()
        return {"format": "keras", "runtime": f"Keras {record['keras']}",
                "input": "input", "output": self._output,
                "logits": self._output if self.predictor.output_kind == "logits" else None}

    def close(self) -> None:
        self.values.clear()
        self.predictor.close()
