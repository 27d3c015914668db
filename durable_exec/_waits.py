"""wait_for_condition's configuration and wait strategies (pure, like retry strategies)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from durable_exec._durations import (
    DelayedDecision,
    Duration,
    DurationLike,
    delay_seconds,
    to_seconds,
)
from durable_exec._errors import ValidationError, WaitForConditionError
from durable_exec._retry import JitterStrategy, capped_backoff, check_backoff_settings
from durable_exec._serde import SerDes

__all__ = [
    "WaitForConditionCheckContext",
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitStrategy",
    "WaitStrategyConfig",
    "create_wait_strategy",
]

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class WaitForConditionDecision(DelayedDecision):
    """A wait strategy's answer.

    Attributes:
        should_continue: Whether to check again.
        delay: How long to wait before the next check (at least 1 s on the wire).
    """

    should_continue: bool
    delay: Duration = Duration(0)

    @classmethod
    def continue_waiting(cls, delay: DurationLike) -> WaitForConditionDecision:
        """Check again after ``delay``."""
        return cls(True, Duration(to_seconds(delay, what="delay")))  # noqa: FBT003

    @classmethod
    def stop_polling(cls) -> WaitForConditionDecision:
        """Stop: the current state is the result."""
        return cls(False)  # noqa: FBT003


@dataclasses.dataclass(frozen=True)
class WaitForConditionCheckContext:
    """What a condition check receives.

    Attributes:
        logger: A logger tagged with the operation and attempt.
        attempt: This check's number, from 1.
    """

    logger: Any
    attempt: int = 1


WaitStrategy = Callable[[Any, int], WaitForConditionDecision]
"""``(state, attempt) -> WaitForConditionDecision``."""


@dataclasses.dataclass(frozen=True)
class WaitForConditionConfig(Generic[T]):
    """How wait_for_condition polls.

    Attributes:
        wait_strategy: ``(state, attempt) -> WaitForConditionDecision``, e.g. from
            :func:`create_wait_strategy`.
        initial_state: The state the first check receives.
        serdes: Serdes of the state; the extended-type serdes when ``None``.
    """

    wait_strategy: Callable[[T, int], WaitForConditionDecision]
    initial_state: T
    serdes: SerDes[Any] | None = None

    def __post_init__(self) -> None:
        if not callable(self.wait_strategy):
            raise ValidationError(
                "wait_strategy must be callable as (state, attempt) -> WaitForConditionDecision"
            )


@dataclasses.dataclass(frozen=True)
class WaitStrategyConfig(Generic[T]):
    """Exponential polling settings for :func:`create_wait_strategy`.

    Attributes:
        should_continue_polling: ``(state) -> bool``; polling stops once it is False.
        max_attempts: Checks in all; running out raises :class:`WaitForConditionError`.
        initial_delay: Delay after the first check.
        max_delay: Cap on any delay.
        backoff_rate: Growth factor per check (>= 1).
        jitter_strategy: Randomisation of each delay.
    """

    should_continue_polling: Callable[[T], bool]
    max_attempts: int = 60
    initial_delay: DurationLike = Duration(5)
    max_delay: DurationLike = Duration(300)
    backoff_rate: float = 1.5
    jitter_strategy: JitterStrategy = JitterStrategy.FULL

    def __post_init__(self) -> None:
        if not callable(self.should_continue_polling):
            raise ValidationError("should_continue_polling must be callable as (state) -> bool")
        check_backoff_settings(self.max_attempts, self.backoff_rate)
        if to_seconds(self.initial_delay, what="initial_delay") < 1:
            raise ValidationError("initial_delay is below the 1 second minimum; use 1 s or more")
        if to_seconds(self.max_delay, what="max_delay") < 1:
            raise ValidationError("max_delay is below the 1 second minimum; use 1 s or more")

    @property
    def initial_delay_seconds(self) -> int:
        """``initial_delay`` in whole seconds."""
        return to_seconds(self.initial_delay)

    @property
    def max_delay_seconds(self) -> int:
        """``max_delay`` in whole seconds."""
        return to_seconds(self.max_delay)


class _ExponentialWait(Generic[T]):
    __slots__ = ("config", "rng")

    def __init__(self, config: WaitStrategyConfig[T], rng: random.Random | None) -> None:
        self.config = config
        self.rng = rng

    def __call__(self, state: T, attempt: int) -> WaitForConditionDecision:
        c = self.config
        if not c.should_continue_polling(state):
            return WaitForConditionDecision.stop_polling()
        if attempt >= c.max_attempts:
            raise WaitForConditionError(
                f"wait_for_condition gave up after max_attempts={c.max_attempts} checks: "
                "should_continue_polling still returned True; raise max_attempts or "
                "check the polled state"
            )
        capped = capped_backoff(
            to_seconds(c.initial_delay), c.backoff_rate, attempt, to_seconds(c.max_delay)
        )
        seconds = delay_seconds(c.jitter_strategy.apply(capped, self.rng))
        return WaitForConditionDecision(True, Duration(seconds))  # noqa: FBT003

    def __repr__(self) -> str:
        return f"create_wait_strategy({self.config!r})"


def create_wait_strategy(
    config: WaitStrategyConfig[T], rng: random.Random | None = None
) -> Callable[[T, int], WaitForConditionDecision]:
    """Return an exponential wait strategy.

    The condition being met wins, even on the last attempt. Otherwise the delay
    after check ``n`` is ``min(initial_delay * backoff_rate ** (n - 1), max_delay)``,
    jittered, rounded up, at least 1 s; after ``max_attempts`` checks it raises
    :class:`WaitForConditionError`.
    """
    return _ExponentialWait(config, rng)
