"""The error family a user can cause: the CLI prints one line and exits 2."""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can fix (bad input, missing data, unknown name)."""


class UsageError(HarnessError):
    """A command-line selection or option that cannot be honoured."""


class DatasetUnavailable(HarnessError):
    """A dataset that cannot be loaded here; the message says how to provide it."""


class PluginError(HarnessError):
    """A plugin that cannot be found, imported or used; the message names it."""
