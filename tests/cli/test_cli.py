"""The durable-exec command line, through its real entry point (python -m durable_exec)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sqlite3
import stat
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from durable_exec._clock import SYSTEM_CLOCK

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

ORDER = str(EXAMPLES / "order_processing.py") + ":handler"
APPROVAL = str(EXAMPLES / "approval.py") + ":handler"
ORCHESTRATOR = str(EXAMPLES / "orchestrator.py")
ORDER_INPUT = '{"order_id": "o-42", "items": 3}'
APPROVAL_INPUT = '{"request": "laptop", "manager": "ana@example.com"}'


def one_error_line(result) -> str:
    """The command failed with exit 2 and exactly one line on stderr, no traceback."""
    assert result.code == 2, (result.code, result.out, result.err)
    assert "Traceback" not in result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("durable-exec: error: ")
    return lines[0]


class TestRun:
    def test_runs_the_order_example_to_completion(self, cli, store):
        """run prints the operation tree and the result, and exits 0."""
        result = cli("run", ORDER, "--input", ORDER_INPUT, "--name", "order-1")
        assert result.code == 0, result.err
        assert "order-1  SUCCEEDED in 5m " in result.out  # the retry delay is jittered
        assert ", 3 invocations" in result.out
        for name in ("reserve_stock", "charge_card", "cancellation-window", "create_label"):
            assert name in result.out
        assert "2 attempts" in result.out
        assert 'result: {"order_id": "o-42", "charge": "charge-o-42-5997"' in result.out
        assert result.err == ""  # no progress line when stderr is not a terminal
        assert stat.S_IMODE(store.stat().st_mode) == 0o600
        assert stat.S_IMODE(store.parent.stat().st_mode) == 0o700

    def test_json_output_has_stable_keys(self, cli):
        """run --json prints one JSON document: execution, operations, waiting_for."""
        result = cli("run", ORDER, "--input", ORDER_INPUT, "--json")
        assert result.code == 0, result.err
        data = result.json()
        assert set(data) == {"execution", "operations", "waiting_for"}
        execution = data["execution"]
        assert execution["status"] == "SUCCEEDED"
        assert execution["function_name"] == "order_processing"
        assert execution["result"]["charge"] == "charge-o-42-5997"
        assert execution["invocations"] == 3
        charge = next(op for op in data["operations"] if op["name"] == "charge_card")
        assert charge["attempts"] == 2
        assert charge["status"] == "SUCCEEDED"
        assert charge["result"] == "charge-o-42-5997"
        assert data["waiting_for"] == []

    def test_failing_workflow_exits_1(self, cli, failing_workflow):
        """An execution that fails exits 1 and shows the error."""
        result = cli("run", f"{failing_workflow}:handler")
        assert result.code == 1, result.err
        assert "FAILED" in result.out
        assert "ValueError: card declined" in result.out

    def test_chained_invokes_reach_registered_functions(self, cli):
        """--function registers a durable and a plain chained-invoke target."""
        result = cli(
            "run",
            f"{ORCHESTRATOR}:handler",
            "--input",
            '{"order_id": "o-9", "country": "DE"}',
            "--function",
            f"report-builder={ORCHESTRATOR}:report_builder",
            "--function",
            f"tax-rate={ORCHESTRATOR}:tax_rate",
            "--json",
        )
        assert result.code == 0, result.err
        assert result.json()["execution"]["result"] == {
            "report": {"order": "o-9", "lines": 2, "total": 7},
            "tax_rate": 0.19,
        }

    def test_default_store_is_private_and_ignored_by_git(self, cli, tmp_path):
        """Without --store, executions go to ./.durable/executions.db (0600, git-ignored)."""
        result = cli("run", ORDER, "--input", ORDER_INPUT, use_store=False)
        assert result.code == 0, result.err
        default = tmp_path / ".durable" / "executions.db"
        assert stat.S_IMODE(default.stat().st_mode) == 0o600
        assert (tmp_path / ".durable" / ".gitignore").read_text() == "*\n"

    def test_detach_returns_at_once_and_resume_finishes(self, cli):
        """run --detach starts the execution (exit 3); resume drives it to the end."""
        started = cli("run", ORDER, "--input", ORDER_INPUT, "--name", "later", "--detach")
        assert started.code == 3, started.err
        assert "durable-exec resume later" in started.out
        finished = cli("resume", "later")
        assert finished.code == 0, finished.err
        assert "later  SUCCEEDED" in finished.out

    def test_real_time_really_waits(self, cli, tmp_path):
        """--real-time runs on the system clock: a one-second wait takes a second."""
        (tmp_path / "nap.py").write_text(
            "from durable_exec import Duration, durable_execution\n"
            "\n"
            "@durable_execution\n"
            "def handler(event, context):\n"
            "    context.wait(Duration(1), name='nap')\n"
            "    return 'rested'\n"
        )
        result = cli("run", "nap.py:handler", "--real-time", "--json")
        assert result.code == 0, result.err
        execution = result.json()["execution"]
        assert execution["result"] == "rested"
        assert execution["duration_seconds"] >= 1


class TestCallbackAcrossProcesses:
    def test_approval_paused_then_answered_from_another_process(self, cli):
        """The approval pauses (exit 3), a second process answers, resume finishes it."""
        paused = cli("run", APPROVAL, "--input", APPROVAL_INPUT, "--name", "approve-1", "--json")
        assert paused.code == 3, paused.err
        waiting = paused.json()["waiting_for"]
        assert [w["name"] for w in waiting] == ["manager-approval"]
        callback_id = waiting[0]["callback_id"]

        answered = cli("callback", "succeed", callback_id, "approved")
        assert answered.code == 0, answered.err
        assert "durable-exec resume approve-1" in answered.out

        finished = cli("resume", "approve-1", "--json")
        assert finished.code == 0, finished.err
        data = finished.json()
        assert data["execution"]["result"] == {"request": "laptop", "decision": "approved"}
        assert any(op["name"] == "place-order" for op in data["operations"])

        again = cli("callback", "succeed", callback_id, "approved")
        assert "callback is closed" in one_error_line(again)

    def test_paused_text_output_says_how_to_answer(self, cli, store):
        """Without --json, run prints the callback commands to copy."""
        paused = cli("run", APPROVAL, "--input", APPROVAL_INPUT, "--name", "approve-2")
        assert paused.code == 3, paused.err
        assert "waiting for callback 'manager-approval' of approve-2" in paused.out
        assert "durable-exec callback succeed " in paused.out
        assert (
            f"then continue it with:  durable-exec resume approve-2 --store {store}" in paused.out
        )


class TestReading:
    @pytest.fixture
    def finished(self, cli):
        result = cli("run", ORDER, "--input", ORDER_INPUT, "--name", "order-7")
        assert result.code == 0, result.err
        return result

    def test_list_show_timeline_and_history(self, cli, finished):
        """list, show --timeline and history describe a stored execution."""
        listed = cli("list")
        assert listed.code == 0, listed.err
        assert "order-7" in listed.out
        assert "SUCCEEDED" in listed.out

        shown = cli("show", "order-", "--timeline")  # a unique prefix
        assert shown.code == 0, shown.err
        assert "order-7  SUCCEEDED" in shown.out
        assert "timeline" in shown.out
        assert "cancellation-window" in shown.out

        events = cli("history", "order-7")
        assert events.code == 0, events.err
        assert "ExecutionStarted" in events.out
        assert "WaitSucceeded" in events.out
        assert "ExecutionSucceeded" in events.out

    def test_json_of_list_and_history(self, cli, finished):
        """list --json and history --json have stable top-level keys."""
        listed = cli("list", "--status", "succeeded", "--json").json()
        assert [item["name"] for item in listed["executions"]] == ["order-7"]
        assert set(listed["executions"][0]) == {
            "arn",
            "name",
            "function_name",
            "function_arn",
            "status",
            "start",
            "end",
            "invocations",
            "operations",
            "error",
        }
        assert listed["total"] == 1
        assert listed["next_cursor"] is None
        history = cli("history", "order-7", "--json").json()
        assert history["execution_arn"] == listed["executions"][0]["arn"]
        assert history["events"][0]["EventType"] == "ExecutionStarted"
        assert cli("list", "--status", "failed", "--json").json() == {
            "executions": [],
            "total": 0,
            "next_cursor": None,
        }

    def test_local_reads_do_not_import_botocore(self, cli, store, finished):
        """botocore is loaded for remote endpoints only, not to read the local store."""
        code = (
            "import sys\n"
            "from durable_exec.__main__ import main\n"
            f"assert main(['list', '--store', {str(store)!r}]) == 0\n"
            f"assert main(['show', 'order-7', '--store', {str(store)!r}]) == 0\n"
            "assert 'botocore' not in sys.modules, 'botocore was imported'\n"
        )
        env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent)}
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, done.stderr


class TestBadInput:
    def test_nonexistent_handler_path(self, cli, store):
        """A handler file that does not exist: one line, exit 2, nothing stored."""
        assert "no such file" in one_error_line(cli("run", "nowhere/missing.py:handler"))
        assert not store.exists()

    def test_missing_handler_attribute(self, cli):
        """A missing attribute names the durable handlers the file has."""
        line = one_error_line(cli("run", f"{ORCHESTRATOR}:nope"))
        assert "has no attribute 'nope'" in line
        assert "handler, report_builder" in line

    def test_input_that_is_not_json(self, cli, store):
        """--input must be JSON."""
        assert "--input is not JSON" in one_error_line(cli("run", ORDER, "--input", "{oops"))
        assert not store.exists()

    def test_unknown_execution(self, cli, finished_order):
        """show of an unknown execution fails cleanly."""
        assert "unknown execution 'nope'" in one_error_line(cli("show", "nope"))

    def test_unknown_callback_id(self, cli, finished_order):
        """A well-formed callback id nobody issued is unknown."""
        line = one_error_line(cli("callback", "succeed", "bm90LWEtY2FsbGJhY2s=", "x"))
        assert "unknown callback id" in line

    def test_corrupt_store_is_reported_and_left_alone(self, cli, store):
        """A store file that is not a database: one line, exit 2, file untouched."""
        store.parent.mkdir(parents=True)
        garbage = b"this is not a database" * 200
        store.write_bytes(garbage)
        store.chmod(0o600)
        assert "corrupt or not a database" in one_error_line(cli("list"))
        assert "corrupt or not a database" in one_error_line(cli("run", ORDER))
        assert store.read_bytes() == garbage

    def test_locked_store(self, cli, store, finished_order):
        """A store another process holds locked: one line, exit 2."""
        holder = sqlite3.connect(store, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            result = cli("run", ORDER, extra_env={"DURABLE_EXEC_LOCK_TIMEOUT": "0.1"})
            assert "is locked by another process" in one_error_line(result)
        finally:
            holder.execute("ROLLBACK")
            holder.close()

    def test_unreachable_endpoint(self, cli):
        """An endpoint nobody listens on: one line, exit 2."""
        result = cli(
            "list", "--endpoint", "http://127.0.0.1:9", "--function-name", "orders", use_store=False
        )
        assert "cannot reach http://127.0.0.1:9" in one_error_line(result)

    def test_usage_error_is_one_line(self, cli):
        """argparse errors follow the same one-line rule."""
        assert "invalid choice" in one_error_line(cli("callback", "maybe", "id", use_store=False))

    @pytest.fixture
    def finished_order(self, cli):
        result = cli("run", ORDER, "--input", ORDER_INPUT, "--name", "order-9", "--json")
        assert result.code == 0, result.err
        return result


class TestSharedOptions:
    """--store, --json, --endpoint, --region, -v and --log-level go before or after the command."""

    def test_shared_options_before_the_command_apply_to_it(self, cli, store):
        """`durable-exec --store PATH --json -v run ...` is `run ... --store PATH --json -v`."""
        ran = cli(
            "--store", str(store), "--json", "-v", "run", ORDER, "--input", ORDER_INPUT,
            "--name", "first", use_store=False,
        )
        assert ran.code == 0, ran.err
        assert ran.json()["execution"]["status"] == "SUCCEEDED"
        assert "reserving 3 items for o-42" in ran.err
        listed = cli("--store", str(store), "list", "--json", use_store=False)
        assert listed.code == 0, listed.err
        assert [item["name"] for item in listed.json()["executions"]] == ["first"]

    def test_the_option_after_the_command_wins(self, cli, store, tmp_path):
        """Given on both sides, the one after the command is used."""
        assert cli("run", ORDER, "--input", ORDER_INPUT, "--name", "kept").code == 0
        other = tmp_path / "other" / "executions.db"
        listed = cli(
            "--store", str(other), "list", "--store", str(store), "--json", use_store=False
        )
        assert listed.code == 0, listed.err
        assert [item["name"] for item in listed.json()["executions"]] == ["kept"]
        assert not other.exists()

    def test_a_shared_option_the_command_does_not_take_is_refused(self, cli):
        """`--endpoint URL run` says --endpoint does not apply to run, instead of ignoring it."""
        line = one_error_line(
            cli("--endpoint", "http://127.0.0.1:9", "run", ORDER, use_store=False)
        )
        assert "--endpoint does not apply to `run`" in line
        assert "--json does not apply to `migrate`" in one_error_line(
            cli("--json", "migrate", "src", use_store=False)
        )

    def test_a_command_option_before_the_command_says_where_it_goes(self, cli):
        """An option only a command takes, put before it, gets an error that says what to do."""
        line = one_error_line(cli("--input", "{}", "run", ORDER, use_store=False))
        assert "its other options go after it: durable-exec COMMAND [OPTIONS]" in line


class TestStoreDiscovery:
    def test_the_store_is_found_from_a_subdirectory(self, cli, tmp_path):
        """Like git with .git/, every directory below the project finds its .durable/."""
        project = tmp_path / "project"
        deep = project / "src" / "pkg"
        deep.mkdir(parents=True)
        paused = cli(
            "run", APPROVAL, "--input", APPROVAL_INPUT, "--name", "found-1", "--json",
            use_store=False, cwd=project,
        )
        assert paused.code == 3, paused.err
        assert (project / ".durable" / "executions.db").exists()
        callback_id = paused.json()["waiting_for"][0]["callback_id"]
        answered = cli("callback", "succeed", callback_id, "approved", use_store=False, cwd=deep)
        assert answered.code == 0, answered.err
        finished = cli("resume", "found-1", "--json", use_store=False, cwd=deep)
        assert finished.code == 0, finished.err
        assert not (deep / ".durable").exists()
        assert not (project / "src" / ".durable").exists()

    def test_a_store_is_created_in_the_current_directory_only_when_none_is_found(
        self, cli, tmp_path
    ):
        """With no .durable/ above, `run` creates one here; reads create nothing."""
        here = tmp_path / "fresh"
        here.mkdir()
        listed = cli("list", use_store=False, cwd=here)
        assert listed.code == 0, listed.err
        assert "no executions" in listed.out
        assert not (here / ".durable").exists()
        ran = cli("run", ORDER, "--input", ORDER_INPUT, use_store=False, cwd=here)
        assert ran.code == 0, ran.err
        assert (here / ".durable" / "executions.db").exists()

    def test_the_environment_and_the_option_override_discovery(self, cli, tmp_path):
        """$DURABLE_EXEC_STORE beats discovery, and --store beats both."""
        (tmp_path / ".durable").mkdir(mode=0o700)
        env_store = tmp_path / "env" / "x.db"
        option_store = tmp_path / "opt" / "y.db"
        env = {"DURABLE_EXEC_STORE": str(env_store)}
        by_env = cli(
            "run", ORDER, "--input", ORDER_INPUT, "--name", "by-env",
            use_store=False, extra_env=env,
        )
        assert by_env.code == 0, by_env.err
        assert env_store.exists()
        assert not (tmp_path / ".durable" / "executions.db").exists()
        result = cli(
            "run", ORDER, "--input", ORDER_INPUT, "--name", "by-option",
            "--store", str(option_store), use_store=False, extra_env=env,
        )
        assert result.code == 0, result.err
        listed = cli("list", "--json", use_store=False, extra_env=env).json()
        assert [item["name"] for item in listed["executions"]] == ["by-env"]

    def test_not_found_errors_name_the_store_searched(self, cli, tmp_path, store):
        """An unknown execution or callback says which store was searched and how it was found."""
        cli("run", ORDER, "--input", ORDER_INPUT, "--name", "known")
        line = one_error_line(cli("show", "nope"))
        assert f"unknown execution 'nope' in the store {store}" in line
        assert "given with --store" in line
        line = one_error_line(cli("callback", "succeed", "bm90LWEtY2FsbGJhY2s=", "x"))
        assert f"in the store {store}" in line
        line = one_error_line(cli("callback", "succeed", "known/approve", "x"))
        assert "has no callback called 'approve'" in line
        assert str(store) in line

    def test_info_prints_the_store_in_use(self, cli, tmp_path):
        """`info` names the store and how it was found, and what it holds."""
        project = tmp_path / "p"
        sub = project / "a" / "b"
        sub.mkdir(parents=True)
        cli("run", APPROVAL, "--input", APPROVAL_INPUT, use_store=False, cwd=project)
        shown = cli("info", use_store=False, cwd=sub)
        assert shown.code == 0, shown.err
        assert f"store       {project / '.durable' / 'executions.db'}" in shown.out
        assert f"found walking up from {sub}" in shown.out
        assert "executions  1 (1 running)" in shown.out
        assert "callbacks   1 waiting for an answer" in shown.out
        data = cli("info", "--json", use_store=False, cwd=sub).json()
        assert data["store"] == str(project / ".durable" / "executions.db")
        assert data["store_source"] == "found"
        assert data["executions"]["RUNNING"] == 1
        empty = cli("info", "--json", use_store=False, cwd=tmp_path / "p" / "..").json()
        assert empty["store_source"] in {"default", "found"}


class TestListing:
    def test_list_pages_newest_first(self, cli):
        """list shows the newest executions first, a page at a time, with a cursor for more."""
        for i in range(5):
            assert cli("run", ORDER, "--name", f"o-{i}", "--detach").code == 3
        first = cli("list", "--limit", "2", "--json").json()
        assert [item["name"] for item in first["executions"]] == ["o-4", "o-3"]
        assert first["total"] == 5
        second = cli("list", "--limit", "2", "--cursor", first["next_cursor"], "--json").json()
        assert [item["name"] for item in second["executions"]] == ["o-2", "o-1"]
        text = cli("list", "--limit", "2")
        assert "2 of 5" in text.out
        assert f"--cursor {first['next_cursor']}" in text.out
        assert cli("list", "--search", "o-3", "--json").json()["total"] == 1


class TestInput:
    def test_callback_payload_from_stdin_loses_its_trailing_newline(self, cli):
        """`echo approved | durable-exec callback succeed ID -` sends "approved"."""
        paused = cli("run", APPROVAL, "--input", APPROVAL_INPUT, "--name", "std-1", "--json")
        callback_id = paused.json()["waiting_for"][0]["callback_id"]
        answered = cli("callback", "succeed", callback_id, "-", stdin="approved\n")
        assert answered.code == 0, answered.err
        finished = cli("resume", "std-1", "--json")
        assert finished.json()["execution"]["result"]["decision"] == "approved"

    def test_input_from_stdin(self, cli):
        result = cli("run", ORDER, "--input", "-", "--json", stdin=ORDER_INPUT + "\n")
        assert result.code == 0, result.err
        assert result.json()["execution"]["input"] == {"order_id": "o-42", "items": 3}


class TestOutput:
    def test_a_closed_pipe_keeps_the_commands_exit_code(self, cli, store, tmp_path):
        """`durable-exec show X | head -1` exits with show's own code, not 2, and says nothing."""
        assert cli("run", ORDER, "--input", ORDER_INPUT, "--name", "piped").code == 0
        env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_EXEC_")}
        env["PYTHONPATH"] = str(EXAMPLES.parent)
        command = (
            f"{shlex.quote(sys.executable)} -m durable_exec show piped --all --timeline "
            f"--store {shlex.quote(str(store))} | head -c 1 > /dev/null; "
            "echo ${PIPESTATUS[0]}"
        )
        done = subprocess.run(
            ["bash", "-c", command], env=env, capture_output=True, text=True, check=False
        )
        assert done.stdout.strip() == "0", (done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        assert "Exception ignored" not in done.stderr

    def test_handler_prints_never_corrupt_json(self, cli, tmp_path):
        """A handler's print() (and a subprocess's output) goes to stderr; stdout stays JSON."""
        (tmp_path / "chatty.py").write_text(
            "import os, subprocess, sys\n"
            "from durable_exec import durable_execution\n"
            "print('imported!')\n"
            "@durable_execution\n"
            "def handler(event, context):\n"
            "    print('hello from the handler')\n"
            "    os.write(1, b'raw bytes on fd 1\\n')\n"
            "    subprocess.run([sys.executable, '-c', 'print(\"child process\")'], check=True)\n"
            "    return context.step(lambda _: print('in a step') or 'done', name='s')\n"
        )
        result = cli("run", "chatty.py:handler", "--json")
        assert result.code == 0, result.err
        assert result.json()["execution"]["result"] == "done"
        for text in ("imported!", "hello from the handler", "raw bytes", "child process", "in a"):
            assert text in result.err
        resumed = cli("show", result.json()["execution"]["name"], "--json")
        assert resumed.json()["execution"]["result"] == "done"

    def test_errors_under_json_are_json_objects(self, cli):
        """With --json, an error is a JSON object on stdout (and one line on stderr)."""
        result = cli("show", "nope", "--json")
        assert result.code == 2
        error = result.json()["error"]
        assert error["code"] == "not_found"
        assert "unknown execution 'nope'" in error["message"]
        assert error["exit_code"] == 2
        usage = cli("list", "--limit", "0", "--json")
        assert usage.json()["error"]["code"] == "invalid_input"

    def test_a_handler_traceback_is_stored_and_shown(self, cli, failing_workflow):
        """A failed execution keeps its stack trace; run and show print it, --json has it."""
        ran = cli("run", f"{failing_workflow}:handler", "--name", "tb-1")
        assert ran.code == 1
        assert "Traceback (most recent call last)" in ran.out
        assert f'File "{failing_workflow}", line 4, in charge' in ran.out
        shown = cli("show", "tb-1")
        assert f'File "{failing_workflow}", line 4, in charge' in shown.out
        data = cli("show", "tb-1", "--json").json()
        trace = "".join(data["execution"]["error"]["stack_trace"])
        assert "ValueError: card declined" in trace

    def test_logger_output_appears_with_verbose(self, cli):
        """context.logger records show on stderr with -v (INFO) or --log-level."""
        quiet = cli("run", ORDER, "--input", ORDER_INPUT)
        assert "reserving 3 items for o-42" not in quiet.err
        loud = cli("run", ORDER, "--input", ORDER_INPUT, "-v")
        assert "reserving 3 items for o-42" in loud.err
        leveled = cli("run", ORDER, "--input", ORDER_INPUT, "--log-level", "info", "--json")
        assert "reserving 3 items for o-42" in leveled.err
        assert leveled.json()["execution"]["status"] == "SUCCEEDED"


class TestCallbackRefs:
    def test_answer_by_execution_and_callback_name(self, cli):
        """EXECUTION/CALLBACK-NAME works besides the long id, and show prints the short form."""
        paused = cli("run", APPROVAL, "--input", APPROVAL_INPUT, "--name", "short-1")
        assert paused.code == 3
        assert "durable-exec callback succeed short-1/manager-approval 'RESULT'" in paused.out
        shown = cli("show", "short-1", "--json").json()
        assert shown["waiting_for"][0]["ref"] == "short-1/manager-approval"
        answered = cli("callback", "succeed", "short-1/manager-approval", "approved")
        assert answered.code == 0, answered.err
        assert "durable-exec resume short-1" in answered.out
        assert cli("resume", "short-1").code == 0
        closed = cli("callback", "succeed", "short-1/manager-approval", "again")
        assert "the callback is closed" in one_error_line(closed)

    def test_expire_callbacks_says_when_there_is_nothing_to_expire(self, cli, tmp_path):
        """A callback without a timeout cannot expire: --expire-callbacks says so."""
        (tmp_path / "forever.py").write_text(
            "from durable_exec import durable_execution\n"
            "@durable_execution\n"
            "def handler(event, context):\n"
            "    return context.wait_for_callback(lambda cid, _: None, name='answer')\n"
        )
        result = cli("run", "forever.py:handler", "--expire-callbacks")
        assert result.code == 3, result.err
        assert "nothing to expire" in result.out
        data = cli("resume", result.out.split()[1], "--expire-callbacks", "--json").json()
        assert any("nothing to expire" in note for note in data["notes"])


class TestTime:
    def test_start_times_stay_real_after_a_long_virtual_wait(self, cli, tmp_path):
        """A 2-hour virtual wait does not push the next execution's start into the future."""
        (tmp_path / "sleepy.py").write_text(
            "from durable_exec import Duration, durable_execution\n"
            "@durable_execution\n"
            "def handler(event, context):\n"
            "    context.wait(Duration.from_hours(2), name='nap')\n"
            "    return 'rested'\n"
        )
        before = datetime.fromtimestamp(SYSTEM_CLOCK.now(), UTC)
        assert cli("run", "sleepy.py:handler", "--name", "s-1").code == 0
        assert cli("run", "sleepy.py:handler", "--name", "s-2").code == 0
        after = datetime.fromtimestamp(SYSTEM_CLOCK.now(), UTC)
        listed = {item["name"]: item for item in cli("list", "--json").json()["executions"]}
        second = datetime.fromisoformat(listed["s-2"]["start"])
        assert before <= second <= after + timedelta(seconds=1)
        first_end = datetime.fromisoformat(listed["s-1"]["end"])
        assert first_end - datetime.fromisoformat(listed["s-1"]["start"]) >= timedelta(hours=2)


class TestCrashes:
    """An interrupted run continues on the next resume (issue 13, items 1 and 6)."""

    @pytest.fixture
    def slow(self, tmp_path):
        """A workflow whose second step blocks until the test kills the process."""
        gate = tmp_path / "started"
        (tmp_path / "slow.py").write_text(
            "import os, time\n"
            "from durable_exec import StepConfig, StepSemantics, durable_execution\n"
            f"GATE = {str(gate)!r}\n"
            "def block(_):\n"
            "    if not os.environ.get('UNBLOCK'):\n"
            "        open(GATE, 'w').close()\n"
            "        time.sleep(60)\n"
            "    return 'second'\n"
            "@durable_execution\n"
            "def handler(event, context):\n"
            "    a = context.step(lambda _: 'first', name='a')\n"
            "    b = context.step(block, name='b', config=StepConfig(step_semantics=\n"
            "        StepSemantics[event.get('semantics', 'AT_LEAST_ONCE_PER_RETRY')]))\n"
            "    return [a, b]\n"
        )
        return gate

    def _start_and_kill(self, tmp_path, store, gate, sig, semantics="AT_LEAST_ONCE_PER_RETRY"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_EXEC_")}
        env["PYTHONPATH"] = str(EXAMPLES.parent)
        process = subprocess.Popen(
            [
                sys.executable, "-m", "durable_exec", "run", "slow.py:handler",
                "--name", "crash-1", "--input", json.dumps({"semantics": semantics}),
                "--store", str(store),
            ],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            _wait_for_file(gate, process)
            process.send_signal(sig)
            out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
        return process.returncode, out, err

    @pytest.mark.parametrize(
        ("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGKILL, -9)]
    )
    def test_an_interrupted_run_continues_on_resume(self, cli, tmp_path, store, slow, sig, code):
        """Ctrl-C, SIGTERM or kill -9 inside a step: resume retries the step and finishes."""
        returned, _, err = self._start_and_kill(tmp_path, store, slow, sig)
        assert returned == code, err
        if sig != signal.SIGKILL:
            assert "`durable-exec resume` retries" in err
        resumed = cli("resume", "crash-1", "--json", extra_env={"UNBLOCK": "1"})
        assert resumed.code == 0, (resumed.out, resumed.err)
        data = resumed.json()
        assert data["execution"]["result"] == ["first", "second"]
        step_b = next(op for op in data["operations"] if op["name"] == "b")
        assert step_b["attempts"] == 1  # at least once: the body simply ran again
        history = cli("history", "crash-1", "--json").json()["events"]
        interrupted = [
            e for e in history
            if e["EventType"] == "InvocationCompleted"
            and e["InvocationCompletedDetails"].get("Error")
        ]
        assert len(interrupted) == 1
        error = interrupted[0]["InvocationCompletedDetails"]["Error"]["Payload"]
        assert error["ErrorType"] == "Runtime.ExitError"

    def test_an_interrupted_at_most_once_step_goes_through_its_retry_strategy(
        self, cli, tmp_path, store, slow
    ):
        """An at-most-once step cut short is not rerun blindly: StepInterruptedError, retried."""
        returned, _, _ = self._start_and_kill(
            tmp_path, store, slow, signal.SIGKILL, semantics="AT_MOST_ONCE_PER_RETRY"
        )
        assert returned == -9
        resumed = cli("resume", "crash-1", "--json", extra_env={"UNBLOCK": "1"})
        assert resumed.code == 0, (resumed.out, resumed.err)
        step_b = next(op for op in resumed.json()["operations"] if op["name"] == "b")
        assert step_b["attempts"] == 2  # attempt 1 was interrupted; the retry ran it
        history = cli("history", "crash-1", "--json").json()["events"]
        failed = [e for e in history if e["EventType"] == "StepFailed" and e.get("Name") == "b"]
        assert failed[0]["StepFailedDetails"]["Error"]["Payload"]["ErrorType"].endswith(
            "StepInterruptedError"
        )

    def test_run_with_the_same_name_also_continues(self, cli, tmp_path, store, slow):
        """`run --name NAME` again (same input) continues the interrupted execution."""
        self._start_and_kill(tmp_path, store, slow, signal.SIGKILL)
        again = cli(
            "run", "slow.py:handler", "--name", "crash-1", "--input",
            json.dumps({"semantics": "AT_LEAST_ONCE_PER_RETRY"}), "--json",
            extra_env={"UNBLOCK": "1"},
        )
        assert again.code == 0, again.err
        assert again.json()["execution"]["result"] == ["first", "second"]


def _wait_for_file(path, process) -> None:
    """Block until ``path`` exists (the child creates it), in 20 ms slices of select."""
    import select

    deadline = 60.0
    import time

    start = time.monotonic()
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the process ended early: {process.communicate()}")
        if time.monotonic() - start > deadline:
            raise AssertionError("the step never started")
        select.select([], [], [], 0.02)


def _documented_commands() -> list[tuple[str, list[str]]]:
    """The `Run it:` command of every example's docstring, as argument lists."""
    import ast
    import re

    found = []
    for path in sorted(EXAMPLES.glob("*.py")):
        if path.name.startswith("test_"):
            continue  # the examples' own tests, not workflows
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        match = re.search(r"Run it:\s*(durable-exec run .*?)(?:\n\s*\n|\nthen |\Z)", doc, re.DOTALL)
        found.append((path.name, shlex.split(match.group(1)) if match else []))
    return found


@pytest.mark.parametrize(("example", "argv"), _documented_commands())
def test_every_example_shows_a_run_command_that_works(cli, example, argv):
    """Each example's docstring gives its `durable-exec run` command, and it runs as written."""
    assert argv[:2] == ["durable-exec", "run"], f"{example} shows no run command"
    result = cli(*argv[1:], cwd=EXAMPLES.parent)
    assert result.code in (0, 3), (example, result.out, result.err)


def test_several_processes_share_one_store(cli, tmp_path, store):
    """Runs in parallel on one store (WAL, busy timeout) all finish, and a reader meanwhile too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_EXEC_")}
    env["PYTHONPATH"] = str(EXAMPLES.parent)
    cli("run", ORDER, "--input", ORDER_INPUT, "--name", "first")  # create the store
    fan_out = f"{EXAMPLES / 'fan_out.py'}:handler"
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "durable_exec", "run", fan_out, "--input", '{"lines": 150}',
             "--name", f"parallel-{i}", "--store", str(store), "--json"],
            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(3)
    ]
    listed = cli("list", "--json")
    results = [p.communicate(timeout=120) for p in processes]
    assert listed.code == 0, listed.err
    for process, (out, err) in zip(processes, results, strict=True):
        assert process.returncode == 0, err
        assert json.loads(out)["execution"]["result"]["charged"] == 148
    names = {item["name"] for item in cli("list", "--json").json()["executions"]}
    assert names == {"first", "parallel-0", "parallel-1", "parallel-2"}
