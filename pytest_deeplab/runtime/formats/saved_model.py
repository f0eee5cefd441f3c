"""SavedModels with a serving signature that maps an image to a mask or logits."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pytest_deeplab.runtime.formats.base import LoadRequest, ModelFormat


class SavedModelFormat(ModelFormat):
    name = "saved_model"
    label = "SavedModel"
    is_directory = True

    def safety_report(self, path: Path, allow_ops: Sequence[str] = ()) -> Any:
        from pytest_deeplab.runtime.safety.check import saved_model_report

        return saved_model_report(path, allow_ops)

    def load(self, request: LoadRequest) -> Any:
        from pytest_deeplab.runtime.saved_model import SavedModelPredictor

        return SavedModelPredictor(request.name, request.path, request.threads,
                                   allow_ops=request.allow_ops)
