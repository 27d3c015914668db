"""plugin, plugin_discovery, filesystem_serdes, preview: every public name of the official module.

The official 3.0.0 modules are read and their public names enumerated: what they
define, their constants, and the SDK types they re-export (standard-library and
typing imports are not part of their API). Each must exist in our counterpart,
and classes must be classes, functions callable, constants equal.
"""

from __future__ import annotations

import importlib
import inspect
import types

import pytest

pytest.importorskip("aws_durable_execution_sdk_python.plugin")

MODULES = ["plugin", "plugin_discovery", "filesystem_serdes", "preview"]
OFFICIAL = "aws_durable_execution_sdk_python"

# Re-exports of the official plugin module that this package keeps internal, as
# issue 10's parity allow-list does for their own modules (tests/parity).
NOT_PUBLIC = {
    "DurableExecutionInvocationOutput": "the handler's output is the envelope dict; "
    "InvocationEndInfo.from_durable_execution_invocation_output takes it (or any object "
    "with status/result/error)",
    "OperationIdentifier": "the official executors' identity record; PluginExecutor's "
    "hooks take durable_exec's own OperationRef",
}


def official_public_names(module: types.ModuleType) -> dict[str, object]:
    names: dict[str, object] = {}
    for name, value in vars(module).items():
        if name.startswith("_") or isinstance(value, types.ModuleType):
            continue
        home = getattr(value, "__module__", None)
        if home is not None and not str(home).startswith(OFFICIAL):
            continue  # a standard-library or typing import
        if home is None and not name.isupper() and name != "logger":
            continue  # `annotations` and other future/typing objects
        names[name] = value
    return names


@pytest.mark.parametrize("module_name", MODULES)
def test_every_official_public_name_exists(module_name):
    """After the import-prefix swap, each public name of the official module resolves."""
    official = importlib.import_module(f"{OFFICIAL}.{module_name}")
    ours = importlib.import_module(f"durable_exec.{module_name}")
    missing = []
    for name, value in official_public_names(official).items():
        if name in NOT_PUBLIC:
            continue
        if not hasattr(ours, name):
            missing.append(name)
            continue
        mine = getattr(ours, name)
        if inspect.isclass(value):
            assert inspect.isclass(mine) or callable(mine), name
        elif callable(value):
            assert callable(mine), name
        elif isinstance(value, str | int | float):
            assert mine == value, name
    assert not missing, f"durable_exec.{module_name} lacks {missing}"


@pytest.mark.parametrize("module_name", MODULES)
def test_all_lists_what_the_module_offers(module_name):
    """__all__ is sorted and every name in it exists."""
    ours = importlib.import_module(f"durable_exec.{module_name}")
    assert ours.__all__ == sorted(ours.__all__, key=lambda n: (not n.isupper(), n))
    for name in ours.__all__:
        assert hasattr(ours, name), name


def test_enum_members_match():
    """Enums carry the same members and values as the official ones."""
    pairs = [
        ("plugin", "InvocationStatus"),
        ("plugin", "OperationType"),
        ("plugin", "UserFunctionOutcome"),
        ("filesystem_serdes", "FileSystemSerDesMode"),
        ("filesystem_serdes", "FileSystemPathEncoding"),
        ("preview", "PreviewMode"),
        ("preview", "FieldMatchMode"),
    ]
    for module_name, enum_name in pairs:
        official = getattr(importlib.import_module(f"{OFFICIAL}.{module_name}"), enum_name)
        ours = getattr(importlib.import_module(f"durable_exec.{module_name}"), enum_name)
        assert {m.name: m.value for m in ours} == {m.name: m.value for m in official}


def test_info_dataclasses_have_the_official_fields():
    """Every hook info has the official fields, in the official order."""
    import dataclasses

    official = importlib.import_module(f"{OFFICIAL}.plugin")
    ours = importlib.import_module("durable_exec.plugin")
    for name in [
        "OperationInfo",
        "OperationStartInfo",
        "OperationEndInfo",
        "OperationChangeInfo",
        "UserFunctionStartInfo",
        "UserFunctionEndInfo",
        "InvocationInfo",
        "InvocationStartInfo",
        "InvocationEndInfo",
        "PropagationInput",
        "PropagationMetadata",
    ]:
        theirs = [(f.name, f.kw_only) for f in dataclasses.fields(getattr(official, name))]
        mine = [(f.name, f.kw_only) for f in dataclasses.fields(getattr(ours, name))]
        assert mine == theirs, name
