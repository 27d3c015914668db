"""Exit codes and the one error type the command line reports without a traceback."""

from __future__ import annotations

from typing import Final

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_SUCCEEDED",
    "EXIT_USAGE",
    "EXIT_WAITING",
    "CliError",
    "exit_code_for",
]

EXIT_SUCCEEDED: Final = 0
"""The execution succeeded (or the command did what it was asked)."""
EXIT_FAILED: Final = 1
"""The execution failed, timed out or was stopped (or its handler kept crashing)."""
EXIT_USAGE: Final = 2
"""Usage or input error: bad arguments, unknown ids, unreachable endpoint, unusable store."""
EXIT_WAITING: Final = 3
"""The execution is still running: waiting for a callback, or detached."""
EXIT_INTERRUPTED: Final = 130
"""Interrupted with Ctrl-C (the store is left consistent)."""


class CliError(Exception):
    """A problem the user can fix, reported as one line on stderr.

    Args:
        message: What went wrong and, where it helps, what to do.
        exit_code: The process exit code (usage/input error by default).
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def exit_code_for(status: str) -> int:
    """Return the exit code for an execution status."""
    if status == "SUCCEEDED":
        return EXIT_SUCCEEDED
    if status in {"FAILED", "TIMED_OUT", "STOPPED"}:
        return EXIT_FAILED
    return EXIT_WAITING
