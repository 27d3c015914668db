"""Plugins written against the official SDK's ``plugin`` module get its types.

A plugin that subclasses ``aws_durable_execution_sdk_python.plugin.DurableInstrumentationPlugin``
(the official OpenTelemetry plugin does) compares what it receives with the
official enums by identity (``info.operation_type is OperationType.STEP``). Such a
plugin is handed the official module's info classes, built field for field from
ours; everything else about the hooks is the same.

The official package is never imported here: a plugin of that family has
already imported it, so its modules are taken from ``sys.modules``.
"""

from __future__ import annotations

import dataclasses
import enum
import sys
from types import ModuleType
from typing import Any

from durable_exec._plugin_api import (
    InvocationStatus,
    OperationInfo,
    OperationType,
    PropagationInput,
    UserFunctionOutcome,
)
from durable_exec._wire import ErrorObject, OperationStatus

__all__ = ["OfficialTypes", "official_types_for"]

_PLUGIN_MODULE = "aws_durable_execution_sdk_python.plugin"
_SERVICE_MODULE = "aws_durable_execution_sdk_python.lambda_service"


class OfficialTypes:
    """Converts our hook infos into the official module's classes."""

    def __init__(self, plugin_module: ModuleType, service_module: ModuleType) -> None:
        self._plugin = plugin_module
        self._service = service_module
        self._enums: dict[type[enum.Enum], Any] = {
            OperationType: plugin_module.OperationType,
            InvocationStatus: plugin_module.InvocationStatus,
            UserFunctionOutcome: plugin_module.UserFunctionOutcome,
            OperationStatus: service_module.OperationStatus,
        }
        self.base_class: type = plugin_module.DurableInstrumentationPlugin
        self.metadata_class: type = plugin_module.PropagationMetadata

    def convert(self, info: Any) -> Any:
        """Return the official counterpart of a hook info (or ``PropagationInput``)."""
        official_class = getattr(self._plugin, type(info).__name__)
        values = {
            field.name: self._value(getattr(info, field.name)) for field in dataclasses.fields(info)
        }
        return official_class(**values)

    def _value(self, value: Any) -> Any:
        if isinstance(value, enum.Enum):
            return self._enums[type(value)](value.value)
        if isinstance(value, ErrorObject):
            trace = value.stack_trace
            return self._service.ErrorObject(
                message=value.message,
                type=value.type,
                data=value.data,
                stack_trace=None if trace is None else [*trace],
            )
        if isinstance(value, OperationInfo | PropagationInput):
            return self.convert(value)
        if isinstance(value, dict):
            return {key: self._value(item) for key, item in value.items()}
        return value


_cached: OfficialTypes | None = None


def official_types_for(plugin: object) -> OfficialTypes | None:
    """Return the converter when ``plugin`` belongs to the official plugin family, else ``None``."""
    global _cached  # noqa: PLW0603 - one converter per process, built on first use
    module = sys.modules.get(_PLUGIN_MODULE)
    if module is None:
        return None
    base = getattr(module, "DurableInstrumentationPlugin", None)
    if not isinstance(base, type) or not isinstance(plugin, base):
        return None
    if _cached is None or _cached.base_class is not base:
        service = sys.modules.get(_SERVICE_MODULE)
        if service is None:
            return None
        _cached = OfficialTypes(module, service)
    return _cached
