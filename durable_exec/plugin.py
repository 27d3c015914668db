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

import logging

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
from durable_exec.lambda_service import InvocationStatus as ServiceInvocationStatus
from durable_exec.types import LambdaContext

logger = logging.getLogger("durable_exec.plugins")
"""Where contained plugin failures are logged."""

__all__ = [
    "DurableInstrumentationPlugin",
    "DurableInstrumentationPluginFactory",
    "ErrorObject",
    "InvocationEndInfo",
    "InvocationInfo",
    "InvocationStartInfo",
    "InvocationStatus",
    "LambdaContext",
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
    "ServiceInvocationStatus",
    "ServiceOperationType",
    "UserFunctionEndInfo",
    "UserFunctionOutcome",
    "UserFunctionStartInfo",
    "logger",
]
