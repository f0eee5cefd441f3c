"""What the plugin keeps on pytest's `config.stash`, and the run's DeepLab session built on demand.

The hooks (plugin.py) and the fixtures (fixtures.py) both reach the session through here, so
neither imports the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from pytest_deeplab.options import DeepLabOptions

if TYPE_CHECKING:
    from pytest_deeplab.golden.prune import GoldenSweep
    from pytest_deeplab.session import DeepLabSession

OPTIONS_KEY = pytest.StashKey[DeepLabOptions]()
SESSION_KEY: pytest.StashKey[DeepLabSession | None] = pytest.StashKey()
REPORT_DONE_KEY = pytest.StashKey[str]()  # the summary's line about the report
RELEASE_KEY = pytest.StashKey[Any]()  # suite.release.ReleasePlan: when a model may go
ITEMS_KEY = pytest.StashKey[Any]()  # verdicts.record.ItemLog: the one record of the run
RESULTS_DONE_KEY = pytest.StashKey[str]()  # the summary's line about the results file
CARDS_KEY = pytest.StashKey[Any]()  # the model cards the HTML report built (results file reuses)
GOLDENS_KEY: pytest.StashKey[GoldenSweep] = pytest.StashKey()  # unused goldens, (not) pruned


def get_deeplab_session(config: pytest.Config) -> DeepLabSession | None:
    """The run's DeepLabSession, built on first use; None when no models were asked for."""
    if SESSION_KEY in config.stash:
        return config.stash[SESSION_KEY]
    options = config.stash[OPTIONS_KEY]
    session = None
    if options.models is not None:
        from pytest_deeplab.errors import FRIENDLY_ERRORS
        from pytest_deeplab.session import DeepLabSession

        try:
            session = DeepLabSession(options)
        except FRIENDLY_ERRORS as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[SESSION_KEY] = session
    return session
