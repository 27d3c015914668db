"""The error tree (the official SDK's ``exceptions`` module).

The tree, with what each branch means for the execution, is drawn in
``durable_exec._errors``; the common names are also importable from
:mod:`durable_exec` itself. The constants name the API errors the SDK tells
apart: a 4xx (other than 429) fails the execution, except a stale checkpoint
token (``InvalidParameterValueException`` whose message starts with
``Invalid checkpoint token``), which Lambda retries like throttling and 5xx.
"""

from durable_exec._errors import (
    BAD_REQUEST_ERROR,
    INVALID_CHECKPOINT_TOKEN_PREFIX,
    INVALID_PARAMETER_VALUE_EXCEPTION,
    SERVICE_ERROR,
    TOO_MANY_REQUESTS_ERROR,
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    CheckpointError,
    CheckpointErrorCategory,
    ChildContextError,
    DurableApiErrorCategory,
    DurableExecutionsError,
    DurableOperationError,
    ExecutionError,
    InvocationError,
    InvokeError,
    NonDeterministicExecutionError,
    PluginLoadError,
    RetryableSerDesError,
    SerDesError,
    StepError,
    StepInterruptedError,
    TerminationReason,
    UnrecoverableError,
    ValidationError,
    WaitForConditionError,
    register_operation_error,
)
from durable_exec._signals import BranchOrphaned as OrphanedChildException
from durable_exec._signals import SuspendExecution

__all__ = [
    "BAD_REQUEST_ERROR",
    "INVALID_CHECKPOINT_TOKEN_PREFIX",
    "INVALID_PARAMETER_VALUE_EXCEPTION",
    "SERVICE_ERROR",
    "TOO_MANY_REQUESTS_ERROR",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "CheckpointErrorCategory",
    "ChildContextError",
    "DurableApiErrorCategory",
    "DurableExecutionsError",
    "DurableOperationError",
    "ExecutionError",
    "InvocationError",
    "InvokeError",
    "NonDeterministicExecutionError",
    "OrphanedChildException",
    "PluginLoadError",
    "RetryableSerDesError",
    "SerDesError",
    "StepError",
    "StepInterruptedError",
    "SuspendExecution",
    "TerminationReason",
    "UnrecoverableError",
    "ValidationError",
    "WaitForConditionError",
    "register_operation_error",
]
