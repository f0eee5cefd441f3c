"""Which image an item runs a model on when one image stands for the model (latency, the gate)."""

from __future__ import annotations

import numpy as np

from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.errors import DeepLabFailure
from pytest_deeplab.session import DeepLabSession


def first_image(deeplab: DeepLabSession, model: ModelSpec) -> tuple[str, np.ndarray]:
    """The image latency is measured on: the first golden image, else the first dataset image."""
    refs = deeplab.selection.golden_images(model)
    if refs:
        size = deeplab.input_size(model)
        return refs[0].image_id, deeplab.prepared_image(refs[0].path, size)
    pairs = deeplab.selection.labelled_pairs(model)
    if pairs:
        size = deeplab.input_size(model)
        return pairs[0][0].stem, deeplab.prepared_image(pairs[0][0], size)
    raise DeepLabFailure(
        f"model {model.name} has no golden images and no dataset to measure latency on: set "
        f"golden_images or dataset in [tool.pytest-deeplab.models.{model.name}]"
    )
