"""Durable retry strategies for steps: small, pure objects.

A strategy is called as ``strategy(error, attempts_made)`` after a step
attempt fails and answers with a :class:`RetryDecision`. It reads no clock,
does no I/O and never sleeps: the SDK checkpoints the chosen delay
(``RETRY`` with ``NextAttemptDelaySeconds``) and the invocation ends; the
service invokes the function again when the delay has passed.

Plain functions with the same signature work too, and so do tenacity's own
``stop_*``, ``wait_*`` and ``retry_*`` objects, combined in a
:class:`RetryPolicy` and evaluated against the checkpointed attempt count and
timestamps.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import random
import re
import types
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from durable_exec._durations import (
    DelayedDecision,
    Duration,
    DurationLike,
    delay_seconds,
    to_seconds,
)
from durable_exec._errors import ValidationError

__all__ = [
    "ExponentialRetryStrategy",
    "JitterStrategy",
    "LinearRetryStrategy",
    "LinearRetryStrategyConfig",
    "RetryAttempt",
    "RetryDecision",
    "RetryPolicy",
    "RetryPresets",
    "RetryStrategy",
    "RetryStrategyConfig",
    "create_linear_retry_strategy",
    "create_retry_strategy",
    "decide_retry",
]


class JitterStrategy(enum.StrEnum):
    """How a computed delay is randomised.

    ``NONE`` keeps it, ``FULL`` picks uniformly in ``[0, d]``, ``HALF`` in ``[d/2, d]``.
    The result is then rounded up to whole seconds, at least 1 s.
    """

    NONE = "NONE"
    FULL = "FULL"
    HALF = "HALF"

    def apply(self, delay: float, rng: random.Random | None = None) -> float:
        """Return ``delay`` jittered by this strategy."""
        if self is JitterStrategy.NONE or delay <= 0:
            return delay
        draw = (rng or _RNG).random()
        if self is JitterStrategy.FULL:
            return delay * draw
        return delay / 2 + (delay / 2) * draw

    def apply_jitter(self, delay: float, rng: random.Random | None = None) -> float:
        """Return ``delay`` jittered; the official SDK's name for :meth:`apply`."""
        return self.apply(delay, rng)

    def finalize_delay(self, base_delay: float, rng: random.Random | None = None) -> int:
        """Return ``base_delay`` jittered, rounded up to whole seconds, at least 1."""
        return delay_seconds(self.apply(base_delay, rng))


_RNG = random.Random()  # noqa: S311 - jitter, not cryptography


@dataclasses.dataclass(frozen=True, slots=True)
class RetryDecision(DelayedDecision):
    """A retry strategy's answer.

    Attributes:
        should_retry: Whether to try again.
        delay: How long to wait before the next attempt (at least 1 s on the wire).
    """

    should_retry: bool
    delay: Duration = Duration(0)

    @classmethod
    def retry(cls, delay: DurationLike) -> RetryDecision:
        """Retry after ``delay``."""
        return cls(True, Duration(to_seconds(delay, what="retry delay")))  # noqa: FBT003

    @classmethod
    def no_retry(cls) -> RetryDecision:
        """Give up: the step fails with its last error."""
        return cls(False)  # noqa: FBT003


class RetryStrategy(Protocol):
    """``(error, attempts_made) -> RetryDecision``; ``attempts_made`` counts from 1."""

    def __call__(self, error: Exception, attempts_made: int, /) -> RetryDecision:
        """Decide whether to retry after ``attempts_made`` failed attempts."""
        ...


def capped_backoff(initial: float, rate: float, attempts_made: int, cap: float) -> float:
    """Return ``min(initial * rate ** (attempts_made - 1), cap)``.

    Safe for any attempt number: a power too large for a float gives ``cap``.
    """
    if initial <= 0:
        return 0.0
    try:
        base = initial * rate ** max(0, attempts_made - 1)
    except OverflowError:
        return cap
    return min(base, cap)


def _matches(
    error: Exception,
    patterns: Sequence[str | re.Pattern[str]] | None,
    types: Sequence[type[BaseException]] | None,
) -> bool:
    if patterns is None and types is None:
        return True
    if types and isinstance(error, tuple(types)):
        return True
    text = str(error)
    for pattern in patterns or ():
        if isinstance(pattern, re.Pattern):
            if pattern.search(text):
                return True
        elif pattern in text:
            return True
    return False


def check_backoff_settings(max_attempts: int, backoff: float | None = None) -> None:
    """Validate the settings every back-off config shares (retry and wait strategies).

    Raises:
        ValidationError: ``max_attempts`` is not an int of at least 1, or ``backoff``
            is not a finite number of at least 1.
    """
    if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
        raise ValidationError(f"max_attempts must be an int of at least 1, got {max_attempts!r}")
    if backoff is not None and not (backoff >= 1.0 and math.isfinite(backoff)):
        raise ValidationError(f"backoff_rate must be a finite number >= 1.0, got {backoff!r}")


@dataclasses.dataclass(frozen=True)
class RetryStrategyConfig:
    """Exponential back-off settings.

    The delay before attempt ``n + 1`` is ``min(initial_delay * backoff_rate ** (n - 1),
    max_delay)``, jittered, rounded up, at least 1 s.

    Attributes:
        max_attempts: Attempts in all, the first included.
        initial_delay: Delay after the first failure.
        max_delay: Cap on any delay.
        backoff_rate: Growth factor per attempt (>= 1).
        jitter_strategy: Randomisation of each delay.
        retryable_errors: Retry only errors whose message contains one of these
            strings or matches one of these patterns (OR with the types).
        retryable_error_types: Retry only errors of these types (OR with the patterns).
    """

    max_attempts: int = 3
    initial_delay: DurationLike = Duration(5)
    max_delay: DurationLike = Duration(300)
    backoff_rate: float = 2.0
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    retryable_errors: Sequence[str | re.Pattern[str]] | None = None
    retryable_error_types: Sequence[type[BaseException]] | None = None

    def __post_init__(self) -> None:
        check_backoff_settings(self.max_attempts, self.backoff_rate)
        to_seconds(self.initial_delay, what="initial_delay")
        to_seconds(self.max_delay, what="max_delay")

    @property
    def initial_delay_seconds(self) -> int:
        """``initial_delay`` in whole seconds."""
        return to_seconds(self.initial_delay)

    @property
    def max_delay_seconds(self) -> int:
        """``max_delay`` in whole seconds."""
        return to_seconds(self.max_delay)


class _BackoffConfig(Protocol):
    """What :class:`_BackoffStrategy` reads of its config."""

    @property
    def max_attempts(self) -> int: ...
    @property
    def jitter_strategy(self) -> JitterStrategy: ...
    @property
    def retryable_errors(self) -> Sequence[str | re.Pattern[str]] | None: ...
    @property
    def retryable_error_types(self) -> Sequence[type[BaseException]] | None: ...


C = TypeVar("C", bound=_BackoffConfig)


class _BackoffStrategy(Generic[C]):
    """What the built-in strategies share: attempts, error matching, jitter, rounding.

    A subclass computes the delay before jitter (:meth:`_base_delay`).
    """

    __slots__ = ("config", "rng")

    def __init__(self, config: C, rng: random.Random | None = None) -> None:
        self.config = config
        self.rng = rng

    def _base_delay(self, attempts_made: int) -> float:
        raise NotImplementedError

    def delay_for(self, attempts_made: int) -> Duration:
        """Return the delay after ``attempts_made`` failed attempts (jitter applied)."""
        jittered = self.config.jitter_strategy.apply(self._base_delay(attempts_made), self.rng)
        return Duration(delay_seconds(jittered))

    def __call__(self, error: Exception, attempts_made: int, /) -> RetryDecision:
        """Decide; see :class:`RetryStrategy`."""
        c = self.config
        if attempts_made >= c.max_attempts:
            return RetryDecision.no_retry()
        if not _matches(error, c.retryable_errors, c.retryable_error_types):
            return RetryDecision.no_retry()
        return RetryDecision(True, self.delay_for(attempts_made))  # noqa: FBT003

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.config!r})"


class ExponentialRetryStrategy(_BackoffStrategy["RetryStrategyConfig"]):
    """The strategy built from a :class:`RetryStrategyConfig`.

    Args:
        config: The settings.
        rng: Source of jitter (inject a seeded one in tests).
    """

    __slots__ = ()

    def _base_delay(self, attempts_made: int) -> float:
        c = self.config
        return capped_backoff(
            to_seconds(c.initial_delay), c.backoff_rate, attempts_made, to_seconds(c.max_delay)
        )


def create_retry_strategy(config: RetryStrategyConfig | None = None) -> ExponentialRetryStrategy:
    """Return the exponential strategy for ``config`` (defaults when ``None``)."""
    return ExponentialRetryStrategy(config or RetryStrategyConfig())


@dataclasses.dataclass(frozen=True)
class LinearRetryStrategyConfig:
    """Linear back-off settings.

    The delay after attempt ``n`` is ``min(initial_delay + increment * (n - 1), max_delay)``.

    Attributes:
        max_attempts: Attempts in all.
        initial_delay: Delay after the first failure.
        increment: Added per further attempt.
        max_delay: Cap on any delay.
        jitter_strategy: Randomisation of each delay.
        retryable_errors: As in :class:`RetryStrategyConfig`.
        retryable_error_types: As in :class:`RetryStrategyConfig`.
    """

    max_attempts: int = 6
    initial_delay: DurationLike = Duration(1)
    increment: DurationLike = Duration(1)
    max_delay: DurationLike = Duration(300)
    jitter_strategy: JitterStrategy = JitterStrategy.FULL
    retryable_errors: Sequence[str | re.Pattern[str]] | None = None
    retryable_error_types: Sequence[type[BaseException]] | None = None

    def __post_init__(self) -> None:
        check_backoff_settings(self.max_attempts)
        for what in ("initial_delay", "increment", "max_delay"):
            to_seconds(getattr(self, what), what=what)

    @property
    def initial_delay_seconds(self) -> int:
        """``initial_delay`` in whole seconds."""
        return to_seconds(self.initial_delay)

    @property
    def increment_seconds(self) -> int:
        """``increment`` in whole seconds."""
        return to_seconds(self.increment)

    @property
    def max_delay_seconds(self) -> int:
        """``max_delay`` in whole seconds."""
        return to_seconds(self.max_delay)


class LinearRetryStrategy(_BackoffStrategy["LinearRetryStrategyConfig"]):
    """The strategy built from a :class:`LinearRetryStrategyConfig`."""

    __slots__ = ()

    def _base_delay(self, attempts_made: int) -> float:
        c = self.config
        base = to_seconds(c.initial_delay) + to_seconds(c.increment) * max(0, attempts_made - 1)
        return min(float(base), float(to_seconds(c.max_delay)))


def create_linear_retry_strategy(
    config: LinearRetryStrategyConfig | None = None,
) -> LinearRetryStrategy:
    """Return the linear strategy for ``config`` (defaults when ``None``)."""
    return LinearRetryStrategy(config or LinearRetryStrategyConfig())


_FIVE_SECONDS = Duration(5)


class RetryPresets:
    """Named strategies, as in the official SDK."""

    @staticmethod
    def none() -> ExponentialRetryStrategy:
        """One attempt, no retry."""
        return create_retry_strategy(RetryStrategyConfig(max_attempts=1))

    @staticmethod
    def default() -> ExponentialRetryStrategy:
        """What a step uses when none is given: 6 attempts, 5 s doubling to 60 s, full jitter."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=6,
                initial_delay=Duration(5),
                max_delay=Duration(60),
                backoff_rate=2.0,
                jitter_strategy=JitterStrategy.FULL,
            )
        )

    @staticmethod
    def transient() -> ExponentialRetryStrategy:
        """3 attempts, 5 s doubling to 5 min, half jitter."""
        return create_retry_strategy(
            RetryStrategyConfig(max_attempts=3, jitter_strategy=JitterStrategy.HALF)
        )

    @staticmethod
    def resource_availability() -> ExponentialRetryStrategy:
        """5 attempts, 5 s doubling to 5 min, full jitter."""
        return create_retry_strategy(RetryStrategyConfig(max_attempts=5))

    @staticmethod
    def critical() -> ExponentialRetryStrategy:
        """10 attempts, 1 s growing by half each time to 60 s, no jitter."""
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=10,
                initial_delay=Duration(1),
                max_delay=Duration(60),
                backoff_rate=1.5,
                jitter_strategy=JitterStrategy.NONE,
            )
        )

    @staticmethod
    def linear() -> LinearRetryStrategy:
        """6 attempts, 1 s growing by 1 s to 5 min, no jitter."""
        return create_linear_retry_strategy(
            LinearRetryStrategyConfig(jitter_strategy=JitterStrategy.NONE)
        )

    @staticmethod
    def fixed(interval: DurationLike | None = None) -> ExponentialRetryStrategy:
        """5 attempts, ``interval`` (5 s when ``None``) apart."""
        if interval is None:
            interval = _FIVE_SECONDS
        return create_retry_strategy(
            RetryStrategyConfig(
                max_attempts=5,
                initial_delay=interval,
                max_delay=interval,
                backoff_rate=1.0,
                jitter_strategy=JitterStrategy.NONE,
            )
        )


@dataclasses.dataclass(frozen=True, slots=True)
class RetryAttempt:
    """What a :class:`RetryPolicy` knows about a failed attempt.

    Attributes:
        error: The exception the attempt raised.
        attempt_number: Attempts made so far (from 1), as checkpointed.
        first_started_at: When the step's first attempt started (epoch seconds).
        failed_at: When this attempt failed (epoch seconds).
    """

    error: Exception
    attempt_number: int
    first_started_at: float
    failed_at: float


class _Outcome:
    """The failed outcome as tenacity's strategies read it (``retry_state.outcome``)."""

    __slots__ = ("_error",)
    failed = True

    def __init__(self, error: Exception) -> None:
        self._error = error

    def exception(self) -> Exception:
        return self._error

    def result(self) -> Any:
        raise self._error


def _call_state(attempt: RetryAttempt) -> Any:
    """The adapter: ``attempt`` as tenacity's strategies read a ``RetryCallState``.

    This module may not import tenacity (only the service client does, so that
    ``import durable_exec`` stays cheap), so the checkpointed facts are laid out under
    the attribute names tenacity's ``stop_*``, ``wait_*`` and ``retry_*`` objects
    read; nothing here sleeps.
    """
    start, failed_at = attempt.first_started_at, attempt.failed_at
    return types.SimpleNamespace(
        attempt_number=attempt.attempt_number,
        outcome=_Outcome(attempt.error),
        start_time=start,
        outcome_timestamp=failed_at,
        seconds_since_start=max(0.0, failed_at - start),
        idle_for=0.0,
        upcoming_sleep=0.0,
        next_action=None,
        retry_object=None,
        fn=None,
        args=(),
        kwargs={},
    )


def decide_retry(strategy: Callable[..., Any], attempt: RetryAttempt) -> RetryDecision:
    """Ask ``strategy`` whether the step retries after ``attempt`` failed.

    A :class:`RetryPolicy` is given the attempt's timing; any other strategy is
    called as ``strategy(error, attempts_made)``.

    Raises:
        TypeError: The strategy answered something other than a :class:`RetryDecision`.
        Exception: Whatever the strategy raised.
    """
    if isinstance(strategy, RetryPolicy):
        decision = strategy.decide(attempt)
    else:
        decision = strategy(attempt.error, attempt.attempt_number)
    if not isinstance(decision, RetryDecision):
        raise TypeError(f"a retry strategy must return a RetryDecision, got {decision!r}")
    return decision


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """A durable retry policy assembled from tenacity's strategy objects.

    tenacity's ``stop_*``, ``wait_*`` and ``retry_*`` objects (and their
    ``|``/``&``/``+`` combinations) are evaluated against the checkpointed
    attempt count and timestamps: ``stop_after_delay`` measures from the step's
    first attempt, across invocations. The wait is checkpointed, never slept.

    Attributes:
        stop: When to give up (e.g. ``stop_after_attempt(5) | stop_after_delay(3600)``).
            ``None`` means after 6 attempts, as the default preset.
        wait: The delay before the next attempt (e.g. ``wait_exponential(max=60)``);
            rounded up to whole seconds, at least 1 s. ``None`` means 5 s.
        retry: Which failures to retry (e.g. ``retry_if_exception_type(IOError)``).
            ``None`` retries every exception.

    Example:
        >>> from tenacity import stop_after_attempt, wait_exponential
        >>> policy = RetryPolicy(stop=stop_after_attempt(4), wait=wait_exponential(max=30))
    """

    stop: Callable[[Any], bool] | None = None
    wait: Callable[[Any], float] | None = None
    retry: Callable[[Any], bool] | None = None

    def decide(self, attempt: RetryAttempt) -> RetryDecision:
        """Decide with full knowledge of the attempt's timing."""
        state = _call_state(attempt)
        if self.retry is not None and not self.retry(state):
            return RetryDecision.no_retry()
        # As in tenacity: the wait is computed before the stop check, so that
        # stop_before_delay sees the delay that would be checkpointed.
        delay = Duration(delay_seconds(float(self.wait(state)) if self.wait is not None else 5.0))
        state.upcoming_sleep = float(delay.seconds)
        if self.stop is not None:
            if self.stop(state):
                return RetryDecision.no_retry()
        elif attempt.attempt_number >= 6:
            return RetryDecision.no_retry()
        return RetryDecision(True, delay)  # noqa: FBT003

    def __call__(self, error: Exception, attempts_made: int, /) -> RetryDecision:
        """Decide without timing facts (elapsed time counts as zero)."""
        return self.decide(RetryAttempt(error, attempts_made, 0.0, 0.0))
