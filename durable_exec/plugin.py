"""Instrumentation plugins (the official SDK's ``plugin`` module).

Register plugin *factories* on the handler; each builds one plugin per
invocation, whose hooks observe the invocation and its operations::

    from durable_exec import durable_execution
    from durable_exec.plugin import DurableInstrumentationPlugin


    class Timing(DurableInstrumentationPlugin):
        def on_operation_end(self, info):
            print(info.name, info.status.value, info.end_time)


    class TimingFactory:
        def create_plugin(self, info):
            return Timing()


    @durable_execution(plugins=[TimingFactory()])
    def handler(event, context): ...

The official OpenTelemetry plugin (``aws-durable-execution-sdk-python-otel``)
runs unchanged: ``plugins=[ExecutionOtelPluginFactory()]``, or
``DURABLE_EXECUTION_PLUGINS=otel-execution``. See ``durable_exec._plugin_api``
for when and on which thread each hook runs.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

from durable_exec._plugin_api import (
    DurableInstrumentationPlugin,
    DurableInstrumentationPluginFactory,
    InvocationEndInfo,
    InvocationInfo,
    InvocationStartInfo,
    InvocationStatus,
    OperationChangeInfo,
    OperationEndInfo,
    OperationInfo,
    OperationStartInfo,
    OperationType,
    PropagationInput,
    PropagationMetadata,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)
from durable_exec._plugin_runtime import PluginExecutor, PluginHost
from durable_exec._wire import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationUpdate,
)
from durable_exec._wire import OperationType as ServiceOperationType

logger = logging.getLogger("durable_exec.plugins")
"""Where contained plugin failures are logged."""

# Names the official module re-exports from its other modules; they live in this
# package's counterparts of those modules and are looked up on first use.
_ELSEWHERE = {
    "DurableExecutionInvocationOutput": (
        "durable_exec.lambda_service",
        "DurableExecutionInvocationOutput",
    ),
    "ServiceInvocationStatus": ("durable_exec.lambda_service", "InvocationStatus"),
    "LambdaContext": ("durable_exec.types", "LambdaContext"),
    "OperationIdentifier": ("durable_exec.identifier", "OperationIdentifier"),
}


def __getattr__(name: str) -> Any:
    where = _ELSEWHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module_name, attribute = where
    try:
        return getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as error:
        raise AttributeError(
            f"durable_exec.plugin.{name} comes from {module_name}.{attribute}, which this "
            "installation does not provide"
        ) from error


__all__ = [
    "DurableInstrumentationPlugin",
    "DurableInstrumentationPluginFactory",
    "ErrorObject",
    "InvocationEndInfo",
    "InvocationInfo",
    "InvocationStartInfo",
    "InvocationStatus",
    "Operation",
    "OperationAction",
    "OperationChangeInfo",
    "OperationEndInfo",
    "OperationInfo",
    "OperationStartInfo",
    "OperationStatus",
    "OperationType",
    "OperationUpdate",
    "PluginExecutor",
    "PluginHost",
    "PropagationInput",
    "PropagationMetadata",
    "ServiceOperationType",
    "UserFunctionEndInfo",
    "UserFunctionOutcome",
    "UserFunctionStartInfo",
    "logger",
]
