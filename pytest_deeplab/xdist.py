"""`--dist loadgroup` that keeps each model's items on one worker, whatever the pytest version.

pytest-xdist groups by an `@group` suffix it appends to item node ids; pytest 9.2 keeps ids
elsewhere and xdist <= 3.8 does not see the suffix (pytest-xdist#1386), so every model would be
loaded by every worker. This scheduler reads the model from the suite's own ids
(`deeplab::<model>::...`) and leaves every other test to xdist's grouping.
"""

from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadGroupScheduling

from pytest_deeplab.constants import SUITE_PREFIX


class ModelGroupScheduling(LoadGroupScheduling):  # type: ignore[misc]
    """LoadGroupScheduling, with one work unit per DeepLab model."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith(SUITE_PREFIX):
            model = nodeid[len(SUITE_PREFIX):].split("::", 1)[0].split("@", 1)[0]
            return f"{SUITE_PREFIX}{model}"
        scope: str = super()._split_scope(nodeid)
        return scope


def make_scheduler(config: Any, log: Any) -> ModelGroupScheduling:
    return ModelGroupScheduling(config, log)
