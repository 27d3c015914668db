"""``DurableContext`` and the decorators (the official SDK's ``context`` module).

Everything here is also importable from :mod:`durable_exec` itself.

Example:
    >>> from durable_exec.context import DurableContext, durable_step
    >>> @durable_step
    ... def greet(step_context, name):
    ...     return f"hello {name}"
"""

from durable_exec._config import (
    CallbackConfig,
    ChildConfig,
    InvokeConfig,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from durable_exec._context import (
    DurableContext,
    ExecutionContext,
    durable_parallel_branch,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
)
from durable_exec._durations import Duration
from durable_exec._errors import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    StepError,
    ValidationError,
)
from durable_exec._ids import OperationIdNamespace
from durable_exec._logging import DurableLogger as Logger
from durable_exec._logging import LoggerInterface
from durable_exec._operations.callback import Callback, WaitForCallbackContext
from durable_exec._operations.step import StepContext
from durable_exec._serde import PASS_THROUGH_SERDES, PassThroughSerDes, SerDes, deserialize
from durable_exec._signals import SuspendExecution
from durable_exec._waits import WaitForConditionCheckContext
from durable_exec._wire import OperationSubType, OperationType

__all__ = [
    "PASS_THROUGH_SERDES",
    "Callback",
    "CallbackConfig",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "ChildConfig",
    "ChildContextError",
    "DurableContext",
    "Duration",
    "ExecutionContext",
    "InvokeConfig",
    "Logger",
    "LoggerInterface",
    "MapConfig",
    "OperationIdNamespace",
    "OperationSubType",
    "OperationType",
    "ParallelBranch",
    "ParallelConfig",
    "PassThroughSerDes",
    "SerDes",
    "StepConfig",
    "StepContext",
    "StepError",
    "SuspendExecution",
    "ValidationError",
    "WaitForCallbackConfig",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
    "deserialize",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
]
