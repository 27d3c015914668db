"""The handler decorator (the official SDK's ``execution`` module).

Example:
    >>> from durable_exec.execution import InvocationStatus, durable_execution
    >>> @durable_execution
    ... def handler(event, context):
    ...     return {"ok": True}
"""

from durable_exec._context import DurableContext
from durable_exec._errors import CheckpointError, ExecutionError, InvocationError
from durable_exec._handler import RESPONSE_LIMIT as LAMBDA_RESPONSE_SIZE_LIMIT
from durable_exec._handler import durable_execution
from durable_exec._plugin_api import DurableInstrumentationPluginFactory
from durable_exec._plugin_discovery import load_configured_plugins
from durable_exec._plugin_runtime import PluginExecutor
from durable_exec._signals import SuspendExecution
from durable_exec._wire import ErrorObject, InvocationStatus

__all__ = [
    "LAMBDA_RESPONSE_SIZE_LIMIT",
    "CheckpointError",
    "DurableContext",
    "DurableInstrumentationPluginFactory",
    "ErrorObject",
    "ExecutionError",
    "InvocationError",
    "InvocationStatus",
    "PluginExecutor",
    "SuspendExecution",
    "durable_execution",
    "load_configured_plugins",
]
