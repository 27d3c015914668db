"""Loading plugins named in the environment (the official SDK's ``plugin_discovery`` module).

``DURABLE_EXECUTION_PLUGINS=otel-execution`` (comma-separated entry-point names
of the group ``aws_durable_execution.plugins``) adds installed plugin factories
after those passed to ``durable_execution(plugins=...)``. Misconfigurations raise
:class:`PluginLoadError` when the handler is decorated.
"""

from durable_exec._errors import PluginLoadError
from durable_exec._plugin_api import DurableInstrumentationPluginFactory
from durable_exec._plugin_discovery import (
    PLUGIN_ENTRY_POINT_GROUP,
    PLUGIN_ENVIRONMENT_VARIABLE,
    load_configured_plugins,
    logger,
)

__all__ = [
    "PLUGIN_ENTRY_POINT_GROUP",
    "PLUGIN_ENVIRONMENT_VARIABLE",
    "DurableInstrumentationPluginFactory",
    "PluginLoadError",
    "load_configured_plugins",
    "logger",
]
