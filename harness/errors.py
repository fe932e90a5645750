"""Errors a user can cause: each carries one line saying what was wrong and what to do."""

from __future__ import annotations


class HarnessError(Exception):
    """A bad input or an unusable environment. Command-line entry points print it and exit 2."""

    exit_code = 2


class ConfigError(HarnessError):
    """A configuration value is invalid."""


class DataError(HarnessError):
    """A data file is missing, unreadable or corrupted."""


class MeterUnavailable(HarnessError):
    """An explicitly requested energy meter cannot be read on this machine."""


class Interrupted(Exception):
    """SIGINT (Ctrl-C) or SIGTERM (what SLURM and most schedulers send first) stopped a study.

    The message is one line naming the interrupted round and how to resume; ``exit_code`` is the
    shell's convention for death by that signal (130 for SIGINT, 143 for SIGTERM).
    """

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code
