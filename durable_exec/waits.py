"""``wait_for_condition`` configs and strategies (the official SDK's ``waits`` module).

Everything here is also importable from :mod:`durable_exec` itself.
"""

from durable_exec._config import Numeric
from durable_exec._durations import Duration
from durable_exec._errors import WaitForConditionError
from durable_exec._retry import JitterStrategy
from durable_exec._waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

__all__ = [
    "Duration",
    "JitterStrategy",
    "Numeric",
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitForConditionError",
    "WaitStrategyConfig",
    "create_wait_strategy",
]
