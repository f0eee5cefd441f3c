"""The built-in suite: per model, a mask item per golden image, an mIOU item and a latency item.

Test ids read `deeplab::<model>::<image>::mask`, `deeplab::<model>::miou` and
`deeplab::<model>::latency`; markers `deeplab`, `deeplab_mask`, `deeplab_miou` and
`deeplab_latency` let `-m` and `-k` pick any slice of it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_deeplab.catalogue.specs import ModelSpec
from pytest_deeplab.data.listing import ImageRef
from pytest_deeplab.errors import DeepLabFailure
from pytest_deeplab.session import DeepLabSession


class DeepLabSuite(pytest.Collector):
    """The `deeplab` node: one child per selected model."""

    def __init__(self, *, deeplab: DeepLabSession, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deeplab = deeplab

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        for model in self.deeplab.selected:
            yield ModelCollector.from_parent(self, name=model.name, model=model)


class ModelCollector(pytest.Collector):
    """One model's items; they share the model, which the session loads once."""

    def __init__(self, *, model: ModelSpec, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model
        self.add_marker(pytest.mark.deeplab)
        # Under `pytest -n N --dist loadgroup` a model's items stay on one worker, which then
        # loads the model once. pytest-xdist registers the marker; without it there is no use
        # for one (and no registration, so --strict-markers still catches a project's typos).
        if self.config.pluginmanager.hasplugin("xdist"):
            self.add_marker(pytest.mark.xdist_group(model.name))

    @property
    def deeplab(self) -> DeepLabSession:
        parent = self.parent
        assert isinstance(parent, DeepLabSuite)
        return parent.deeplab

    def collect(self) -> Iterator[pytest.Item]:
        for ref in self.deeplab.selection.golden_images(self.model):
            yield MaskItem.from_parent(self, name=f"{ref.image_id}::mask", ref=ref)
        yield MiouItem.from_parent(self, name="miou")
        yield LatencyItem.from_parent(self, name="latency")


class DeepLabItem(pytest.Item):
    """Shared plumbing: the model, the session, and failure reports without tracebacks."""

    marker_name = "deeplab"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_marker(getattr(pytest.mark, self.marker_name))

    @property
    def collector(self) -> ModelCollector:
        parent = self.parent
        assert isinstance(parent, ModelCollector)
        return parent

    @property
    def model(self) -> ModelSpec:
        return self.collector.model

    @property
    def deeplab(self) -> DeepLabSession:
        return self.collector.deeplab

    def setup(self) -> None:
        why = self.deeplab.unavailable.get(self.model.name)
        if why:
            pytest.skip(f"model {self.model.name} is not available "
                        f"(--deeplab-allow-missing): {why}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, DeepLabFailure):
            return str(excinfo.value)
        from pytest_deeplab.errors import FRIENDLY_ERRORS

        if isinstance(excinfo.value, FRIENDLY_ERRORS):
            return f"{type(excinfo.value).__name__}: {excinfo.value}"
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path | str, int | None, str]:
        return "deeplab", None, self.nodeid

    def record(self, name: str, value: Any) -> None:
        """A JUnit XML property (and report data) for this item."""
        self.user_properties.append((name, value))

    def check(self) -> None:
        raise NotImplementedError

    def runtest(self) -> None:
        """Run the item's check; every item then records the TF version that ran it."""
        try:
            self.check()
        finally:
            if self.deeplab.any_model_loaded:
                self.record("deeplab_tensorflow", self.deeplab.run_identity()["tensorflow"])
            if self.model.allow_ops:  # an exception to the op allowlist is never silent
                self.record("deeplab_allow_ops", ",".join(self.model.allow_ops))


class MaskItem(DeepLabItem):
    """The mask on one golden image must match its golden within the model's tolerances."""

    marker_name = "deeplab_mask"

    def __init__(self, *, ref: ImageRef, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.ref = ref

    def check(self) -> None:
        from pytest_deeplab.suite.mask import check_against_golden

        check_against_golden(self.deeplab, self.model, self.ref, self.record)


class MiouItem(DeepLabItem):
    """mIOU over the model's labelled dataset, computed as DeepLab's eval.py does."""

    marker_name = "deeplab_miou"

    def check(self) -> None:
        from pytest_deeplab.suite.miou import check_miou

        check_miou(self.deeplab, self.model, self.record)


class LatencyItem(DeepLabItem):
    """CPU inference time through pytest-benchmark, after an explicit warm-up."""

    marker_name = "deeplab_latency"

    def check(self) -> None:
        from pytest_deeplab.suite.latency import run_latency_benchmark

        run_latency_benchmark(self, self.deeplab, self.model)


