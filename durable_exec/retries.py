"""Retry strategies, presets and ``with_retry`` (the official SDK's ``retries`` module).

Everything here is also importable from :mod:`durable_exec` itself.

Example:
    >>> from durable_exec.retries import RetryStrategyConfig, create_retry_strategy
    >>> strategy = create_retry_strategy(RetryStrategyConfig(max_attempts=2))
    >>> strategy(ValueError("boom"), 1).should_retry, strategy(ValueError("boom"), 2).should_retry
    (True, False)
"""

from durable_exec._config import Numeric
from durable_exec._context import WithRetryConfig, with_retry
from durable_exec._durations import Duration
from durable_exec._retry import (
    JitterStrategy,
    LinearRetryStrategyConfig,
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    create_linear_retry_strategy,
    create_retry_strategy,
)
from durable_exec._signals import SuspendExecution

__all__ = [
    "Duration",
    "JitterStrategy",
    "LinearRetryStrategyConfig",
    "Numeric",
    "RetryDecision",
    "RetryPresets",
    "RetryStrategyConfig",
    "SuspendExecution",
    "WithRetryConfig",
    "create_linear_retry_strategy",
    "create_retry_strategy",
    "with_retry",
]
