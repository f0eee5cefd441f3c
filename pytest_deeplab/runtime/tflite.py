"""TF Lite DeepLab models, driven by what the model file declares.

The input's dtype, shape and quantization decide how RGB is fed (runtime.tflite_io), the
output's rank and dtype decide whether the mask is an arg-max of logits or the class ids
themselves, and the input's fixed size decides how an image is fitted (runtime.fitting: pad,
DeepLab's export, by default; or stretch). The file is verified before the interpreter sees it
(runtime.tflite_interpreter), so a damaged file is an error on its own items, never a crash.
"""

from __future__ import annotations

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
from pytest_deeplab.runtime.safety.check import checked_tflite_bytes
from pytest_deeplab.runtime.tflite_interpreter import (
    create_interpreter,
    delegate_partitions,
    interpreter_package,
)
from pytest_deeplab.runtime.tflite_io import (
    TensorSpec,
    check_classes,
    choose_input,
    choose_output,
    input_table,
)


class TFLitePredictor:
    """One interpreter behind `predict(image) -> mask`, the mask at the image's own size."""

    def __init__(
        self,
        name: str,
        path: Path,
        *,
        input_tensor: str | None = None,
        output_tensor: str | None = None,
        threads: int | None = None,
        xnnpack: bool = True,
        resize: str = "pad",
        label_set: str | None = None,
        num_classes: int | None = None,
        allow_ops: tuple[str, ...] = (),
        preserve_all_tensors: bool = False,
    ) -> None:
        if resize not in RESIZE_MODES:
            raise ModelLoadError(f"{name}: resize must be one of {', '.join(RESIZE_MODES)}, "
                                 f"not {resize!r}")
        self.name = name
        self.path = str(path)
        self.resize = resize
        self.threads = threads
        self.xnnpack = xnnpack
        package = interpreter_package()
        self.runtime = package.label
        data = checked_tflite_bytes(path, name, allow_ops)
        self.interpreter = create_interpreter(package, path, data, threads, xnnpack,
                                              preserve_all_tensors=preserve_all_tensors)
        inputs = [TensorSpec.from_details(d) for d in self.interpreter.get_input_details()]
        outputs = [TensorSpec.from_details(d) for d in self.interpreter.get_output_details()]
        self.input = choose_input(self.path, name, inputs, input_tensor)
        self.output = choose_output(self.path, name, outputs, output_tensor)
        check_classes(self.path, name, self.output, label_set, num_classes)
        self.output_kind = self.output.kind
        self._table, self._pad = input_table(self.input)
        dynamic = min(self.input.signature[1:3]) < 0
        self.input_hw: tuple[int, int] | None = (
            None if dynamic else (self.input.shape[1], self.input.shape[2])
        )
        self.input_size: int | None = max(self.input_hw) if self.input_hw else None
        self._buffer = np.full(self.input.shape, self._pad, dtype=self.input.dtype)
        self._region: tuple[int, int] | None = None
        self.delegated = delegate_partitions(self.interpreter)

    # -- inference ---------------------------------------------------------------------------

    def predict(self, image: np.ndarray) -> np.ndarray:
        if self.input_hw is None:
            return self._predict_any_size(image)
        place = placement(image.shape[:2], self.input_hw, self.resize)
        self._fill(resized_image(image, place.region_hw), place.region_hw)
        self.interpreter.set_tensor(self.input.index, self._buffer)
        self.interpreter.invoke()
        return mask_back(self._read_mask(place.region_hw), place)

    def _fill(self, fitted: np.ndarray, region: tuple[int, int]) -> None:
        """Write the image's input values into the padded buffer (a table look-up per byte)."""
        if self._region is not None and self._region != region:
            self._buffer[...] = self._pad  # a different region: what lay outside is padding again
        rh, rw = region
        self._buffer[0, :rh, :rw] = np.take(self._table, fitted)  # faster than take(out=view)
        self._region = region

    def _read_mask(self, region: tuple[int, int]) -> np.ndarray:
        """Class ids of the region, read from the output without copying the whole tensor."""
        view = self.interpreter.tensor(self.output.index)()[0]
        rh, rw = region
        if view.shape[:2] != self.input_hw:  # e.g. logits at the output stride
            full = self._ids(view)
            assert self.input_hw is not None
            return np.ascontiguousarray(mask_back(full, Placement(self.input_hw, view.shape[:2]))
                                        [:rh, :rw])
        return self._ids(view[:rh, :rw])

    def _ids(self, values: np.ndarray) -> np.ndarray:
        if self.output_kind == "logits":
            return to_mask(values.argmax(axis=-1))
        if values.ndim == 3:  # [H, W, 1] class ids
            values = values[..., 0]
        if values.dtype == np.uint8:
            return values.copy()  # the view into the interpreter dies with the next invoke
        return to_mask(values)  # int32 / int64: a new uint8 array

    def _predict_any_size(self, image: np.ndarray) -> np.ndarray:
        """A model without a fixed input size takes the image as it is."""
        h, w = image.shape[:2]
        if self._buffer.shape[1:3] != (h, w):
            self.interpreter.resize_tensor_input(self.input.index, [1, h, w, 3])
            self.interpreter.allocate_tensors()
            self._buffer = np.empty((1, h, w, 3), dtype=self.input.dtype)
        self._buffer[0] = np.take(self._table, image)
        self.interpreter.set_tensor(self.input.index, self._buffer)
        self.interpreter.invoke()
        view = self.interpreter.tensor(self.output.index)()[0]
        return mask_back(self._ids(view), Placement((h, w), view.shape[:2]))

    # -- identity ----------------------------------------------------------------------------

    def runtime_record(self) -> dict[str, Any]:
        """What makes this model's masks and timings comparable: goes with goldens and
        benchmarks."""
        return {
            "interpreter": self.runtime,
            "xnnpack": self.xnnpack,
            "delegated_partitions": self.delegated,
            "threads": self.threads,
            "resize": self.resize,
            "input_size": self.input_size,
        }

    def describe(self) -> dict[str, Any]:
        return {
            "format": "tflite",
            "runtime": self.runtime,
            "input": self.input.describe(),
            "output": f"{self.output.describe()} ({self.output_kind})",
            **self.runtime_record(),
        }

    def close(self) -> None:
        del self.interpreter
