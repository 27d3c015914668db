"""The one seam through which the SDK reads time.

Everything that needs the wall clock (timestamps, timers), elapsed time
(batching windows, deadlines) or a pause (transport back-off) receives a
:class:`Clock`. Tests pass a virtual clock from :mod:`durable_exec.testing`, so
no test ever sleeps; production uses :data:`SYSTEM_CLOCK`.

This module is the only one allowed to call ``time.time``, ``time.sleep`` or
``datetime.now`` (enforced by ruff's ``TID251`` ban list).
"""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """What the SDK needs to know about time.

    ``now`` is wall-clock time used for values that leave the process
    (timestamps, timer due times). ``monotonic`` measures elapsed time inside
    one process. A blocking wait for a wall-clock due time blocks for
    ``timeout_until(due)`` real seconds and, if nothing woke it, calls
    ``skip_to(due)``: the real clock is there already, a virtual clock jumps
    there, so a waiter never blocks on modelled time.
    """

    def now(self) -> float:
        """Return wall-clock time in seconds since the Unix epoch."""
        ...

    def monotonic(self) -> float:
        """Return a monotonic reading in seconds, for measuring elapsed time."""
        ...

    def sleep(self, seconds: float) -> None:
        """Pause the calling thread (or advance virtual time) by ``seconds``."""
        ...

    def timeout_until(self, due: float) -> float:
        """Return how long a blocking wait for wall-clock time ``due`` may block."""
        ...

    def skip_to(self, due: float) -> None:
        """Make ``due`` the present if it is not yet (only a virtual clock can)."""
        ...


class SystemClock:
    """The real clock: the operating system's wall and monotonic time."""

    __slots__ = ()

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def monotonic(self) -> float:
        """Return ``time.monotonic()``."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` (nothing for zero or less)."""
        if seconds > 0:
            time.sleep(seconds)

    def timeout_until(self, due: float) -> float:
        """Return the seconds from now until ``due``, never negative."""
        return max(0.0, due - time.time())

    def skip_to(self, due: float) -> None:
        """Do nothing: real time cannot be moved (the caller has waited already)."""

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()
"""The process-wide real clock."""
