"""A virtual clock for tests: wall-clock time that moves only when told to.

:class:`VirtualClock` implements :class:`durable_exec._clock.Clock`. ``now`` is
virtual epoch seconds; ``sleep`` and ``timeout_until`` move virtual time forward
and return at once, so code that waits on modelled time never blocks. Elapsed
time inside the process (``monotonic``) stays real, because batching windows and
deadlines measure actual work.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from durable_exec._clock import RealTime

__all__ = ["DEFAULT_IDLE_GRACE", "DEFAULT_START", "VirtualClock"]

DEFAULT_START: float = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
"""The default virtual start time: 2026-01-01T00:00:00Z, in epoch seconds."""

DEFAULT_IDLE_GRACE: float = 0.02
"""Real seconds a waiter for a future virtual time gives running threads to report.

Several times CPython's thread switch interval (5 ms): a thread that is only
waiting for its turn, on a loaded machine, is not mistaken for one that is busy
for a long time. (At 2 ms, a parallel of a 60 s wait and an instant step saw the
wait end first in about 1 run in 100 under load.)
"""


def _to_epoch(value: float | datetime) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            msg = f"naive datetime {value!r}: give a timezone-aware datetime"
            raise ValueError(msg)
        return value.timestamp()
    return float(value)


class VirtualClock:
    """A thread-safe clock whose wall time advances only by explicit calls.

    Time never moves backwards: asking to move to an earlier moment leaves the
    clock where it is.

    Args:
        start: The initial virtual time, as epoch seconds or an aware
            ``datetime``. Defaults to 2026-01-01T00:00:00Z.
        idle_grace: Real seconds :meth:`timeout_until` lets a waiter block.

    Example:
        >>> clock = VirtualClock()
        >>> clock.advance(60)
        >>> clock.now() - DEFAULT_START
        60.0
    """

    __slots__ = ("_lock", "_now", "idle_grace")

    def __init__(
        self, start: float | datetime = DEFAULT_START, idle_grace: float = DEFAULT_IDLE_GRACE
    ) -> None:
        self._lock = threading.Lock()
        self._now = _to_epoch(start)
        self.idle_grace = idle_grace

    def now(self) -> float:
        """Return the virtual wall-clock time in epoch seconds."""
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        """Return the real ``time.monotonic()``: elapsed work time is not modelled."""
        return RealTime.monotonic()

    def sleep(self, seconds: float) -> None:
        """Advance virtual time by ``seconds`` (nothing for zero or less) and return at once."""
        if seconds > 0:
            with self._lock:
                self._now += seconds

    def timeout_until(self, due: float) -> float:
        """Return a short real grace (``0.0`` once ``due`` has come).

        A waiter for ``due`` blocks only for :attr:`idle_grace` real seconds (20 ms
        by default) and then calls :meth:`skip_to`: threads still running get the
        chance to report first, so skipping time does not overtake work that, in
        real time, would finish long before ``due``. (A map or parallel waits so
        for its running branches before it resumes one whose wait or retry is due.)
        """
        return self.idle_grace if due > self.now() else 0.0

    def skip_to(self, due: float) -> None:
        """Jump virtual time to ``due`` (if later)."""
        self.advance_to(due)

    def advance(self, seconds: float) -> None:
        """Advance virtual time by ``seconds``.

        Raises:
            ValueError: If ``seconds`` is negative.
        """
        if seconds < 0:
            msg = f"cannot move a VirtualClock backwards (advance({seconds!r}))"
            raise ValueError(msg)
        with self._lock:
            self._now += seconds

    def advance_to(self, when: float | datetime) -> None:
        """Move virtual time to ``when`` (epoch seconds or aware datetime) if that is later.

        Raises:
            ValueError: If ``when`` is a naive datetime.
        """
        target = _to_epoch(when)
        with self._lock:
            self._now = max(self._now, target)

    def __repr__(self) -> str:
        return f"VirtualClock({datetime.fromtimestamp(self.now(), UTC).isoformat()})"
