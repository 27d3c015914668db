"""Registering plugins: factory checks, the environment, exclusive groups, official types."""

from __future__ import annotations

import pathlib
import textwrap
import threading
from typing import Any, ClassVar

import pytest

from durable_exec import PluginLoadError, RetryDecision, StepConfig, durable_execution
from durable_exec.plugin import DurableInstrumentationPlugin
from durable_exec.plugin_discovery import (
    PLUGIN_ENTRY_POINT_GROUP,
    PLUGIN_ENVIRONMENT_VARIABLE,
    load_configured_plugins,
)


class Plugin(DurableInstrumentationPlugin):
    pass


class Factory:
    def create_plugin(self, info):
        return Plugin()


class ClassFactory:
    @classmethod
    def create_plugin(cls, info):
        return Plugin()


class StaticFactory:
    @staticmethod
    def create_plugin(info):
        return Plugin()


def body(event, context):
    return "ok"


@pytest.mark.parametrize(
    ("entry", "described"),
    [
        (Plugin, "the class"),
        (Plugin(), "an instance of"),
        (Factory, "the class"),  # the factory class, not an instance
        (lambda info: Plugin(), "the function"),
        ("otel-execution", "an instance of builtins.str"),
    ],
)
def test_anything_but_a_factory_is_refused_when_decorating(entry, described):
    """The error names the position and what was passed, at cold start."""
    with pytest.raises(PluginLoadError) as caught:
        durable_execution(plugins=[Factory(), entry])(body)
    assert "plugins[1]" in str(caught.value)
    assert described in str(caught.value)


@pytest.mark.parametrize("factory", [Factory(), ClassFactory, StaticFactory])
def test_factories_of_every_shape_are_accepted(factory):
    """An instance, or a class whose create_plugin is a class or static method."""
    assert load_configured_plugins([factory], environment={}) == [factory]


def _dist(
    tmp_path: pathlib.Path, name: str, entry_points: dict[str, str], module: str = ""
) -> None:
    """Install a fake distribution (dist-info with entry points) under ``tmp_path``."""
    info = tmp_path / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{key} = {value}" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{PLUGIN_ENTRY_POINT_GROUP}]\n{lines}\n")
    if module:
        (tmp_path / f"{name.replace('-', '_')}.py").write_text(textwrap.dedent(module))


PLUGIN_MODULE = """
    from durable_exec.plugin import DurableInstrumentationPlugin

    class Seen(DurableInstrumentationPlugin):
        def __init__(self, log):
            self.log = log

        def on_operation_end(self, info):
            self.log.append(info.name)

    class SeenFactory:
        def __init__(self):
            self.log = []

        def create_plugin(self, info):
            return Seen(self.log)

    FACTORY = SeenFactory()
    NOT_A_FACTORY = object()
    raise_on_import = None
"""


def test_the_environment_adds_installed_plugins_after_explicit_ones(
    tmp_path, monkeypatch, make_runner
):
    """DURABLE_EXECUTION_PLUGINS names entry points; their factories run after explicit ones."""
    _dist(tmp_path, "seen-plugin", {"seen": "seen_plugin:FACTORY"}, PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, " seen ")
    explicit = Factory()
    handler = durable_execution(plugins=[explicit])(
        lambda event, context: context.step(lambda _: 1, name="one")
    )
    import seen_plugin  # type: ignore[import-not-found]

    assert handler.plugins == [explicit, seen_plugin.FACTORY]
    assert make_runner(handler).run().result == 1
    assert seen_plugin.FACTORY.log == ["one"]
    again = load_configured_plugins([seen_plugin.FACTORY])
    assert again == [seen_plugin.FACTORY]  # the same factory is registered once


@pytest.mark.parametrize(
    ("setting", "points", "message"),
    [
        ("seen,", {"seen": "seen_plugin:FACTORY"}, "empty name"),
        ("seen,seen", {"seen": "seen_plugin:FACTORY"}, "twice"),
        ("nope", {"seen": "seen_plugin:FACTORY"}, "installed: .*seen"),
        ("bad", {"bad": "seen_plugin:NOT_A_FACTORY"}, "not a plugin factory"),
        ("gone", {"gone": "seen_plugin:MISSING"}, "cannot load the plugin 'gone'"),
        ("mod", {"mod": "no_such_module:FACTORY"}, "ModuleNotFoundError"),
    ],
)
def test_environment_misconfigurations_fail_at_cold_start(
    tmp_path, monkeypatch, setting, points, message
):
    """Unknown, duplicated, empty, unloadable or wrong entries: a PluginLoadError saying what."""
    _dist(tmp_path, "seen-plugin", points, PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(PLUGIN_ENVIRONMENT_VARIABLE, setting)
    with pytest.raises(PluginLoadError, match=message):
        durable_execution(body)


def test_a_name_two_packages_provide_is_refused(tmp_path, monkeypatch):
    """Two installed packages declaring one plugin name: refuse rather than pick one."""
    _dist(tmp_path, "one-plugin", {"dup": "seen_plugin:FACTORY"}, PLUGIN_MODULE)
    _dist(tmp_path, "two-plugin", {"dup": "seen_plugin:FACTORY"})
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginLoadError, match=r"one-plugin, two-plugin|two-plugin, one-plugin"):
        load_configured_plugins([], environment={PLUGIN_ENVIRONMENT_VARIABLE: "dup"})


class Grouped:
    __durable_registration_api__: ClassVar[int] = 1
    exclusive_group: ClassVar[str | None] = "tracing"
    results: ClassVar[list[tuple[str, bool]]] = []

    def __init__(self, label: str) -> None:
        self.label = label

    def create_plugin(self, info):
        return Plugin()

    def on_registration_result(self, registered: bool) -> None:
        self.results.append((self.label, registered))


class OtherGrouped(Grouped):
    pass


class Unmarked:
    exclusive_group = "tracing"  # ignored without the registration marker

    def create_plugin(self, info):
        return Plugin()


def test_exclusive_groups_refuse_competing_factories_and_report_the_result():
    """Two factories of one group cannot run together; each is told whether it was registered."""
    Grouped.results.clear()
    with pytest.raises(PluginLoadError, match="cannot run together"):
        load_configured_plugins([Grouped("a"), OtherGrouped("b")], environment={})
    assert sorted(Grouped.results) == [("a", False), ("b", False)]
    Grouped.results.clear()
    with pytest.raises(PluginLoadError, match="registered twice"):
        load_configured_plugins([Grouped("a"), Grouped("b")], environment={})
    Grouped.results.clear()
    accepted = load_configured_plugins([Grouped("a"), Unmarked()], environment={})
    assert len(accepted) == 2
    assert Grouped.results == [("a", True)]


class BadlyGrouped(Grouped):
    __durable_registration_api__: ClassVar[int] = 1
    exclusive_group: ClassVar[str | None] = "  "


def test_the_first_problem_in_registration_order_is_the_one_reported():
    """A clash between the first two factories is reported ahead of a later malformed group."""
    with pytest.raises(PluginLoadError, match="cannot run together"):
        load_configured_plugins(
            [Grouped("a"), OtherGrouped("b"), BadlyGrouped("c")], environment={}
        )
    with pytest.raises(PluginLoadError, match="non-empty string"):
        load_configured_plugins([BadlyGrouped("c"), Grouped("a")], environment={})


def test_the_official_otel_factories_are_mutually_exclusive():
    """The official OpenTelemetry views declare one exclusive group; ours honours it."""
    otel = pytest.importorskip("aws_durable_execution_sdk_python_otel")
    with pytest.raises(PluginLoadError, match="aws-durable-execution-otel-view"):
        durable_execution(
            plugins=[otel.InvocationOtelPluginFactory(), otel.ExecutionOtelPluginFactory()]
        )(body)


def test_a_plugin_of_the_official_family_receives_the_official_types(make_runner):
    """Subclasses of the official base class get the official module's infos and enums."""
    official_plugin = pytest.importorskip("aws_durable_execution_sdk_python.plugin")
    official_service = pytest.importorskip("aws_durable_execution_sdk_python.lambda_service")
    seen: list[Any] = []
    lock = threading.Lock()

    class OfficialStyle(official_plugin.DurableInstrumentationPlugin):
        def on_invocation_start(self, info):
            seen.append(info)

        def on_operation_end(self, info):
            with lock:
                seen.append(info)

        def on_invocation_end(self, info):
            seen.append(info)

    class OfficialFactory:
        def create_plugin(self, info):
            return OfficialStyle()

    @durable_execution(plugins=[OfficialFactory()])
    def handler(event, context):
        context.step(
            lambda _: (_ for _ in ()).throw(ValueError("x")),
            name="bad",
            config=StepConfig(retry_strategy=lambda error, attempt: RetryDecision.no_retry()),
        )

    assert make_runner(handler).run().status == "FAILED"
    start, end_op, end = seen
    assert isinstance(start, official_plugin.InvocationStartInfo)
    assert isinstance(end_op, official_plugin.OperationEndInfo)
    assert end_op.operation_type is official_plugin.OperationType.STEP
    assert end_op.status is official_service.OperationStatus.FAILED
    assert isinstance(end_op.error, official_service.ErrorObject)
    assert end.status is official_plugin.InvocationStatus.FAILED
    assert all(isinstance(info, official_plugin.OperationInfo) for info in end.operations.values())
