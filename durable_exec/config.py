"""Operation configs (the official SDK's ``config`` module).

Everything here is also importable from :mod:`durable_exec` itself.

Example:
    >>> from durable_exec.config import Duration, StepConfig, StepSemantics
    >>> config = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)
    >>> Duration.from_minutes(2).to_seconds()
    120
"""

from durable_exec._config import (
    BatchItemStatus,
    CallbackConfig,
    ChildConfig,
    CompletionConfig,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
    InvokeConfig,
    MapConfig,
    NestingType,
    Numeric,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
    complete_batch,
    continue_batch,
)
from durable_exec._durations import Duration
from durable_exec._errors import ValidationError
from durable_exec._retry import JitterStrategy

__all__ = [
    "BatchItemStatus",
    "CallbackConfig",
    "ChildConfig",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionStatus",
    "Duration",
    "InvokeConfig",
    "JitterStrategy",
    "MapConfig",
    "NestingType",
    "Numeric",
    "ParallelBranch",
    "ParallelConfig",
    "StepConfig",
    "StepSemantics",
    "ValidationError",
    "WaitForCallbackConfig",
    "complete_batch",
    "continue_batch",
]
