"""The Workspace API: the typed reads and writes the command line (and a console) use."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from durable_exec._cli._errors import CliError
from durable_exec._cli._loader import HandlerSpec
from durable_exec._cli._workspace import RunRecord, Workspace, locate_store

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APPROVAL_INPUT = '{"request": "laptop", "manager": "ana@example.com"}'


@pytest.fixture
def workspace(tmp_path: Path):
    with Workspace(locate_store(tmp_path / "s" / "executions.db"), create=True) as ws:
        yield ws


def _start_approval(workspace: Workspace, name: str) -> str:
    spec = HandlerSpec.parse(f"{EXAMPLES / 'approval.py'}:handler", EXAMPLES)
    record = RunRecord(spec, {}, real_time=False)
    arn = workspace.start("approval", APPROVAL_INPUT, name, record)
    _, _, handler, targets = workspace.load_run(arn)
    workspace.run_driver(arn, handler, targets)
    return arn


class TestLocating:
    def test_walks_up_to_the_nearest_durable_directory(self, tmp_path):
        (tmp_path / "a" / ".durable").mkdir(parents=True)
        (tmp_path / "a" / "b" / "c").mkdir(parents=True)
        found = locate_store(cwd=tmp_path / "a" / "b" / "c", environ={})
        assert found.path == tmp_path / "a" / ".durable" / "executions.db"
        assert found.source == "found"

    def test_defaults_to_the_current_directory(self, tmp_path):
        found = locate_store(cwd=tmp_path, environ={})
        if found.source == "default":  # (unless a .durable/ exists above the temp dir)
            assert found.path == tmp_path / ".durable" / "executions.db"
            assert "none found" in found.describe()

    def test_option_then_environment(self, tmp_path):
        env = {"DURABLE_EXEC_STORE": str(tmp_path / "env.db")}
        assert locate_store(tmp_path / "opt.db", tmp_path, env).source == "option"
        assert locate_store(None, tmp_path, env).path == tmp_path / "env.db"


class TestReadsAndWrites:
    def test_list_view_and_answer_a_callback(self, workspace):
        """A console's round trip: list, open callbacks, answer by short ref, resume."""
        arn = _start_approval(workspace, "approve-7")
        page = workspace.list_executions(status="RUNNING")
        assert [item.name for item in page.items] == ["approve-7"]
        [callback] = workspace.open_callbacks()
        assert callback.name == "manager-approval"
        assert workspace.callback_ref(callback) == "approve-7/manager-approval"
        view = workspace.view(arn)
        assert [op.label for op in view.roots] == ["manager-approval"]
        assert workspace.describe(arn)["Status"] == "RUNNING"
        assert workspace.history(arn)[0]["EventType"] == "ExecutionStarted"
        assert workspace.operations(arn)[0]["Type"] == "EXECUTION"
        answered = workspace.send_callback_success("approve-7/manager-approval", "approved")
        assert answered == callback.callback_id
        assert workspace.open_callbacks() == []
        _, _, handler, targets = workspace.load_run(arn)
        workspace.run_driver(arn, handler, targets)
        assert workspace.summary(arn).status == "SUCCEEDED"
        with pytest.raises(CliError, match="closed"):
            workspace.send_callback_failure("approve-7/manager-approval", "no")

    def test_changed_since_and_stop(self, workspace):
        arn = _start_approval(workspace, "approve-8")
        seen = max(item.updated_seq for item in workspace.list_executions().items)
        assert workspace.stop(arn) == "STOPPED"
        assert [item.status for item in workspace.changed_since(seen)] == ["STOPPED"]

    def test_unknown_things_name_the_store(self, workspace):
        with pytest.raises(CliError, match=r"unknown execution 'nope' in the store .*s/executions"):
            workspace.resolve("nope")
        with pytest.raises(CliError, match="unknown callback id"):
            workspace.send_callback_heartbeat("bm90LWEtY2FsbGJhY2s=")

    def test_a_live_driver_keeps_others_out(self, workspace, monkeypatch):
        """Two processes never drive one tree: a live lease holder is reported (exit 3)."""
        arn = _start_approval(workspace, "approve-9")
        store = workspace.store
        assert store is not None
        other = f"{os.uname().nodename}:1:"  # pid 1 is alive
        store.annotate(arn, "durable-exec.driver", other)
        _, _, handler, targets = workspace.load_run(arn)
        with pytest.raises(CliError, match="is being driven by process 1") as raised:
            workspace.run_driver(arn, handler, targets)
        assert raised.value.exit_code == 3
        store.annotate(arn, "durable-exec.driver", f"{os.uname().nodename}:999999999:")
        workspace.run_driver(arn, handler, targets)  # a dead holder is taken over


class TestRemoteCommands:
    """list/show/history/callback with --endpoint speak the API (a local service stands in)."""

    def test_remote_reads_and_callback(self, monkeypatch, capsys):
        import json

        from durable_exec._cli import _remote
        from durable_exec._cli._app import main
        from durable_exec.testing import DurableTestRunner

        approval = _load_approval()
        runner = DurableTestRunner(approval, function_name="approval")
        waiting = runner.run(
            {"request": "x", "manager": "m"}, execution_name="remote-1", pause_on_callbacks=True
        )
        monkeypatch.setattr(_remote, "remote_client", lambda endpoint, region: runner.service)
        remote = ["--endpoint", "http://127.0.0.1:9", "--json"]

        assert main(["list", "--function-name", "approval", *remote]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [item["name"] for item in listed["executions"]] == ["remote-1"]

        assert main(["show", "remote-1", "--function-name", "approval", *remote]) == 3
        shown = json.loads(capsys.readouterr().out)
        callback_id = shown["waiting_for"][0]["callback_id"]
        assert shown["waiting_for"][0]["ref"] is None  # short refs are local only

        assert main(["history", waiting.arn, *remote]) == 0
        assert json.loads(capsys.readouterr().out)["events"][0]["EventType"] == "ExecutionStarted"

        assert main(["callback", "succeed", callback_id, "approved", *remote]) == 0
        assert json.loads(capsys.readouterr().out)["sent"] is True
        assert runner.resume(waiting.arn).result["decision"] == "approved"

        assert main(["show", "nope", "--function-name", "approval", *remote]) == 2
        assert "unknown execution 'nope' of approval" in capsys.readouterr().err


def _load_approval():
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location("_ws_approval", EXAMPLES / "approval.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.handler
