"""``DurableTestRunner(freeze_wall_clock=True)``: step code reads the runner's virtual time.

While the runner drives an execution, freezegun replaces ``datetime.now()``,
``datetime.utcnow()``, ``date.today()``, ``time.time()`` (and friends) everywhere,
and this module points them at the runner's :class:`VirtualClock`: a 5-minute
durable wait moves what step code sees by exactly 5 minutes, and a test can
assert on the timestamps a workflow computes. The SDK itself keeps reading real
elapsed time (``durable_exec._clock.RealTime``), so batching windows and
deadlines are unaffected.

freezegun is global to the process: one runner at a time may freeze the clock
(nested runners, such as chained-invoke targets, share it).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from durable_exec._clock import Clock
from durable_exec._errors import ValidationError

__all__ = ["MISSING_FREEZEGUN", "follow_virtual_clock", "require_freezegun"]

MISSING_FREEZEGUN = (
    "DurableTestRunner(freeze_wall_clock=True) needs freezegun (1.5 or later): install the "
    "'testing' extra (pip install 'durable-exec[testing]') or freezegun itself."
)

_LOCK = threading.Lock()
_ACTIVE: list[Clock] = []  # clocks whose freeze is active, innermost last; guarded by _LOCK


def require_freezegun() -> Any:
    """Import freezegun, or raise :class:`ValidationError` saying how to install it."""
    try:
        import freezegun
        import freezegun.api
    except ImportError as exc:
        raise ValidationError(MISSING_FREEZEGUN) from exc
    return freezegun


class _VirtualNow:
    """What freezegun calls for "now": the clock's time, as the naive UTC datetime it expects."""

    def __init__(self, clock: Clock, real_datetime: Any, utc: Any) -> None:
        self._clock = clock
        self._datetime = real_datetime
        self._utc = utc

    def __call__(self) -> Any:
        return self._datetime.fromtimestamp(self._clock.now(), self._utc).replace(tzinfo=None)


@contextlib.contextmanager
def follow_virtual_clock(clock: Clock) -> Iterator[None]:
    """Make the wall clock everyone reads follow ``clock`` for the duration of the block."""
    freezegun = require_freezegun()
    with _LOCK:
        if clock in _ACTIVE:  # a nested runner on the same clock: already frozen
            _ACTIVE.append(clock)
            frozen = None
        else:
            frozen = freezegun.freeze_time(tick=False)
            _ACTIVE.append(clock)
    if frozen is None:
        try:
            yield
        finally:
            with _LOCK:
                _ACTIVE.remove(clock)
        return
    api = freezegun.api
    import datetime as _datetime  # the real module; its classes are read before freezing

    utc = _datetime.UTC
    frozen.start()
    try:
        # freezegun reads "now" from the newest of its factories: make ours the clock.
        api.freeze_factories[-1] = _VirtualNow(clock, api.real_datetime, utc)
        yield
    finally:
        frozen.stop()
        with _LOCK:
            _ACTIVE.remove(clock)
