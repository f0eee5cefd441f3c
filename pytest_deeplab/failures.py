"""The exception a failed check raises: its message is the whole report."""

from __future__ import annotations


class DeepLabFailure(AssertionError):
    """A check that failed; pytest shows the message alone (a traceback would only add noise)."""
