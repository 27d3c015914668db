"""Importing durable_exec stays cheap: what each entry point must NOT load.

Speed is measured in ``benchmarks/`` (``benchmarks/imports.py``); these
tests pin the module sets instead, so that an eager import that would bring the
cost back fails here. Each check runs in a fresh interpreter and looks only at
the modules the code under test added (whatever the interpreter's start-up
loaded before it is not counted).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import durable_exec
import durable_exec.testing
from durable_exec import PluginLoadError

REPO = Path(__file__).resolve().parents[1]

# Third-party packages: loaded only by the code paths that use them.
THIRD_PARTY = ("botocore", "boto3", "tenacity", "dataclasses_json", "pydantic", "urllib3")

# Standard-library modules the SDK's import path does not need: entry-point discovery
# (importlib.metadata, and with it email, csv, zipfile...), sockets and the event
# loop, the SQLite store, the web console's server.
STDLIB = (
    "asyncio",
    "calendar",
    "csv",
    "email",
    "http",
    "importlib.metadata",
    "locale",
    "selectors",
    "socket",
    "sqlite3",
    "ssl",
    "zipfile",
)

# The SDK's own optional parts: plugins, typed payloads, sagas, async bodies,
# recorded values, result-serdes rules, the testing package and the command line.
OPTIONAL = (
    "durable_exec._async_bodies",
    "durable_exec._cli",
    "durable_exec._fs_serdes",
    "durable_exec._operations.recorded",
    "durable_exec._plugin_api",
    "durable_exec._plugin_discovery",
    "durable_exec._plugin_official",
    "durable_exec._plugin_runtime",
    "durable_exec._results",
    "durable_exec._saga",
    "durable_exec._transport_logs",
    "durable_exec._typed",
    "durable_exec.testing",
)

# What a reading command of the CLI never needs.
CLI_READING_NEVER = (
    *THIRD_PARTY,
    "asyncio",
    "http",
    "importlib.metadata",
    "durable_exec._cli._api",
    "durable_exec._cli._driver",
    "durable_exec._cli._migrate",
    "durable_exec._cli._remote",
    "durable_exec._cli._ui._server",
    "durable_exec._plugin_runtime",
    "durable_exec.testing._compat_cloud",
    "durable_exec.testing._compat_result",
    "durable_exec.testing._compat_runner",
    "durable_exec.testing._faults",
    "durable_exec.testing._replay",
    "durable_exec.testing._runner",
)


def _env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("DURABLE_EXEC") and k != "DURABLE_EXECUTION_PLUGINS"
    }
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    return env


def loaded_by(code: str, cwd: Path | None = None) -> set[str]:
    """Run ``code`` in a fresh interpreter; return the modules it added to sys.modules."""
    script = (
        "import sys\n"
        "_before = set(sys.modules)\n"
        f"{code}\n"
        "print('\\n'.join(sorted(set(sys.modules) - _before)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=cwd or REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def among(loaded: set[str], forbidden: tuple[str, ...]) -> list[str]:
    """The loaded modules that are, or are inside, a forbidden package."""
    return sorted(
        name for name in loaded if any(name == f or name.startswith(f + ".") for f in forbidden)
    )


def test_import_does_not_load_heavy_dependencies():
    """botocore, boto3, tenacity and dataclasses_json load only when first needed."""
    loaded = loaded_by("import durable_exec, durable_exec.testing")
    assert among(loaded, ("botocore", "boto3", "tenacity", "dataclasses_json")) == []


def test_import_loads_no_optional_part_of_the_sdk_or_the_standard_library():
    """`import durable_exec` loads neither optional SDK modules nor unneeded stdlib ones."""
    loaded = loaded_by("import durable_exec")
    assert "durable_exec._context" in loaded  # it did import the SDK
    assert among(loaded, THIRD_PARTY + STDLIB + OPTIONAL) == []


def test_lazy_names_resolve_to_their_classes():
    """The names loaded on first access are the real objects, in dir() and star-imports."""
    loaded = loaded_by(
        "import durable_exec\n"
        "assert {'Saga', 'TypedSerDes', 'quiet_transport_logs'} <= set(dir(durable_exec))\n"
        "from durable_exec import *\n"
        "from durable_exec._saga import Saga as S\n"
        "from durable_exec._typed import TypedSerDes as T\n"
        "assert Saga is S and TypedSerDes is T and durable_exec.Saga is S\n"
    )
    assert {"durable_exec._saga", "durable_exec._typed"} <= loaded


def test_unknown_attributes_still_raise_attribute_error():
    """The lazy lookup does not invent names."""
    with pytest.raises(AttributeError, match="no_such_name"):
        durable_exec.no_such_name  # noqa: B018
    with pytest.raises(AttributeError, match="no_such_name"):
        durable_exec.testing.no_such_name  # noqa: B018


def test_importing_the_testing_package_loads_none_of_its_modules():
    """`import durable_exec.testing` defers every runner, store and service to first use."""
    loaded = loaded_by("import durable_exec.testing")
    assert among(loaded, ("durable_exec.testing.", "sqlite3", *THIRD_PARTY)) == []


def test_an_untyped_workflow_without_plugins_never_loads_the_optional_parts():
    """Running a plain workflow loads no plugin, typed, saga, async or discovery module."""
    loaded = loaded_by(
        "from durable_exec import DurableContext, durable_execution, durable_step\n"
        "from durable_exec.testing import DurableTestRunner\n"
        "@durable_step\n"
        "def add(step_context, a, b):\n"
        "    return a + b\n"
        "@durable_execution\n"
        "def handler(event, context: DurableContext):\n"
        "    return context.step(add(1, 2)) + context.map([1, 2], lambda c, x, i, xs: x)"
        ".get_results()[1]\n"
        "result = DurableTestRunner(handler).run({})\n"
        "assert (result.status, result.result) == ('SUCCEEDED', 5), result\n"
    )
    never = (
        "asyncio",
        "importlib.metadata",
        "durable_exec._async_bodies",
        "durable_exec._plugin_api",
        "durable_exec._plugin_discovery",
        "durable_exec._plugin_runtime",
        "durable_exec._saga",
        "durable_exec._typed",
        "dataclasses_json",
        "pydantic",
    )
    assert "durable_exec._results" in loaded  # the result rules ran (and found no type)
    assert among(loaded, never) == []


def test_a_handler_naming_plugins_in_the_environment_does_load_discovery(monkeypatch):
    """The shortcut that skips plugin discovery applies only when nothing is configured."""
    monkeypatch.setenv("DURABLE_EXECUTION_PLUGINS", "no-such-plugin-f1")
    with pytest.raises(PluginLoadError, match="no-such-plugin-f1"):
        durable_exec.durable_execution(lambda event, context: None)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding two finished executions (built in-process, no CLI)."""
    path = tmp_path_factory.mktemp("import-cost") / "executions.db"
    code = (
        "from durable_exec import durable_execution\n"
        "from durable_exec.testing import DurableTestRunner, LocalDurableService, SqliteStore\n"
        "from durable_exec.testing import VirtualClock\n"
        "@durable_execution\n"
        "def handler(event, context):\n"
        "    return context.step(lambda _: event['n'] * 2, name='double')\n"
        f"with SqliteStore({str(path)!r}) as store:\n"
        "    service = LocalDurableService(VirtualClock(1.7e9), store)\n"
        "    runner = DurableTestRunner(handler, service=service, function_name='double')\n"
        "    for n in (1, 2):\n"
        "        runner.run({'n': n}, execution_name=f'double-{n}')\n"
    )
    subprocess.run(
        [sys.executable, "-c", code], env=_env(), check=True, timeout=120, capture_output=True
    )
    return path


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["list", "--json"],
        ["show", "double-1"],
        ["history", "double-2"],
        ["info"],
        ["--version"],
    ],
    ids=" ".join,
)
def test_reading_commands_load_only_what_they_need(store, args, tmp_path):
    """`durable-exec list/show/history/info` load no runner, compat API, UI server, codemod."""
    argv = args if args == ["--version"] else [*args, "--store", str(store)]
    loaded = loaded_by(
        "import contextlib, io\n"
        "from durable_exec._cli._app import main\n"
        "out = io.StringIO()\n"
        "with contextlib.redirect_stdout(out):\n"
        "    try:\n"
        f"        code = main({argv!r})\n"
        "    except SystemExit as exit:\n"
        "        code = exit.code\n"
        "assert code == 0, (code, out.getvalue())\n"
        "assert out.getvalue(), 'the command printed nothing'\n",
        cwd=tmp_path,
    )
    assert among(loaded, CLI_READING_NEVER) == []


def test_the_store_fixture_holds_what_list_shows(store, tmp_path):
    """The store the CLI checks above is real: `list --json` names both executions."""
    done = subprocess.run(
        [sys.executable, "-m", "durable_exec", "list", "--json", "--store", str(store)],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    names = {item["name"] for item in json.loads(done.stdout)["executions"]}
    assert names == {"double-1", "double-2"}
