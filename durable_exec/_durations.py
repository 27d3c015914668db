"""Durations, and the one rounding rule that turns them into the API's whole seconds.

The durable-execution API counts waits, retry delays and timeouts in whole
seconds. :class:`Duration` holds whole seconds; anything finer (a
``datetime.timedelta``, a fractional ``from_seconds``) is rounded **up**, so
the SDK never waits less than asked.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import math

from durable_exec._errors import ValidationError

__all__ = [
    "MAX_WAIT_SECONDS",
    "DelayedDecision",
    "Duration",
    "DurationLike",
    "delay_seconds",
    "to_seconds",
]

MAX_WAIT_SECONDS = 31_622_400
"""The API's upper bound for a wait or retry delay: 366 days."""


def _whole_seconds(value: float, unit: int = 1) -> int:
    """Return ``value`` units of ``unit`` seconds each as whole seconds, rounded up."""
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValidationError(f"a duration cannot be negative, got {value!r}")
        return value * unit
    if math.isnan(value) or math.isinf(value):
        raise ValidationError(f"a duration must be a finite number, got {value!r}")
    if value < 0:
        raise ValidationError(f"a duration cannot be negative, got {value!r}")
    # Scale the decimal the caller wrote, not its binary approximation: in floats
    # 0.07 * 3600 is 252.00000000000003, which would round up to 253 s.
    return math.ceil(decimal.Decimal(str(float(value))) * unit)


_MICROSECOND = datetime.timedelta(microseconds=1)


def _timedelta_seconds(value: datetime.timedelta) -> int:
    """Return ``value`` in whole seconds, rounded up, exactly (no float on the way)."""
    micros = value // _MICROSECOND
    if micros < 0:
        raise ValidationError(f"a duration cannot be negative, got {value!r}")
    return -(-micros // 1_000_000)


@dataclasses.dataclass(frozen=True, slots=True)
class Duration:
    """A non-negative span of time in whole seconds.

    Args:
        seconds: Whole seconds, zero or more.

    Raises:
        ValidationError: ``seconds`` is negative or not an integer.

    Example:
        >>> Duration.from_minutes(1.5).to_seconds()
        90
    """

    seconds: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, int):
            raise ValidationError(
                f"Duration.seconds must be an int, got {self.seconds!r}; "
                "use Duration.from_seconds() for fractions"
            )
        if self.seconds < 0:
            raise ValidationError(f"a duration cannot be negative, got {self.seconds} seconds")

    @classmethod
    def from_seconds(cls, value: float) -> Duration:
        """Return a duration of ``value`` seconds, rounded up to whole seconds."""
        return cls(_whole_seconds(value))

    @classmethod
    def from_minutes(cls, value: float) -> Duration:
        """Return a duration of ``value`` minutes."""
        return cls(_whole_seconds(value, 60))

    @classmethod
    def from_hours(cls, value: float) -> Duration:
        """Return a duration of ``value`` hours."""
        return cls(_whole_seconds(value, 3600))

    @classmethod
    def from_days(cls, value: float) -> Duration:
        """Return a duration of ``value`` days."""
        return cls(_whole_seconds(value, 86400))

    @classmethod
    def from_timedelta(cls, value: datetime.timedelta) -> Duration:
        """Return ``value`` as a duration, rounded up to whole seconds."""
        return cls(_timedelta_seconds(value))

    def to_seconds(self) -> int:
        """Return the duration in whole seconds."""
        return self.seconds

    def to_timedelta(self) -> datetime.timedelta:
        """Return the duration as a ``datetime.timedelta``."""
        return datetime.timedelta(seconds=self.seconds)

    def __add__(self, other: object) -> Duration:
        if isinstance(other, Duration):
            return Duration(self.seconds + other.seconds)
        return NotImplemented


DurationLike = Duration | datetime.timedelta
"""What every duration parameter accepts."""


def to_seconds(value: DurationLike, *, what: str = "duration") -> int:
    """Convert a :data:`DurationLike` to whole seconds (rounding up).

    Args:
        value: A :class:`Duration` or a ``datetime.timedelta``.
        what: What the value is, for the error message.

    Raises:
        ValidationError: ``value`` is of another type or negative.
    """
    if isinstance(value, Duration):
        return value.seconds
    if isinstance(value, datetime.timedelta):
        return _timedelta_seconds(value)
    raise ValidationError(
        f"{what} must be a Duration or datetime.timedelta, got {type(value).__name__}"
    )


def delay_seconds(seconds: float) -> int:
    """Return a retry or polling delay as the API takes it: the one rounding rule.

    Whole seconds, rounded up (never shorter than asked), at least 1 s (the API's
    minimum) and at most :data:`MAX_WAIT_SECONDS`.

    Raises:
        ValidationError: ``seconds`` is not a number (NaN).
    """
    if math.isnan(seconds):
        raise ValidationError("a delay must be a number of seconds, got NaN")
    if seconds >= MAX_WAIT_SECONDS:
        return MAX_WAIT_SECONDS
    return max(1, math.ceil(seconds))


class DelayedDecision:
    """What retry and polling decisions share: a delay, also readable in whole seconds.

    ``RetryDecision`` and ``WaitForConditionDecision`` keep the official SDK's own
    names for their flag (``should_retry``, ``should_continue``) and constructors.
    """

    __slots__ = ()

    delay: Duration

    @property
    def delay_seconds(self) -> int:
        """The delay in whole seconds."""
        return self.delay.to_seconds()
