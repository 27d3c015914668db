"""Exit codes and the one error type the command line reports without a traceback."""

from __future__ import annotations

from typing import Final

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_SUCCEEDED",
    "EXIT_TERMINATED",
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
EXIT_TERMINATED: Final = 143
"""Ended by SIGTERM (the store is left consistent)."""

_KIND_BY_EXIT: Final = {EXIT_FAILED: "failed", EXIT_WAITING: "waiting"}


class CliError(Exception):
    """A problem the user can fix, reported as one line on stderr.

    Args:
        message: What went wrong and, where it helps, what to do.
        exit_code: The process exit code (usage/input error by default).
        kind: A stable code for ``--json`` output (``not_found``, ``store``,
            ``busy``, ``callback_closed``, ``handler_crashed``, ...); by default
            ``invalid_input``, or ``failed``/``waiting`` after the exit code.
    """

    def __init__(self, message: str, exit_code: int = EXIT_USAGE, kind: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.kind = kind or _KIND_BY_EXIT.get(exit_code, "invalid_input")


def exit_code_for(status: str) -> int:
    """Return the exit code for an execution status."""
    if status == "SUCCEEDED":
        return EXIT_SUCCEEDED
    if status in {"FAILED", "TIMED_OUT", "STOPPED"}:
        return EXIT_FAILED
    return EXIT_WAITING
