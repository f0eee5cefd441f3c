"""Frozen inference graphs (`frozen_inference_graph.pb`, the zoo's format) under TF 2 compat.v1."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.formats.base import LoadRequest, ModelFormat

INPUT, OUTPUT = "ImageTensor:0", "SemanticPredictions:0"  # the zoo's export names


class FrozenGraphFormat(ModelFormat):
    name = "frozen_graph"
    label = "frozen graph"
    suffixes = (".pb",)
    explainable = True
    default_input_tensor = INPUT
    default_output_tensor = OUTPUT

    def safety_report(self, path: Path, allow_ops: Sequence[str] = ()) -> Any:
        from pytest_deeplab.runtime.graph_def import read_graph_def
        from pytest_deeplab.runtime.safety.check import graph_def_report

        return graph_def_report(read_graph_def(path), path, allow_ops)

    def load(self, request: LoadRequest) -> Any:
        from pytest_deeplab.runtime.frozen_graph import FrozenGraphPredictor

        return FrozenGraphPredictor(
            request.name, request.path,
            request.input_tensor or INPUT, request.output_tensor or OUTPUT,
            request.threads, label_set=request.label_set, num_classes=request.num_classes,
            allow_ops=request.allow_ops,
        )

    def inspect(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                size: int | None, default_size: int | None) -> Any:
        from pytest_deeplab.runtime.graph_inspect import inspect_frozen_graph

        return inspect_frozen_graph(path, input_tensor or INPUT,
                                    output_tensor or OUTPUT, size=size,
                                    default_size=default_size)

    def intermediates(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                      threads: int | None, image: Any, xnnpack: bool, unfused: bool,
                      allow_ops: tuple[str, ...], settings: Mapping[str, Any] | None = None
                      ) -> Any:
        from pytest_deeplab.runtime.graph_intermediates import GraphIntermediates

        return GraphIntermediates(path, input_tensor or INPUT,
                                  output_tensor or OUTPUT, threads, image,
                                  unfused, allow_ops)

    def latency_probe(self, path: Path, *, input_tensor: str | None, output_tensor: str | None,
                      threads: int | None, image: Any, xnnpack: bool,
                      allow_ops: tuple[str, ...], settings: Mapping[str, Any] | None = None
                      ) -> Any:
        from pytest_deeplab.runtime.latency_probe_graph import GraphLatencyProbe

        return GraphLatencyProbe(path, input_tensor=input_tensor or INPUT,
                                 output_tensor=output_tensor or OUTPUT, threads=threads,
                                 image=image, allow_ops=allow_ops)

    def preflight(self, path: Path) -> dict[str, Any]:
        from pytest_deeplab.runtime.compat import check_graph_file

        return check_graph_file(path)
