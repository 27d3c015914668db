"""Types user code is handed or annotates with (the official SDK's ``types`` module).

The official module declares Protocols for ``DurableContext``, ``Callback`` and
``BatchResult``; here those names are the concrete classes, so they serve both
as annotations and in ``isinstance`` checks.
"""

from durable_exec._arn import DurableExecutionArn
from durable_exec._batch import BatchResult
from durable_exec._config import SummaryGenerator
from durable_exec._context import DurableContext, LambdaContext
from durable_exec._logging import LoggerInterface
from durable_exec._operations.callback import Callback, WaitForCallbackContext
from durable_exec._operations.step import StepContext
from durable_exec._waits import WaitForConditionCheckContext

__all__ = [
    "BatchResult",
    "Callback",
    "DurableContext",
    "DurableExecutionArn",
    "LambdaContext",
    "LoggerInterface",
    "StepContext",
    "SummaryGenerator",
    "WaitForCallbackContext",
    "WaitForConditionCheckContext",
]
