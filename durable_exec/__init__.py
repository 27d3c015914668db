"""durable_exec: a fast, synchronous Python SDK for AWS Lambda durable functions.

Handler code written for the official ``aws-durable-execution-sdk-python`` runs
on this package by changing its imports: every public name lives here, and every
public module of the official SDK has a counterpart at the same path
(``durable_exec.config``, ``durable_exec.lambda_service``, ...; see docs/migrating.md).

Example:
    >>> from durable_exec import DurableContext, durable_execution, durable_step
    >>> @durable_step
    ... def add(step_context, a, b):
    ...     return a + b
    >>> @durable_execution
    ... def handler(event, context: DurableContext):
    ...     return context.step(add(1, 2))
"""

import typing as _typing

from durable_exec._batch import BatchItem, BatchResult, CompletionReason
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
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    StepSemantics,
    WaitForCallbackConfig,
    complete_batch,
    continue_batch,
)
from durable_exec._context import (
    DurableContext,
    ExecutionContext,
    WithRetryConfig,
    durable_parallel_branch,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
    with_retry,
)
from durable_exec._durations import Duration
from durable_exec._errors import (
    BatchCompletionError,
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    CheckpointError,
    ChildContextError,
    DurableExecutionsError,
    DurableOperationError,
    ExecutionError,
    InvocationError,
    InvokeError,
    NonDeterministicExecutionError,
    PayloadSizeError,
    PluginLoadError,
    RetryableSerDesError,
    SagaCompensationError,
    SerDesError,
    StepError,
    StepInterruptedError,
    TerminationReason,
    UnrecoverableError,
    ValidationError,
    WaitForConditionError,
)
from durable_exec._handler import DurableHandler, durable_execution
from durable_exec._logging import DurableLogger, LoggerInterface
from durable_exec._operations.callback import Callback, WaitForCallbackContext
from durable_exec._operations.step import StepContext
from durable_exec._retry import (
    ExponentialRetryStrategy,
    JitterStrategy,
    LinearRetryStrategy,
    LinearRetryStrategyConfig,
    RetryDecision,
    RetryPolicy,
    RetryPresets,
    RetryStrategy,
    RetryStrategyConfig,
    create_linear_retry_strategy,
    create_retry_strategy,
)
from durable_exec._serde import (
    ExtendedTypeSerDes,
    JsonSerDes,
    PassThroughSerDes,
    SerDes,
    SerDesContext,
)
from durable_exec._version import __version__
from durable_exec._waits import (
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)
from durable_exec._wire import ErrorObject

if _typing.TYPE_CHECKING:
    from durable_exec._saga import Saga
    from durable_exec._transport_logs import quiet_transport_logs
    from durable_exec._typed import TypedSerDes

__all__ = [
    "BatchCompletionError",
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "Callback",
    "CallbackConfig",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "ChildConfig",
    "ChildContextError",
    "CompletionConfig",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionReason",
    "CompletionStatus",
    "DurableContext",
    "DurableExecutionsError",
    "DurableHandler",
    "DurableLogger",
    "DurableOperationError",
    "Duration",
    "ErrorObject",
    "ExecutionContext",
    "ExecutionError",
    "ExponentialRetryStrategy",
    "ExtendedTypeSerDes",
    "InvocationError",
    "InvokeConfig",
    "InvokeError",
    "JitterStrategy",
    "JsonSerDes",
    "LinearRetryStrategy",
    "LinearRetryStrategyConfig",
    "LoggerInterface",
    "MapConfig",
    "NestingType",
    "NonDeterministicExecutionError",
    "ParallelBranch",
    "ParallelConfig",
    "PassThroughSerDes",
    "PayloadSizeError",
    "PluginLoadError",
    "RetryDecision",
    "RetryPolicy",
    "RetryPresets",
    "RetryStrategy",
    "RetryStrategyConfig",
    "RetryableSerDesError",
    "Saga",
    "SagaCompensationError",
    "SerDes",
    "SerDesContext",
    "SerDesError",
    "StepConfig",
    "StepContext",
    "StepError",
    "StepInterruptedError",
    "StepSemantics",
    "TerminationReason",
    "TypedSerDes",
    "UnrecoverableError",
    "ValidationError",
    "WaitForCallbackConfig",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
    "WaitForConditionConfig",
    "WaitForConditionDecision",
    "WaitForConditionError",
    "WaitStrategyConfig",
    "WithRetryConfig",
    "__version__",
    "complete_batch",
    "continue_batch",
    "create_linear_retry_strategy",
    "create_retry_strategy",
    "create_wait_strategy",
    "durable_execution",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "quiet_transport_logs",
    "with_retry",
]

# Rarely used names load their modules on first access, so ``import durable_exec``
# does not pay for them (a handler that declares no result type, runs no saga...).
_LAZY = {
    "Saga": "durable_exec._saga",
    "TypedSerDes": "durable_exec._typed",
    "quiet_transport_logs": "durable_exec._transport_logs",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'durable_exec' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - only on first access of a lazy name

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
