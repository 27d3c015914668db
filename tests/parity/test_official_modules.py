"""Every public module of the official SDK has a counterpart at the same path under durable_exec.

The official wheel (``aws-durable-execution-sdk-python`` 3.0.0, in the test extra)
is read module by module. A module's public names are the non-underscore names it
defines (classes, functions, module-level constants and type aliases; type
variables and its ``logger`` aside) plus those it imports from another public
module of the official SDK: code imports them from there too
(``from aws_durable_execution_sdk_python.execution import InvocationStatus``).
Each must be importable from the counterpart, unless listed below with the
reason it is left out.

The classes among them are compared member by member: every public method,
property and attribute (dataclass fields and what ``__init__`` assigns included)
exists here, and every public callable, constructors included, accepts every call
the official one accepts (same positions, same keyword names, defaults where the
official has them). Members of the official implementation's machinery are left
out in MEMBERS_LEFT_OUT, with the reason.
"""

from __future__ import annotations

import ast
import enum
import importlib
import inspect
import pathlib
import pkgutil
import textwrap
import typing

import pytest

OFFICIAL = "aws_durable_execution_sdk_python"

# Official modules that are the official SDK's machinery, not an API handler or
# test code uses; durable_exec has its own (private) machinery instead.
INTERNAL_MODULES = {
    "__about__": "the version lives in durable_exec.__version__",
    "state": "ExecutionState and the checkpoint batcher: durable_exec's are _state and "
    "_checkpointer",
    "threading": "the official SDK's lock and event helpers",
    "suspend": "helpers that raise the suspension signals; see exceptions.SuspendExecution",
    "operation": "one executor class per operation kind: durable_exec's are in _operations",
    "concurrency.executor": "the map/parallel coordinator: durable_exec's is _concurrency",
}

# Instrumentation plugins have an issue of their own (issue 11): until durable_exec
# has a ``plugin`` module, these names are not expected.
PLUGIN_MODULES = {"plugin", "plugin_discovery"}
# Counterparts another issue (11) builds; their exports are checked here, their
# __all__ bookkeeping by that issue's own tests.
OTHER_OWNERS = {"filesystem_serdes", "preview", "plugin", "plugin_discovery"}
PLUGIN_NAMES = {
    "PluginLoadError",
    "DurableInstrumentationPluginFactory",
    "PluginExecutor",
    "load_configured_plugins",
}

# Names of public modules left out, keyed by the module that defines them (a
# re-import elsewhere is left out with it), each with the reason.
LEFT_OUT: dict[str, dict[str, str]] = {
    "exceptions": {
        "BotoClientError": "one CheckpointError (with the official constructor, "
        "error_category, from_exception...) covers every API failure; botocore's error is "
        "its __cause__",
        "GetExecutionStateError": "likewise: a failed state read is a CheckpointError",
        "AwsErrorMetadata": "typing of BotoClientError's fields",
        "AwsErrorObj": "typing of BotoClientError's fields",
        "BackgroundThreadError": "a checkpoint-thread failure reaches the caller as the "
        "CheckpointError itself",
        "InvalidStateError": "an internal invariant error of the official implementation",
        "OrderedLockError": "an error of the official SDK's internal lock",
        "TimedSuspendExecution": "durable_exec has one suspension signal, SuspendExecution; "
        "its resume_at says when",
    },
    "lambda_service": dict.fromkeys(
        (
            "CallbackDetails",
            "CallbackOptions",
            "ChainedInvokeDetails",
            "ChainedInvokeOptions",
            "CheckpointOutput",
            "CheckpointUpdatedExecutionState",
            "ContextDetails",
            "ContextOptions",
            "DurableExecutionInvocationOutput",
            "DurableServiceClient",
            "ExecutionDetails",
            "LambdaClient",
            "Operation",
            "OperationUpdate",
            "StateOutput",
            "StepDetails",
            "StepOptions",
            "TimestampConverter",
            "WaitDetails",
            "WaitOptions",
        ),
        "wire models and the client of the official implementation: durable_exec's "
        "own are internal; test code reads operations through durable_exec.testing's "
        "result classes, which have the official attributes",
    ),
    "execution": {
        "DurableExecutionInvocationInput": "the parsed invocation envelope: a handler takes "
        "the envelope as the plain dict Lambda sends",
        "InitialExecutionState": "likewise",
        "DurableExecutionInvocationInputWithClient": "the official unit-test seam (an "
        "envelope carrying a fake client): use durable_exec.testing, or "
        "@durable_execution(boto3_client=...)",
        "handle_checkpoint_error": "the official decorator's internal error mapping",
    },
    "identifier": {
        "OperationIdentifier": "the official executors' identity record; durable_exec "
        "checks identities internally and raises NonDeterministicExecutionError",
    },
    "logger": {
        "LogInfo": "the fields the official logger is built from; context.logger and "
        "set_logger() are the API",
    },
    "concurrency.models": dict.fromkeys(
        (
            "Branch",
            "BranchEvent",
            "BranchEventKind",
            "BranchStatus",
            "CompletionPolicy",
            "CompletionRecord",
            "Executable",
            "envelope_summary_generator",
        ),
        "the official map/parallel coordinator's bookkeeping; durable_exec's is "
        "internal (BatchResult and the completion configs are the API)",
    ),
    "serdes": dict.fromkeys(
        (
            "Codec",
            "ContainerCodec",
            "BytesCodec",
            "DateTimeCodec",
            "DecimalCodec",
            "EncodedValue",
            "PrimitiveCodec",
            "TypeCodec",
            "TYPE_CODEC",
            "TypeTag",
            "UuidCodec",
        ),
        "the official extended serdes's codec classes: durable_exec's "
        "ExtendedTypeSerDes writes the same envelopes with its own encoder",
    ),
    "types": {
        "OperationContext": "the official base class of StepContext and the other "
        "operation contexts; durable_exec's have the same attributes",
    },
}


def _relative(module_name: str) -> str:
    return module_name[len(OFFICIAL) + 1 :]


def _is_internal(relative: str) -> bool:
    return any(relative == m or relative.startswith(m + ".") for m in INTERNAL_MODULES)


def _official_modules() -> list[str]:
    official = importlib.import_module(OFFICIAL)
    names = [
        _relative(info.name)
        for info in pkgutil.walk_packages(official.__path__, OFFICIAL + ".")
        if not _is_internal(_relative(info.name))
    ]
    return sorted(names)


def _defined(relative: str) -> set[str]:
    module = importlib.import_module(f"{OFFICIAL}.{relative}")
    tree = ast.parse(pathlib.Path(module.__file__ or "").read_text())
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return {
        name
        for name in names
        if not name.startswith("_")
        and name != "logger"
        and not isinstance(getattr(module, name, None), typing.TypeVar | typing.ParamSpec)
    }


def _home(value: object) -> str | None:
    module = getattr(value, "__module__", None)
    if isinstance(module, str) and module.startswith(OFFICIAL + "."):
        return _relative(module)
    return None


def public_names(relative: str) -> dict[str, str]:
    """``{name: home module}`` of the official module's public names."""
    module = importlib.import_module(f"{OFFICIAL}.{relative}")
    names = dict.fromkeys(_defined(relative), relative)
    for name, value in vars(module).items():
        if name.startswith("_") or name in names or inspect.ismodule(value):
            continue
        home = _home(value)
        if home and not _is_internal(home) and name in _defined(home):
            names[name] = home
    return names


def _plugins_pending() -> bool:
    try:
        importlib.import_module("durable_exec.plugin")
    except ImportError:
        return True
    return False


def expected(relative: str) -> dict[str, str]:
    """The names durable_exec's counterpart must export, with their home modules."""
    names = public_names(relative)
    return {
        name: home
        for name, home in names.items()
        if name not in LEFT_OUT.get(home, {})
        and not (_plugins_pending() and (name in PLUGIN_NAMES or home in PLUGIN_MODULES))
    }


MODULES = _official_modules()


def _counterpart(relative: str):
    if relative in PLUGIN_MODULES and _plugins_pending():
        pytest.skip("instrumentation plugins are issue 11")
    return importlib.import_module(f"durable_exec.{relative}")


@pytest.mark.parametrize("relative", MODULES)
def test_every_public_name_has_a_counterpart(relative):
    """The counterpart module exports every public name of the official module."""
    ours = _counterpart(relative)
    missing = sorted(name for name in expected(relative) if not hasattr(ours, name))
    assert missing == []


@pytest.mark.parametrize("relative", MODULES)
def test_all_lists_exactly_the_public_names(relative):
    """The counterpart's __all__ is sorted, has no private name, and lists what it exports."""
    ours = _counterpart(relative)
    exported = getattr(ours, "__all__", [])
    assert exported == sorted(exported, key=lambda n: (not n.isupper(), not n[:1].isupper(), n))
    assert all(not name.startswith("_") for name in exported)
    assert set(expected(relative)) <= set(exported)
    if relative in OTHER_OWNERS:
        return
    public = {
        name
        for name, value in vars(ours).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(exported)


@pytest.mark.parametrize("relative", MODULES)
def test_constants_have_the_official_values(relative):
    """Module-level constants (numbers, strings) equal the official ones."""
    official = importlib.import_module(f"{OFFICIAL}.{relative}")
    ours = _counterpart(relative)
    for name in expected(relative):
        value = getattr(official, name)
        if isinstance(value, int | str) and not isinstance(value, enum.Enum):
            assert getattr(ours, name) == value, name


@pytest.mark.parametrize("relative", MODULES)
def test_enums_have_the_official_members(relative):
    """Every official enum member exists, with the same value, in ours."""
    official = importlib.import_module(f"{OFFICIAL}.{relative}")
    ours = _counterpart(relative)
    for name in expected(relative):
        value = getattr(official, name)
        if isinstance(value, type) and issubclass(value, enum.Enum):
            mine = getattr(ours, name)
            assert {m.name: m.value for m in value} == {
                m.name: m.value for m in mine if m.name in value.__members__
            }, name


@pytest.mark.parametrize("relative", MODULES)
def test_generic_classes_stay_generic(relative):
    """A class the official SDK lets code subscript (``WithRetryConfig[int]``) is generic here."""
    official = importlib.import_module(f"{OFFICIAL}.{relative}")
    ours = _counterpart(relative)
    for name in expected(relative):
        value = getattr(official, name)
        if isinstance(value, type) and getattr(value, "__parameters__", ()):
            assert hasattr(getattr(ours, name), "__class_getitem__"), name


def test_the_official_top_level_names_are_importable_from_durable_exec():
    """``from aws_durable_execution_sdk_python import X`` becomes ``from durable_exec import X``."""
    official = importlib.import_module(OFFICIAL)
    ours = importlib.import_module("durable_exec")
    names = [n for n in official.__all__ if not (_plugins_pending() and n in PLUGIN_NAMES)]
    assert len(names) > 30
    assert [n for n in names if not hasattr(ours, n)] == []
    assert [n for n in names if getattr(ours, n) is not getattr(_counterpart_of(n), n)] == []


def _counterpart_of(name: str):
    """durable_exec's module at the path of the official module that defines ``name``."""
    home = _home(getattr(importlib.import_module(OFFICIAL), name))
    return importlib.import_module(f"durable_exec.{home}" if home else "durable_exec")


def test_exception_classes_keep_the_official_hierarchy():
    """Where the official SDK derives one error from another, so does durable_exec."""
    official = importlib.import_module(f"{OFFICIAL}.exceptions")
    ours = importlib.import_module("durable_exec.exceptions")
    pairs = [
        (name, getattr(official, name), getattr(ours, name))
        for name in expected("exceptions")
        if isinstance(getattr(official, name), type)
        and issubclass(getattr(official, name), BaseException)
    ]
    assert len(pairs) > 15
    for name, theirs, mine in pairs:
        for base_name, base_theirs, base_mine in pairs:
            if issubclass(theirs, base_theirs):
                assert issubclass(mine, base_mine), (name, base_name)


def test_left_out_names_exist_in_the_official_sdk():
    """The list of left-out names names only real official names (no stale entries)."""
    for home, names in LEFT_OUT.items():
        assert set(names) <= set(public_names(home)), home


# -- the members of the official classes -----------------------------------------------------

# Members of official classes that durable_exec leaves out, keyed "module.Class.member",
# each with the reason. Only the official implementation's machinery belongs here.
MEMBERS_LEFT_OUT = {
    "context.DurableContext.from_lambda_context": "the official handler wrapper's factory: it "
    "takes the official SDK's ExecutionState (the internal state module); durable_exec's "
    "@durable_execution builds the root context itself",
    "context.DurableContext.state": "the official SDK's ExecutionState (the internal state "
    "module); durable_exec's runtime is private, and durable_execution_arn, lambda_context and "
    "is_replaying() say what code may ask of it",
    "context.Callback.state": "likewise: the callback reads its outcome through it",
    "context.Callback.serdes": "the decoder the official callback keeps for result(); "
    "durable_exec's may be an internal typed wrapper of CallbackConfig.serdes, which is the "
    "value to read",
    "logger.Logger.from_log_info": "builds a logger from LogInfo, the official executors' "
    "record (left out above); Logger(logger, default_extra) builds one from plain fields",
    "logger.Logger.with_log_info": "likewise (with_fields adds fields to a copy)",
    **{
        f"plugin.PluginExecutor.{member}": "the official SDK's hook dispatcher, driven by its "
        "operation executors; durable_exec's operations drive their own, and plugin code "
        "(factories and DurableInstrumentationPlugin subclasses) never calls it"
        for member in (
            "on_child_context_end",
            "on_operation_action",
            "on_operation_replay",
            "on_operation_update",
            "on_user_function_end",
            "on_user_function_start",
            "claim_lock",
            "claim_end_hook",
            "drain_end_hooks",
            "execute_plugins",
            "record_change",
            "record_end_hooks",
            "take_end_hook",
        )
    },
}
# Classes whose constructor only the SDK calls: code receives instances (a context, a
# callback, a step context) and never builds one, so the parameters may differ.
CONSTRUCTORS_LEFT_OUT = {
    "context.DurableContext": "built by @durable_execution and by the operations around "
    "the official SDK's ExecutionState; durable_exec's wraps its own runtime",
    "context.Callback": "returned by create_callback, never built by user code",
    "plugin.PluginExecutor": "the official hook dispatcher (see MEMBERS_LEFT_OUT)",
}

_KINDS = inspect.Parameter
_POSITIONAL = (_KINDS.POSITIONAL_ONLY, _KINDS.POSITIONAL_OR_KEYWORD)
_SIMPLE_DEFAULTS = (type(None), bool, int, float, str)


def _official_classes() -> list[tuple[str, str]]:
    pairs = []
    for relative in MODULES:
        if relative in PLUGIN_MODULES and _plugins_pending():
            continue
        for name, home in sorted(expected(relative).items()):
            value = getattr(importlib.import_module(f"{OFFICIAL}.{relative}"), name)
            if home == relative and isinstance(value, type):
                pairs.append((relative, name))
    return pairs


def _assigned_attributes(cls: type) -> set[str]:
    """Public names a class's methods assign on ``self`` (its instance attributes)."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return set()
    names = set()
    for node in ast.walk(ast.parse(source)):
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        for target in targets:
            if (
                isinstance(target, ast.Attribute)
                and isinstance(target.value, ast.Name)
                and target.value.id == "self"
                and not target.attr.startswith("_")
            ):
                names.add(target.attr)
    return names


def _members(cls: type, package: str) -> dict[str, object]:
    """Public members of ``cls`` and its bases from ``package``: attributes, methods, fields."""
    members: dict[str, object] = {}
    for klass in reversed(cls.__mro__):
        if not klass.__module__.startswith(package):
            continue
        enum_members = getattr(klass, "__members__", {})
        members.update(
            (name, value)
            for name, value in vars(klass).items()
            if not name.startswith("_") and name not in enum_members
        )
        for name in vars(klass).get("__annotations__", {}):
            if not name.startswith("_"):
                members.setdefault(name, None)
        for slot in vars(klass).get("__slots__", ()):
            if not slot.startswith("_"):
                members.setdefault(slot, None)
        for name in _assigned_attributes(klass):
            members.setdefault(name, None)
    return members


def _incompatibilities(theirs: inspect.Signature, mine: inspect.Signature) -> list[str]:
    """Why some call the official signature accepts would fail (or bind differently) here."""
    problems = []
    ours = list(mine.parameters.values())
    positional = [p for p in ours if p.kind in _POSITIONAL]
    by_name = {p.name: p for p in ours}
    var_positional = any(p.kind is _KINDS.VAR_POSITIONAL for p in ours)
    var_keyword = any(p.kind is _KINDS.VAR_KEYWORD for p in ours)
    used = set()
    index = 0
    for official in theirs.parameters.values():
        mine_p: inspect.Parameter | None
        if official.kind in _POSITIONAL:
            mine_p = positional[index] if index < len(positional) else None
            index += 1
            if mine_p is None:
                if not var_positional:
                    problems.append(f"takes no positional parameter for {official.name!r}")
                continue
            by_keyword = official.kind is _KINDS.POSITIONAL_OR_KEYWORD and not (
                official.name.startswith("_")
            )
            if by_keyword and (
                mine_p.name != official.name or mine_p.kind is not _KINDS.POSITIONAL_OR_KEYWORD
            ):
                problems.append(f"parameter {index} is {mine_p.name!r}, not {official.name!r}")
        elif official.kind is _KINDS.KEYWORD_ONLY:
            mine_p = by_name.get(official.name)
            if mine_p is None or mine_p.kind not in (
                _KINDS.POSITIONAL_OR_KEYWORD,
                _KINDS.KEYWORD_ONLY,
            ):
                if not var_keyword:
                    problems.append(f"takes no keyword {official.name!r}")
                continue
        else:
            wanted = official.kind
            if not any(p.kind is wanted for p in ours):
                problems.append(f"takes no {official}")
            continue
        used.add(mine_p.name)
        if official.default is not _KINDS.empty:
            if mine_p.default is _KINDS.empty:
                problems.append(f"{official.name!r} has no default")
            elif (
                isinstance(official.default, _SIMPLE_DEFAULTS)
                and official.default != mine_p.default
            ):
                problems.append(
                    f"{official.name!r} defaults to {mine_p.default!r}, not {official.default!r}"
                )
    problems.extend(
        f"{p.name!r} is required here but not in the official signature"
        for p in ours
        if p.name not in used
        and p.kind not in (_KINDS.VAR_POSITIONAL, _KINDS.VAR_KEYWORD)
        and p.default is _KINDS.empty
    )
    return problems


def _signature(value: object) -> inspect.Signature | None:
    try:
        return inspect.signature(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _has_member(cls: type, name: str) -> bool:
    return hasattr(cls, name) or name in _members(cls, "durable_exec")


CLASSES = _official_classes()


@pytest.mark.parametrize(("relative", "name"), CLASSES, ids=str)
def test_official_classes_have_their_members_here(relative, name):
    """Every public method, property and attribute of the official class exists here."""
    theirs = getattr(importlib.import_module(f"{OFFICIAL}.{relative}"), name)
    mine = getattr(importlib.import_module(f"durable_exec.{relative}"), name)
    missing = sorted(
        member
        for member in _members(theirs, OFFICIAL)
        if f"{relative}.{name}.{member}" not in MEMBERS_LEFT_OUT and not _has_member(mine, member)
    )
    assert missing == []


@pytest.mark.parametrize(("relative", "name"), CLASSES, ids=str)
def test_official_methods_accept_the_official_calls(relative, name):
    """Each public callable (constructor included) takes the official parameters.

    Every parameter is taken at the same position and under the same name, with a
    default where the official one has one (the same, for simple values); anything
    more is optional.
    """
    theirs = getattr(importlib.import_module(f"{OFFICIAL}.{relative}"), name)
    mine = getattr(importlib.import_module(f"durable_exec.{relative}"), name)
    problems = {}
    callables = [
        member
        for member, value in _members(theirs, OFFICIAL).items()
        if isinstance(value, staticmethod | classmethod) or inspect.isfunction(value)
    ]
    for member in callables:
        key = f"{relative}.{name}.{member}"
        if key in MEMBERS_LEFT_OUT or not hasattr(mine, member):
            continue
        official_signature = _signature(getattr(theirs, member))
        our_signature = _signature(getattr(mine, member))
        if official_signature is None:
            continue
        if our_signature is None:
            problems[member] = ["has no signature here"]
        elif found := _incompatibilities(official_signature, our_signature):
            problems[member] = found
    built_by_sdk = getattr(theirs, "_is_protocol", False) or issubclass(theirs, enum.Enum)
    constructor = None if built_by_sdk else _signature(theirs)
    if constructor is not None and f"{relative}.{name}" not in CONSTRUCTORS_LEFT_OUT:
        ours = _signature(mine)
        found = ["has no signature here"] if ours is None else _incompatibilities(constructor, ours)
        if found:
            problems["__init__"] = found
    assert problems == {}


def _official_functions() -> list[tuple[str, str]]:
    pairs = []
    for relative in MODULES:
        if relative in PLUGIN_MODULES and _plugins_pending():
            continue
        module = importlib.import_module(f"{OFFICIAL}.{relative}")
        for name, home in sorted(expected(relative).items()):
            if home == relative and inspect.isfunction(getattr(module, name)):
                pairs.append((relative, name))
    return pairs


@pytest.mark.parametrize(("relative", "name"), _official_functions(), ids=str)
def test_official_functions_accept_the_official_calls(relative, name):
    """Each public module-level function takes the official parameters (as methods do)."""
    theirs = _signature(getattr(importlib.import_module(f"{OFFICIAL}.{relative}"), name))
    ours = _signature(getattr(importlib.import_module(f"durable_exec.{relative}"), name))
    assert theirs is not None
    assert ours is not None
    assert _incompatibilities(theirs, ours) == []


def test_left_out_members_are_official_members():
    """The member allow-lists name only real official members (no stale entries)."""
    for key in MEMBERS_LEFT_OUT:
        relative, name, member = key.rsplit(".", 2)
        cls = getattr(importlib.import_module(f"{OFFICIAL}.{relative}"), name)
        assert member in _members(cls, OFFICIAL), key
    for key in CONSTRUCTORS_LEFT_OUT:
        relative, name = key.rsplit(".", 1)
        assert (relative, name) in CLASSES, key


# -- the testing package -------------------------------------------------------------------

TESTING = "aws_durable_execution_sdk_python_testing"

# The modules of the official testing package that tests import, and their names.
# The rest of that package is its emulator's machinery (executor, checkpoint
# processors, web server, scheduler...), which durable_exec's LocalDurableService
# replaces.
TESTING_NAMES = {
    "": [
        "DurableChildContextTestRunner",
        "DurableFunctionCloudTestRunner",
        "DurableFunctionTestResult",
        "DurableFunctionTestRunner",
    ],
    "runner": [
        "OPERATION_FACTORIES",
        "CallbackOperation",
        "ContextOperation",
        "DurableChildContextTestRunner",
        "DurableFunctionCloudTestRunner",
        "DurableFunctionTestResult",
        "DurableFunctionTestRunner",
        "ExecutionOperation",
        "InvokeOperation",
        "Operation",
        "OperationFactory",
        "StepOperation",
        "WaitOperation",
        "create_operation",
    ],
    "exceptions": [
        "AwsApiException",
        "DurableFunctionsLocalRunnerError",
        "DurableFunctionsTestError",
        "InvalidParameterValueException",
        "ResourceNotFoundException",
    ],
    "execution": ["ExecutionStatus"],
    "model": ["Event", "EventType", "GetDurableExecutionHistoryResponse", "events_to_operations"],
    "stores.base": ["ExecutionStore", "StoreType"],
    "stores.memory": ["InMemoryExecutionStore"],
    "stores.sqlite": ["SQLiteExecutionStore"],
    "stores.filesystem": ["FileSystemExecutionStore"],
}
TESTING_LEFT_OUT = {
    "WebRunner": "the HTTP emulator for SAM local: use AWS's own (dex-local-runner), or "
    "`durable-exec run` to run a handler locally",
    "WebRunnerConfig": "its configuration",
}
# Classes whose public methods and attributes test code uses: every one must exist
# here, and each method must take the same parameters with the same defaults.
TESTING_CLASSES = [
    ("runner", "DurableFunctionTestRunner"),
    ("runner", "DurableChildContextTestRunner"),
    ("runner", "DurableFunctionCloudTestRunner"),
    ("runner", "DurableFunctionTestResult"),
    ("runner", "ContextOperation"),
    ("runner", "StepOperation"),
    ("runner", "WaitOperation"),
    ("runner", "CallbackOperation"),
    ("runner", "InvokeOperation"),
    ("runner", "ExecutionOperation"),
]


def _testing_module(prefix: str, relative: str):
    return importlib.import_module(f"{prefix}.{relative}" if relative else prefix)


def test_the_testing_names_lists_cover_the_official_runner_module():
    """Every public name the official runner module defines is listed or left out."""
    official = set(_defined_in(f"{TESTING}.runner"))
    listed = set(TESTING_NAMES["runner"]) | set(TESTING_LEFT_OUT)
    assert official <= listed


def _defined_in(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    tree = ast.parse(pathlib.Path(module.__file__ or "").read_text())
    names = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            name = node.name
        elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
        else:
            continue
        value = getattr(module, name, None)
        if (
            not name.startswith("_")
            and name != "logger"
            and not isinstance(value, typing.TypeVar | typing.ParamSpec)
        ):
            names.append(name)
    return names


@pytest.mark.parametrize("relative", sorted(TESTING_NAMES))
def test_testing_modules_tests_import_have_counterparts(relative):
    """Each module test code imports from the testing package exists, with its names."""
    official = _testing_module(TESTING, relative)
    ours = _testing_module("durable_exec.testing", relative)
    for name in TESTING_NAMES[relative]:
        assert hasattr(official, name), f"stale entry {name}"
        assert hasattr(ours, name), name


@pytest.mark.parametrize(("relative", "name"), TESTING_CLASSES, ids=str)
def test_testing_classes_have_the_official_methods_and_signatures(relative, name):
    """Public methods and attributes exist, with the official parameters and defaults."""
    theirs = getattr(_testing_module(TESTING, relative), name)
    mine = getattr(_testing_module("durable_exec.testing", relative), name)
    for attribute, value in vars(theirs).items():
        if attribute.startswith("_"):
            continue
        assert hasattr(mine, attribute), f"{name}.{attribute}"
        if callable(value) and not isinstance(value, type):
            expected_parameters = [
                (p.name, p.default)
                for p in inspect.signature(getattr(theirs, attribute)).parameters.values()
            ]
            actual_parameters = [
                (p.name, p.default)
                for p in inspect.signature(getattr(mine, attribute)).parameters.values()
            ]
            assert actual_parameters == expected_parameters, f"{name}.{attribute}"
    fields = getattr(theirs, "__dataclass_fields__", {})
    assert set(fields) <= set(getattr(mine, "__dataclass_fields__", {})), name
