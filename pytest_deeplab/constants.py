"""Names the plugin, the command line, the gate and the reports must spell the same way."""

from __future__ import annotations

from collections.abc import Callable

SUITE_PREFIX = "deeplab::"
"""Node ids of the built-in suite start with this: `deeplab::<model>::<image>::mask`."""

CACHE_ENV = "PYTEST_DEEPLAB_CACHE"
"""Environment variable naming the model cache (`options.env_cache_dir` reads it)."""

GOLDEN_DIR_DEFAULT = "deeplab-golden"
RESULTS_DIR_DEFAULT = "deeplab-results"
LOCK_FILE = "deeplab-zoo.lock"
# The `keras` package is installed by two distributions: releases, and the nightlies tf-nightly
# pulls in (the run identity and bisect both tell them apart).
KERAS_DISTRIBUTIONS = ("keras", "keras-nightly")
"""Under the rootdir: goldens, diff images and results files, and fetched models' checksums."""


Log = Callable[[str], None]
"""Where long-running commands (gate, bisect, explain, environment builds) say what they do."""


def suite_nodeid(model: str, *parts: str) -> str:
    """`deeplab::<model>::<part>::...`, the node id of a built-in suite item."""
    return "::".join((SUITE_PREFIX + model, *parts))
