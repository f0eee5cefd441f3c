"""TF Lite flatbuffers, run by LiteRT (or tf.lite) with XNNPACK unless a model says otherwise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.formats.base import LoadRequest, ModelFormat


class TFLiteFormat(ModelFormat):
    name = "tflite"
    label = "TF Lite"
    suffixes = (".tflite",)
    size_from_file = True
    own_keys = ("resize", "xnnpack")
    has_xnnpack = True
    explainable = True

    def read_settings(self, table: Mapping[str, Any]) -> dict[str, Any]:
        """`resize = "pad" | "stretch"` and `xnnpack = true | false`."""
        from pytest_deeplab.runtime.fitting import RESIZE_MODES

        settings: dict[str, Any] = {}
        if "resize" in table:
            if table["resize"] not in RESIZE_MODES:
                raise ValueError(
                    "resize must be \"pad\" (DeepLab's export: long side to the input size, "
                    "padded with the mean) or \"stretch\" (the TF Lite Task Library's), got "
                    f"{table['resize']!r}")
            settings["resize"] = table["resize"]
        if "xnnpack" in table:
            if not isinstance(table["xnnpack"], bool):
                raise ValueError(f"xnnpack must be true or false, got {table['xnnpack']!r}")
            settings["xnnpack"] = table["xnnpack"]
        return settings

    def safety_report(self, path: Path, allow_ops: Sequence[str] = ()) -> Any:
        from pytest_deeplab.runtime.safety.check import tflite_report
        from pytest_deeplab.runtime.tflite_interpreter import read_model_bytes

        return tflite_report(read_model_bytes(path, path.stem), path, allow_ops)

    def load(self, request: LoadRequest) -> Any:
        from pytest_deeplab.runtime.tflite import TFLitePredictor

        return TFLitePredictor(
            request.name, request.path, input_tensor=request.input_tensor,
            output_tensor=request.output_tensor, threads=request.threads,
            xnnpack=request.xnnpack, resize=request.resize, label_set=request.label_set,
            num_classes=request.num_classes, allow_ops=request.allow_ops,
        )

    def inspect(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                size: int | None, default_size: int | None) -> Any:
        from pytest_deeplab.runtime.tflite_inspect import inspect_tflite

        return inspect_tflite(path)

    def intermediates(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                      threads: int | None, image: Any, xnnpack: bool, unfused: bool,
                      allow_ops: tuple[str, ...], settings: Mapping[str, Any] | None = None
                      ) -> Any:
        from pytest_deeplab.runtime.tflite_intermediates import TFLiteIntermediates

        return TFLiteIntermediates(path, threads, image, xnnpack, allow_ops,
                                   input_tensor=input_tensor, output_tensor=output_tensor)

    def latency_probe(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                      threads: int | None, image: Any, xnnpack: bool,
                      allow_ops: tuple[str, ...], settings: Mapping[str, Any] | None = None
                      ) -> Any:
        from pytest_deeplab.runtime.latency_probe_tflite import TFLiteLatencyProbe

        return TFLiteLatencyProbe(path, threads=threads, image=image, xnnpack=xnnpack,
                                  allow_ops=allow_ops,
                                  resize=str((settings or {}).get("resize", "pad")))

    def identity(self) -> dict[str, Any]:
        from pytest_deeplab.runtime.tflite_interpreter import interpreter_label

        return {"tflite_runtime": interpreter_label()}
