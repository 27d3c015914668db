"""Which plugin factories a handler runs: explicit ones, then those the environment names.

``@durable_execution(plugins=[...])`` registers factories explicitly. The
environment variable ``DURABLE_EXECUTION_PLUGINS`` (comma-separated names)
adds installed ones: each name is an entry point of the group
``aws_durable_execution.plugins`` (the official OpenTelemetry package declares
``otel-invocation`` and ``otel-execution``). Everything is checked when the
handler is decorated, so a misconfiguration fails at cold start with a
:class:`~durable_exec.PluginLoadError` that says what to fix, never silently
per invocation.
"""

from __future__ import annotations

import inspect
import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from durable_exec._errors import PluginLoadError

if TYPE_CHECKING:
    from importlib import metadata

    from durable_exec._plugin_api import DurableInstrumentationPluginFactory

__all__ = ["PLUGIN_ENTRY_POINT_GROUP", "PLUGIN_ENVIRONMENT_VARIABLE", "load_configured_plugins"]

logger = logging.getLogger("durable_exec.plugins")

PLUGIN_ENTRY_POINT_GROUP = "aws_durable_execution.plugins"
"""The entry-point group plugin packages declare their factories in."""
PLUGIN_ENVIRONMENT_VARIABLE = "DURABLE_EXECUTION_PLUGINS"
"""Comma-separated entry-point names of the plugins to load (e.g. ``otel-execution``)."""

_MARKER = "__durable_registration_api__"


def _qualified(value: object) -> str:
    module = getattr(value, "__module__", None) or "<unknown module>"
    name = getattr(value, "__qualname__", None) or getattr(value, "__name__", None) or "<unnamed>"
    return f"{module}.{name}"


def _describe(value: object) -> str:
    """Name a rejected entry: a class or function by itself, anything else by its type."""
    if isinstance(value, type):
        return f"the class {_qualified(value)}"
    if inspect.isroutine(value):
        return f"the function {_qualified(value)}"
    return f"an instance of {_qualified(type(value))}"


def is_plugin_factory(value: object) -> bool:
    """Whether ``value`` can serve as a factory: ``create_plugin`` callable with one argument.

    A class qualifies only if its ``create_plugin`` is a classmethod, a
    staticmethod or a callable attribute: a plain method would receive the
    invocation info as ``self``. Nothing of the factory runs here.
    """
    create = getattr(value, "create_plugin", None)
    if not callable(create):
        return False
    if (
        isinstance(value, type)
        and getattr(create, "__self__", None) is None
        and inspect.isfunction(create)
    ):
        try:
            declared = inspect.getattr_static(value, "create_plugin")
        except AttributeError:
            declared = None
        if not isinstance(declared, staticmethod):
            return False
    try:
        signature = inspect.signature(create)
    except (TypeError, ValueError):
        return True  # no signature to read (a C callable): take it on its member
    try:
        signature.bind(object())
    except TypeError:
        return False
    return True


def _environment_names(environment: Mapping[str, str]) -> list[str]:
    raw = environment.get(PLUGIN_ENVIRONMENT_VARIABLE)
    if raw is None or not raw.strip():
        return []
    names = [name.strip() for name in raw.split(",")]
    if any(not name for name in names):
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE}={raw!r} has an empty name; give comma-separated "
            "plugin names, e.g. 'otel-execution'."
        )
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise PluginLoadError(
                f"{PLUGIN_ENVIRONMENT_VARIABLE} names the plugin {name!r} twice; name it once."
            )
        seen.add(name)
    return names


def _distribution(entry_point: metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return str(dist.metadata.get("Name", "an unknown distribution"))


def _factory_class(factory: object) -> type:
    return factory if isinstance(factory, type) else type(factory)


def _registration_owner(cls: type) -> type | None:
    """The nearest class in the MRO declaring the registration marker, if it is version 1."""
    for klass in cls.__mro__:
        if _MARKER in vars(klass):
            version = vars(klass)[_MARKER]
            return klass if type(version) is int and version == 1 else None
    return None


def _exclusive_groups(cls: type) -> list[str]:
    groups: list[str] = []
    for klass in cls.__mro__:
        version = vars(klass).get(_MARKER)
        if type(version) is not int or version != 1:
            continue
        try:
            group = getattr(klass, "exclusive_group", None)
        except Exception as error:
            raise PluginLoadError(f"cannot read exclusive_group of {_qualified(cls)}") from error
        if group is None:
            continue
        if type(group) is not str or not group.strip():
            raise PluginLoadError(
                f"plugin factory {_qualified(cls)} declares exclusive_group {group!r}; it must "
                "be None or a non-empty string."
            )
        if group not in groups:
            groups.append(group)
    return groups


def _check_exclusive_groups(factories: Sequence[object]) -> None:
    owners: dict[str, type] = {}
    for factory in factories:
        cls = _factory_class(factory)
        if _registration_owner(cls) is None:
            continue
        for group in _exclusive_groups(cls):
            previous = owners.get(group)
            if previous is cls:
                raise PluginLoadError(
                    f"plugin factory {_qualified(cls)} is registered twice (exclusive group "
                    f"{group!r}); register it once, in plugins= or in "
                    f"{PLUGIN_ENVIRONMENT_VARIABLE}."
                )
            if previous is not None:
                raise PluginLoadError(
                    f"plugin factories {_qualified(previous)} and {_qualified(cls)} cannot run "
                    f"together (exclusive group {group!r}); keep one of them in plugins= and "
                    f"{PLUGIN_ENVIRONMENT_VARIABLE}."
                )
            owners[group] = cls


def _notify(factories: Sequence[object], *, registered: bool) -> None:
    """Tell each opted-in factory (once) whether it was registered; failures are logged."""
    seen: set[int] = set()
    for factory in factories:
        if id(factory) in seen:
            continue
        seen.add(id(factory))
        try:
            if _registration_owner(_factory_class(factory)) is None:
                continue
            callback = getattr(factory, "on_registration_result", None)
            if callable(callback):
                callback(registered)
        except Exception:
            logger.exception("a plugin factory's on_registration_result raised; ignored")


def _load(name: str, entry_point: metadata.EntryPoint) -> object:
    try:
        return entry_point.load()
    except Exception as error:
        raise PluginLoadError(
            f"cannot load the plugin {name!r} ({entry_point.value}, from "
            f"{_distribution(entry_point)}): {type(error).__name__}: {error}"
        ) from error


def load_configured_plugins(
    explicit_plugins: Sequence[DurableInstrumentationPluginFactory] | None,
    *,
    environment: Mapping[str, str] | None = None,
) -> list[DurableInstrumentationPluginFactory]:
    """Return the factories to run: the explicit ones, then those the environment names.

    A factory named in ``DURABLE_EXECUTION_PLUGINS`` that is also passed
    explicitly (the same object) is registered once.

    Args:
        explicit_plugins: Factories passed to ``durable_execution(plugins=...)``.
        environment: Where to read ``DURABLE_EXECUTION_PLUGINS`` (``os.environ`` by default).

    Raises:
        PluginLoadError: An entry is not a factory, a name is unknown, ambiguous or
            fails to load, or two factories of one exclusive group are registered.
    """
    factories: list[object] = list(explicit_plugins or [])
    candidates: list[object] = list(factories)
    try:
        for index, factory in enumerate(factories):
            if not is_plugin_factory(factory):
                raise PluginLoadError(
                    f"plugins[{index}] is {_describe(factory)}, not a plugin factory (an object "
                    "with create_plugin(info) returning a DurableInstrumentationPlugin). Pass a "
                    "factory instance, e.g. plugins=[MyPluginFactory()], not a plugin, a plugin "
                    "class, a function or the factory class."
                )
        names = _environment_names(os.environ if environment is None else environment)
        if names:
            # Only a handler that names installed plugins pays for importlib.metadata.
            from importlib import metadata  # noqa: PLC0415

            try:
                found = list(metadata.entry_points(group=PLUGIN_ENTRY_POINT_GROUP))
            except Exception as error:
                raise PluginLoadError(
                    f"cannot list the installed plugins (entry-point group "
                    f"{PLUGIN_ENTRY_POINT_GROUP!r}): {error}"
                ) from error
            by_name: dict[str, list[metadata.EntryPoint]] = {}
            for entry_point in found:
                by_name.setdefault(entry_point.name, []).append(entry_point)
            for name in names:
                matches = by_name.get(name, [])
                if not matches:
                    installed = ", ".join(sorted(by_name)) or "none"
                    raise PluginLoadError(
                        f"{PLUGIN_ENVIRONMENT_VARIABLE} names the plugin {name!r}, but no "
                        f"installed package provides it (installed: {installed}). Add the "
                        "plugin's package to the function's deployment package or a layer."
                    )
                if len(matches) > 1:
                    sources = ", ".join(_distribution(m) for m in matches)
                    raise PluginLoadError(
                        f"several installed packages provide the plugin {name!r} ({sources}); "
                        "remove all but one."
                    )
                factory = _load(name, matches[0])
                candidates.append(factory)
                if not is_plugin_factory(factory):
                    raise PluginLoadError(
                        f"the plugin {name!r} ({matches[0].value}) is {_describe(factory)}, not "
                        "a plugin factory instance; its entry point must name a factory object."
                    )
                if any(factory is known for known in factories):
                    logger.warning(
                        "%s names %r, whose factory is already registered; registered once",
                        PLUGIN_ENVIRONMENT_VARIABLE,
                        name,
                    )
                    continue
                factories.append(factory)
        _check_exclusive_groups(factories)
    except Exception:
        _notify(candidates, registered=False)
        raise
    _notify(factories, registered=True)
    return cast("list[DurableInstrumentationPluginFactory]", factories)


def describe_factories(factories: Sequence[Any]) -> list[str]:
    """Name each factory (for logs and ``repr``)."""
    return [_qualified(_factory_class(f)) for f in factories]
