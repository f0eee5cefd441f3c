"""The project's error types that every layer may raise: a leaf module, importing nothing of ours.

`DeepLabError` marks an error whose message is already the whole story for a user (what is wrong,
in which file, and the fix), so the plugin shows it without a traceback: a usage error before
the run, or the failure of the one model it concerns.
"""

from __future__ import annotations


class DeepLabError(Exception):
    """Base of the errors a user can act on from the message alone."""


FRIENDLY_ERRORS: tuple[type[BaseException], ...] = (DeepLabError,)
"""What the plugin turns into a usage error or a model's own failure, without a traceback."""


class DeepLabFailure(AssertionError):
    """A check that failed; pytest shows the message alone (a traceback would only add noise)."""
