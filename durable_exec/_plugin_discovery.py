"""Which plugin factories a handler runs: explicit ones, then those the environment names.

``@durable_execution(plugins=[...])`` registers factories explicitly. The
environment variable ``DURABLE_EXECUTION_PLUGINS`` (comma-separated names)
adds installed ones: each name is an entry point of the group
``aws_durable_execution.plugins`` (the official OpenTelemetry package declares
``otel-invocation`` and ``otel-execution``). Everything is checked when the
handler is decorated, so a misconfiguration fails at cold start with a
:class:`~durable_exec.PluginLoadError` that says what to fix, never silently
per invocation.

Registration metadata (optional, on the factory's class): a class that sets
``__durable_registration_api__ = 1`` in its own body may set
``exclusive_group`` (a non-blank string; at most one registered factory per
group) and define ``on_registration_result(registered)``, which is called
once the decision is made, either way. The metadata of every class in the
MRO that carries that marker counts; a nearer class that sets the marker to
anything but ``1`` switches the whole mechanism off for its subclasses.
"""

from __future__ import annotations

import collections
import inspect
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, cast

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
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


# -- naming things in error messages -------------------------------------------------------


def _dotted_name(obj: object) -> str:
    module = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    return ".".join(part if isinstance(part, str) and part else "?" for part in (module, name))


def _describe(value: object) -> str:
    """Name a rejected entry: a class or function by itself, anything else by its type."""
    named: object = value
    if isinstance(value, type):
        kind = "the class"
    elif inspect.isroutine(value):
        kind = "the function"
    else:
        kind, named = "an instance of", type(value)
    return f"{kind} {_dotted_name(named)}"


def _provider(entry_point: metadata.EntryPoint) -> str:
    """The distribution that declares an entry point, by name."""
    dist = getattr(entry_point, "dist", None)
    name = dist.metadata.get("Name") if dist is not None else None
    return str(name) if name else "an unknown distribution"


# -- what a factory is ---------------------------------------------------------------------


def _accepts_one_argument(member: object) -> bool:
    """Whether ``member(x)`` binds: a slot for one positional value, nothing else required."""
    try:
        parameters = list(inspect.signature(member).parameters.values())  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return True  # nothing to read (a C callable): its presence has to do
    positional = [p for p in parameters if p.kind in _POSITIONAL]
    if not positional and all(p.kind is not p.VAR_POSITIONAL for p in parameters):
        return False
    required_positional = sum(1 for p in positional if p.default is p.empty)
    required_keyword = any(p.kind is p.KEYWORD_ONLY and p.default is p.empty for p in parameters)
    return required_positional <= 1 and not required_keyword


def is_plugin_factory(value: object) -> bool:
    """Whether ``value`` has what a factory needs: a ``create_plugin(info)`` the SDK can call.

    On a class, ``create_plugin`` must be a classmethod, a staticmethod or a
    callable attribute: a plain method would receive the invocation info as
    ``self``. Nothing of the factory runs here.
    """
    member = getattr(value, "create_plugin", None)
    if not callable(member):
        return False
    if isinstance(value, type) and getattr(member, "__self__", None) is None:
        try:
            declared = inspect.getattr_static(value, "create_plugin")
        except AttributeError:
            declared = None
        if inspect.isfunction(declared):
            return False  # a plain method: the invocation info would land in ``self``
    return _accepts_one_argument(member)


def _factory_class(factory: object) -> type:
    return factory if isinstance(factory, type) else type(factory)


# -- registration metadata -----------------------------------------------------------------


def _opted_in(cls: type) -> list[type]:
    """The classes of ``cls``'s MRO whose metadata counts (see the module docstring)."""
    marked = [(klass, vars(klass)[_MARKER]) for klass in cls.__mro__ if _MARKER in vars(klass)]

    def version_one(mark: object) -> bool:
        return type(mark) is int and mark == 1

    if not marked or not version_one(marked[0][1]):
        return []
    return [klass for klass, mark in marked if version_one(mark)]


def _declared_group(klass: type, factory_class: type) -> str | None:
    try:
        group = getattr(klass, "exclusive_group", None)
    except Exception as error:
        raise PluginLoadError(
            f"reading exclusive_group of {_dotted_name(factory_class)} raised"
        ) from error
    if group is not None and (type(group) is not str or not group.strip()):
        raise PluginLoadError(
            f"plugin factory {_dotted_name(factory_class)} declares exclusive_group {group!r}; "
            "it must be None or a non-empty string."
        )
    return group


def _check_exclusive_groups(factories: Sequence[object]) -> None:
    """Raise at the first factory, in registration order, whose exclusive group is taken.

    A factory's own groups are all read (and checked) before it is compared
    with the factories ahead of it; one class naming a group twice in its MRO
    still claims it once.
    """
    claimed: dict[str, type] = {}
    for factory in factories:
        cls = _factory_class(factory)
        declared = (_declared_group(klass, cls) for klass in _opted_in(cls))
        for group in dict.fromkeys(name for name in declared if name is not None):
            earlier = claimed.get(group)
            if earlier is None:
                claimed[group] = cls
            elif earlier is cls:
                raise PluginLoadError(
                    f"plugin factory {_dotted_name(cls)} is registered twice (exclusive group "
                    f"{group!r}); register it once, in plugins= or in "
                    f"{PLUGIN_ENVIRONMENT_VARIABLE}."
                )
            else:
                raise PluginLoadError(
                    f"plugin factories {_dotted_name(earlier)} and {_dotted_name(cls)} cannot "
                    f"run together (exclusive group {group!r}); keep one of them in plugins= "
                    f"and {PLUGIN_ENVIRONMENT_VARIABLE}."
                )


def _announce(factories: Iterable[object], *, registered: bool) -> None:
    """Call ``on_registration_result`` of each opted-in factory once; what it raises is logged."""
    for factory in {id(f): f for f in factories}.values():
        try:
            if not _opted_in(_factory_class(factory)):
                continue
            callback = getattr(factory, "on_registration_result", None)
            if callable(callback):
                callback(registered)
        except Exception:
            logger.exception("a plugin factory's on_registration_result raised; ignored")


# -- the environment -----------------------------------------------------------------------


def _environment_names(environment: Mapping[str, str]) -> list[str]:
    raw = environment.get(PLUGIN_ENVIRONMENT_VARIABLE) or ""
    if not raw.strip():
        return []
    names = [part.strip() for part in raw.split(",")]
    if "" in names:
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE}={raw!r} has an empty name; give comma-separated "
            "plugin names, e.g. 'otel-execution'."
        )
    repeated = [name for name, count in collections.Counter(names).items() if count > 1]
    if repeated:
        listed = ", ".join(repr(name) for name in repeated)
        raise PluginLoadError(
            f"{PLUGIN_ENVIRONMENT_VARIABLE} names {listed} twice or more; name each plugin once."
        )
    return names


def _entry_points_for(names: Sequence[str]) -> list[tuple[str, metadata.EntryPoint]]:
    """Find each name's entry point; every name is checked before anything is imported."""
    from importlib import metadata  # noqa: PLC0415 - only a handler naming plugins pays for it

    try:
        found = metadata.entry_points(group=PLUGIN_ENTRY_POINT_GROUP)
    except Exception as error:
        raise PluginLoadError(
            f"cannot list the installed plugins (entry-point group "
            f"{PLUGIN_ENTRY_POINT_GROUP!r}): {error}"
        ) from error
    by_name: dict[str, list[metadata.EntryPoint]] = collections.defaultdict(list)
    for entry_point in found:
        by_name[entry_point.name].append(entry_point)
    chosen: list[tuple[str, metadata.EntryPoint]] = []
    for name in names:
        offers = by_name.get(name, [])
        if len(offers) == 1:
            chosen.append((name, offers[0]))
        elif not offers:
            installed = ", ".join(sorted(by_name)) or "none"
            raise PluginLoadError(
                f"{PLUGIN_ENVIRONMENT_VARIABLE} names the plugin {name!r}, but no installed "
                f"package provides it (installed: {installed}). Add the plugin's package to "
                "the function's deployment package or a layer."
            )
        else:
            sources = ", ".join(_provider(offer) for offer in offers)
            raise PluginLoadError(
                f"several installed packages provide the plugin {name!r} ({sources}); "
                "remove all but one."
            )
    return chosen


# -- putting it together -------------------------------------------------------------------


class _Registration:
    """One decoration's plugin list in the making.

    ``accepted`` is what will run; ``examined`` is every object looked at
    (accepted or not), which is told ``registered=False`` if the whole
    registration fails.
    """

    def __init__(self) -> None:
        self.accepted: list[object] = []
        self.examined: list[object] = []

    def add_explicit(self, factories: Sequence[object]) -> None:
        self.examined.extend(factories)
        for index, factory in enumerate(factories):
            if not is_plugin_factory(factory):
                raise PluginLoadError(
                    f"plugins[{index}] is {_describe(factory)}, which has no create_plugin(info) "
                    "the SDK can call with the invocation's info. Register factory objects, as in "
                    "plugins=[TracingFactory()]; plugin objects, plugin classes, bare functions "
                    "and uninstantiated factory classes are refused."
                )
        self.accepted.extend(factories)

    def add_installed(self, name: str, entry_point: metadata.EntryPoint) -> None:
        try:
            factory = entry_point.load()
        except Exception as error:
            raise PluginLoadError(
                f"cannot load the plugin {name!r} ({entry_point.value}, from "
                f"{_provider(entry_point)}): {type(error).__name__}: {error}"
            ) from error
        self.examined.append(factory)
        if not is_plugin_factory(factory):
            raise PluginLoadError(
                f"the plugin {name!r} ({entry_point.value}) is {_describe(factory)}, not a "
                "plugin factory instance; its entry point must name a factory object."
            )
        if any(factory is known for known in self.accepted):
            logger.warning(
                "%s names %r, whose factory is already registered; registered once",
                PLUGIN_ENVIRONMENT_VARIABLE,
                name,
            )
            return
        self.accepted.append(factory)


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
    registration = _Registration()
    try:
        registration.add_explicit(list(explicit_plugins or []))
        names = _environment_names(os.environ if environment is None else environment)
        if names:
            for name, entry_point in _entry_points_for(names):
                registration.add_installed(name, entry_point)
        _check_exclusive_groups(registration.accepted)
    except Exception:
        _announce(registration.examined, registered=False)
        raise
    _announce(registration.accepted, registered=True)
    return cast("list[DurableInstrumentationPluginFactory]", registration.accepted)
