"""The outcome of map and parallel (the official SDK's ``concurrency.models`` module).

Everything here is also importable from :mod:`durable_exec` itself.

Example:
    >>> from durable_exec.concurrency.models import BatchResult, CompletionReason
"""

from durable_exec._batch import BatchItem, BatchResult, CompletionReason
from durable_exec._config import (
    BatchItemStatus,
    CompletionDecision,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
)
from durable_exec._errors import (
    BatchCompletionError,
    ChildContextError,
    DurableOperationError,
    register_operation_error,
)
from durable_exec._wire import ErrorObject

__all__ = [
    "BatchCompletionError",
    "BatchItem",
    "BatchItemStatus",
    "BatchResult",
    "ChildContextError",
    "CompletionDecision",
    "CompletionItemStatus",
    "CompletionOutcome",
    "CompletionReason",
    "CompletionStatus",
    "DurableOperationError",
    "ErrorObject",
    "register_operation_error",
]
