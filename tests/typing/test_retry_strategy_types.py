"""The static types of ``retry_strategy`` fields, checked by ``mypy tests`` (and run by pytest).

A ``RetryStrategyConfig`` (or ``LinearRetryStrategyConfig``) given where a retry
strategy belongs is converted at runtime, as ``create_retry_strategy`` would
build it; the annotations admit it too, so code written that way (AWS's examples
are) type-checks. Reading the field gives the strategy callable, typed as the
official SDK types it. This module is checked with ``warn_unused_ignores``: each
``type: ignore`` below marks a call mypy must keep rejecting.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from durable_exec import (
    LinearRetryStrategyConfig,
    RetryDecision,
    RetryStrategyConfig,
    StepConfig,
    ValidationError,
    WaitForCallbackConfig,
    WithRetryConfig,
)
from durable_exec.config import StepConfig as StepConfigFromConfigModule
from durable_exec.retries import WithRetryConfig as WithRetryConfigFromRetriesModule

# The official SDK 3.0.0's annotation of every retry_strategy field, for reads.
OfficialStrategy = Callable[[Exception, int], RetryDecision] | None


def test_step_config_takes_a_retry_strategy_config() -> None:
    """StepConfig(retry_strategy=RetryStrategyConfig(...)) type-checks and reads as a strategy."""
    config = StepConfig(retry_strategy=RetryStrategyConfig(max_attempts=2))
    strategy: OfficialStrategy = config.retry_strategy
    assert strategy is not None
    assert strategy(ValueError("x"), 1).should_retry
    assert not strategy(ValueError("x"), 2).should_retry


def test_every_retry_strategy_field_takes_both_configs() -> None:
    """The other configs with a retry_strategy field, and the linear config, type-check too."""
    made: list[OfficialStrategy] = [
        StepConfig(retry_strategy=LinearRetryStrategyConfig(max_attempts=2)).retry_strategy,
        StepConfigFromConfigModule(
            retry_strategy=RetryStrategyConfig(max_attempts=2)
        ).retry_strategy,
        WaitForCallbackConfig(retry_strategy=RetryStrategyConfig(max_attempts=2)).retry_strategy,
        WithRetryConfig(retry_strategy=RetryStrategyConfig(max_attempts=2)).retry_strategy,
        WithRetryConfigFromRetriesModule(
            retry_strategy=LinearRetryStrategyConfig(max_attempts=2)
        ).retry_strategy,
    ]
    for strategy in made:
        assert strategy is not None
        assert [strategy(ValueError("x"), n).should_retry for n in (1, 2)] == [True, False]


def test_strategies_and_none_still_type_check() -> None:
    """A strategy function, a lambda and None are accepted as before; None reads as None."""

    def never(error: Exception, attempts_made: int) -> RetryDecision:
        return RetryDecision.no_retry()

    assert StepConfig(retry_strategy=never).retry_strategy is never
    assert StepConfig(retry_strategy=lambda e, n: RetryDecision.no_retry()).retry_strategy
    assert StepConfig(retry_strategy=None).retry_strategy is None
    assert StepConfig().retry_strategy is None


def test_anything_else_is_rejected_by_mypy_and_at_runtime() -> None:
    """A value that is neither a strategy nor a config fails type-checking and construction."""
    with pytest.raises(ValidationError, match="retry_strategy"):
        StepConfig(retry_strategy=3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="retry_strategy"):
        WaitForCallbackConfig(retry_strategy="retry")  # type: ignore[arg-type]


def test_the_field_is_read_only() -> None:
    """The configs stay frozen: assigning the field is a type error and fails at runtime."""
    config = StepConfig()
    with pytest.raises(AttributeError):
        config.retry_strategy = None  # type: ignore[misc]
