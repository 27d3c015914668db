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

__all__ = ["SYSTEM_CLOCK", "Clock", "Deadline", "RealTime", "SystemClock"]


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


class RealTime:
    """The operating system's clocks, held where time-freezing test tools cannot reach.

    freezegun (``DurableTestRunner(freeze_wall_clock=True)``) replaces
    ``time.time`` and ``time.monotonic`` in the ``time`` module and in every
    module's globals; the SDK's own clocks must keep reading real time (batching
    windows and deadlines measure real work), so they call these class attributes.
    """

    __slots__ = ()

    # A tuple in a class: freezegun's sweep of module globals does not look inside.
    _FUNCTIONS = (time.time, time.monotonic)

    @classmethod
    def epoch(cls) -> float:
        """Return the real ``time.time()``."""
        return cls._FUNCTIONS[0]()

    @classmethod
    def monotonic(cls) -> float:
        """Return the real ``time.monotonic()``."""
        return cls._FUNCTIONS[1]()


class SystemClock:
    """The real clock: the operating system's wall and monotonic time."""

    __slots__ = ()

    def now(self) -> float:
        """Return ``time.time()``."""
        return RealTime.epoch()

    def monotonic(self) -> float:
        """Return ``time.monotonic()``."""
        return RealTime.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` (nothing for zero or less)."""
        if seconds > 0:
            time.sleep(seconds)

    def timeout_until(self, due: float) -> float:
        """Return the seconds from now until ``due``, never negative."""
        return max(0.0, due - RealTime.epoch())

    def skip_to(self, due: float) -> None:
        """Do nothing: real time cannot be moved (the caller has waited already)."""

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()
"""The process-wide real clock."""


class Deadline:
    """The end of the current Lambda invocation, as the SDK plans around it.

    Lambda kills an invocation at its timeout. The SDK stops starting durable
    work ``margin`` seconds before that (:meth:`near`), so it can flush what is
    queued and end the invocation cleanly. Waits for other threads end half the
    margin before the timeout (:meth:`until_cutoff`), leaving the flush the other
    half; no blocking wait of the SDK outlasts :meth:`remaining`.

    Args:
        clock: Where elapsed time is read (``monotonic``).
        seconds_left: Seconds until Lambda's timeout, read when the invocation began.
        margin: Seconds kept in reserve for the final flush.
    """

    __slots__ = ("_clock", "_hard", "_soft", "margin")

    def __init__(self, clock: Clock, seconds_left: float, margin: float) -> None:
        start = clock.monotonic()
        self._clock = clock
        self.margin = margin
        self._hard = start + seconds_left
        self._soft = self._hard - margin

    @classmethod
    def from_lambda_context(cls, clock: Clock, lambda_context: object) -> Deadline | None:
        """Read ``get_remaining_time_in_millis()``; ``None`` if the context has no deadline.

        The margin is 20 % of the time left, at most 5 s.
        """
        remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
        if not callable(remaining):
            return None
        try:
            millis = float(remaining())
        except (TypeError, ValueError):
            return None
        seconds = max(0.0, millis / 1000.0)
        return cls(clock, seconds, min(5.0, seconds * 0.2))

    def near(self) -> bool:
        """Whether the reserve margin has been reached: start no more durable work."""
        return self._clock.monotonic() >= self._soft

    def remaining(self) -> float:
        """Seconds until Lambda's timeout (never negative)."""
        return max(0.0, self._hard - self._clock.monotonic())

    def until_near(self) -> float:
        """Seconds until :meth:`near` becomes true (never negative)."""
        return max(0.0, self._soft - self._clock.monotonic())

    def until_cutoff(self) -> float:
        """Seconds a wait for other threads may still take (never negative).

        Such waits (branches finishing, pools joining) end half the margin before
        Lambda's timeout: the other half is the final flush's and the return's.
        """
        return max(0.0, self._hard - self.margin / 2 - self._clock.monotonic())

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s, margin={self.margin:.3f}s)"
