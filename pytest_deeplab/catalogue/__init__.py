"""What models and datasets exist: the official zoo, the bundled mini-zoo, and the user's own.

`specs` holds the types, `official` the zoo table, `bundled` the mini-zoo's manifest reader,
`config` the user's `[tool.pytest-deeplab]` tables and `selection` the merged catalogue. The
names below are the ones users and the rest of the project import.
"""

from pytest_deeplab.catalogue.bundled import bundled_catalogue, fixtures_dir
from pytest_deeplab.catalogue.official import OFFICIAL_MODELS
from pytest_deeplab.catalogue.selection import Catalogue, build_catalogue
from pytest_deeplab.catalogue.specs import (
    FORMATS,
    CatalogueError,
    DatasetSpec,
    ModelSpec,
    ZooFacts,
    format_madds,
    validate_label_set,
)

__all__ = [
    "FORMATS", "OFFICIAL_MODELS", "Catalogue", "CatalogueError", "DatasetSpec", "ModelSpec",
    "ZooFacts", "build_catalogue", "bundled_catalogue", "fixtures_dir", "format_madds",
    "validate_label_set",
]
