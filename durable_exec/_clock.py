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

__all__ = [
    "CUTOFF_SHARE",
    "RETURN_SHARE",
    "SHUTDOWN_FLOOR",
    "SHUTDOWN_WITHOUT_DEADLINE",
    "SYSTEM_CLOCK",
    "Budget",
    "Clock",
    "Deadline",
    "RealTime",
    "SystemClock",
    "shutdown_budget",
]


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


CUTOFF_SHARE = 0.5
"""The share of a deadline's margin left when waits for running branches end."""

RETURN_SHARE = 0.2
"""The share of a deadline's margin kept after the SDK's last wait, for the handler to return."""


class Deadline:
    """The end of the current Lambda invocation, as the SDK plans around it.

    Lambda kills an invocation at its timeout. The SDK stops starting durable
    work ``margin`` seconds before that (:meth:`near`), so it can flush what is
    queued and end the invocation cleanly. Waits for its branches to report
    end half the margin before the timeout (:meth:`until_cutoff`), leaving the
    rest to the end of the invocation. Its last wait (the final flush, the joins
    of its threads) ends a fifth of the margin before the timeout
    (:meth:`until_end`): that fifth is the handler's, to return its envelope or
    raise. No blocking wait of the SDK outlasts that end.

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
        """Seconds a wait for running branches may still take (never negative).

        Waits for running branches to report (a map or parallel winding down or
        settling) end :data:`CUTOFF_SHARE` of the margin before Lambda's timeout:
        the rest is the end of the invocation's (the final flush, the joins and
        the return; see :meth:`until_end`).
        """
        return max(0.0, self._hard - self.margin * CUTOFF_SHARE - self._clock.monotonic())

    def until_end(self) -> float:
        """Seconds until the SDK's last wait must end (never negative).

        The end is :data:`RETURN_SHARE` of the margin before Lambda's timeout:
        checkpoint waits, the final flush and every join are over by then, and
        what is left is the handler's to return its envelope (or raise) in time.
        """
        return max(0.0, self._hard - self.margin * RETURN_SHARE - self._clock.monotonic())

    def __repr__(self) -> str:
        return f"Deadline(remaining={self.remaining():.3f}s, margin={self.margin:.3f}s)"


SHUTDOWN_FLOOR = 0.1
"""Seconds the end of an invocation may take even once its deadline's end has passed.

Threads about to exit (an idle checkpoint thread told to stop) still can. It is
never more than the share of the margin kept for the return
(:data:`RETURN_SHARE`), so a shutdown starting at the end still finishes before
Lambda's timeout.
"""

SHUTDOWN_WITHOUT_DEADLINE = 60.0
"""Seconds the end of an invocation may take when Lambda's deadline is unknown.

Without ``get_remaining_time_in_millis`` (a script, a test driving the handler
with no context) nothing else bounds the final flush and the joins: a branch
stuck in user code, or a checkpoint call that never answers, then makes the
invocation raise a retryable ``InvocationError`` after this long instead of
hanging.
"""


class Budget:
    """A span of real time shared by several waits, each taking what is left of it.

    The waits it bounds (thread joins, lock acquisitions) are real, so the span
    is measured on the real monotonic clock even when the invocation models
    time with a virtual one.

    Args:
        seconds: The span's length from now; ``None`` for no bound.

    Attributes:
        seconds: The span's length (``None``: unbounded).
    """

    __slots__ = ("_end", "seconds")

    def __init__(self, seconds: float | None) -> None:
        self.seconds = None if seconds is None else max(0.0, seconds)
        self._end = None if self.seconds is None else RealTime.monotonic() + self.seconds

    def left(self) -> float | None:
        """Seconds left (never negative); ``None`` when unbounded."""
        if self._end is None:
            return None
        return max(0.0, self._end - RealTime.monotonic())

    def __repr__(self) -> str:
        left = self.left()
        return "Budget(unbounded)" if left is None else f"Budget(left={left:.3f}s)"


def shutdown_budget(deadline: Deadline | None) -> Budget:
    """The time the end of an invocation may take: the final flush and every join share it.

    With a deadline it lasts until :meth:`Deadline.until_end`, or
    :data:`SHUTDOWN_FLOOR` (at most the return's share of the margin) if that
    has passed; without one, :data:`SHUTDOWN_WITHOUT_DEADLINE` seconds.
    """
    if deadline is None:
        return Budget(SHUTDOWN_WITHOUT_DEADLINE)
    floor = min(SHUTDOWN_FLOOR, deadline.margin * RETURN_SHARE)
    return Budget(max(deadline.until_end(), floor))
