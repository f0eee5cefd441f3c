"""Fixtures for users' own tests: the selected models, their images, and the suite's checks.

    def test_sky_is_sky(deeplab_model):
        mask = deeplab_model.predict_file("street.png")
        assert (mask[:10] == deeplab_model.label_set.class_names.index("sky")).mean() > 0.9
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # numpy, Pillow and the catalogue load when a fixture is used, not at startup
    import numpy as np

    from pytest_deeplab.catalogue.specs import ModelSpec
    from pytest_deeplab.data.labelsets import LabelSet
    from pytest_deeplab.session import DeepLabSession


@dataclass
class ModelHandle:
    """One selected model as a user's test sees it; loading happens on first predict."""

    spec: ModelSpec
    session: DeepLabSession

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label_set(self) -> LabelSet:
        from pytest_deeplab.data.labelsets import get_label_set

        return get_label_set(self.spec.label_set)

    def predict(self, image: np.ndarray) -> np.ndarray:
        """Mask for an RGB uint8 image, demo-resized to the model's input size first."""
        from pytest_deeplab.data.images import demo_resize

        mask: np.ndarray = self.session.predictor(self.spec).predict(
            demo_resize(image, self.session.input_size(self.spec))
        )
        return mask

    def predict_file(self, path: str | Path) -> np.ndarray:
        """Mask for an image file, read and demo-resized as the suite does."""
        mask: np.ndarray = self.session.predictor(self.spec).predict(
            self.session.prepared_image(Path(path), self.session.input_size(self.spec))
        )
        return mask

    def golden_images(self) -> list[Any]:
        return list(self.session.selection.golden_images(self.spec))

    def labelled_pairs(self) -> list[tuple[Path, Path]]:
        return list(self.session.selection.labelled_pairs(self.spec))


def _session(request: pytest.FixtureRequest) -> DeepLabSession:
    from pytest_deeplab.stash import get_deeplab_session

    session = get_deeplab_session(request.config)
    if session is None:
        pytest.skip("no DeepLab models selected (pass --deeplab-models=...)")
    return session


@pytest.fixture(scope="session")
def deeplab_session(request: pytest.FixtureRequest) -> DeepLabSession:
    """The run's DeepLabSession: catalogue, selection, loaded models (each loaded once)."""
    return _session(request)


def model_handle(request: pytest.FixtureRequest) -> ModelHandle:
    """Parametrized over the models chosen with --deeplab-models, under whatever name it is
    registered: `deeplab_model` here, or a project's own name for it (README, "Living beside
    other plugins"), so a project that has a `deeplab_model` of its own keeps it."""
    session = _session(request)
    name = getattr(request, "param", None)
    if name is None:
        pytest.skip("deeplab_model is parametrized over --deeplab-models; none were selected")
    return ModelHandle(session.catalogue.models[name], session)


deeplab_model = pytest.fixture(name="deeplab_model")(model_handle)


@pytest.fixture
def deeplab_assert_golden(
    request: pytest.FixtureRequest,
) -> Callable[[ModelHandle, str, np.ndarray], None]:
    """`deeplab_assert_golden(model, image_id, mask)`: the suite's golden check on any mask.

    Honours --deeplab-update-golden and writes a diff image on mismatch, like the built-in items.
    """
    session = _session(request)

    def check(model: ModelHandle, image_id: str, mask: np.ndarray) -> None:
        from pytest_deeplab.errors import DeepLabFailure
        from pytest_deeplab.suite.mask import compare_with_golden

        __tracebackhide__ = True
        try:
            compare_with_golden(session, model.spec, image_id, mask, None)
        except DeepLabFailure as exc:  # the report is the message; the plugin's frames are noise
            pytest.fail(str(exc), pytrace=False)

    return check


@pytest.fixture
def deeplab_benchmark(benchmark: Any) -> Callable[[ModelHandle, np.ndarray], Any]:
    """`deeplab_benchmark(model, image)`: warm up, then time `predict` with pytest-benchmark."""

    def run(model: ModelHandle, image: np.ndarray) -> Any:
        from pytest_deeplab.data.images import demo_resize

        predictor = model.session.predictor(model.spec)
        prepared = demo_resize(image, model.session.input_size(model.spec))
        predictor.predict(prepared)  # the first call builds kernels: never timed
        return benchmark.pedantic(predictor.predict, args=(prepared,), rounds=10, warmup_rounds=2)

    return run
