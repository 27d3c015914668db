"""The console's JSON API over a real store: lists, one execution, payloads, callbacks, resume."""

from __future__ import annotations

import json

import pytest
from conftest import APPROVAL_INPUT, EXAMPLES, Client, run_workflow

from durable_exec._cli._errors import CliError
from durable_exec._cli._ui._data import (
    PREVIEW_CHARS,
    PREVIEW_LINES,
    error_json,
    payload_block,
    pretty,
)


class TestPayloads:
    def test_json_is_pretty_printed_and_typed_envelopes_are_unwrapped(self):
        envelope = json.dumps({"t": "m", "v": {"n": {"t": "i", "v": 3}}})
        text, is_json = pretty(envelope)
        assert is_json
        assert json.loads(text) == {"n": 3}
        assert "\n  " in text

    def test_text_that_is_not_json_is_shown_as_it_is(self):
        assert pretty("approved") == ("approved", False)

    @pytest.mark.parametrize("lines", [PREVIEW_LINES + 1, 5])
    def test_large_payloads_are_cut_and_say_so(self, lines):
        width = PREVIEW_CHARS if lines == 5 else 10
        payload = json.dumps(["x" * width] * lines)
        block = payload_block(payload)
        assert block is not None
        assert block["truncated"] is True
        assert block["size"] == len(pretty(payload)[0])
        assert len(block["text"]) < block["size"]

    def test_small_payloads_are_whole(self):
        block = payload_block('{"a": 1}')
        assert block == {"text": '{\n  "a": 1\n}', "json": True, "size": 12, "truncated": False}

    def test_an_error_object_becomes_text_with_its_stack_trace(self):
        error = error_json(
            {
                "ErrorType": "ValueError",
                "ErrorMessage": "bad",
                "ErrorData": '{"k": 1}',
                "StackTrace": ["Traceback (most recent call last):\n", '  File "x.py", line 1'],
            }
        )
        assert error is not None
        assert error["type"] == "ValueError"
        assert error["stack_trace"] == 'Traceback (most recent call last):\n  File "x.py", line 1'
        assert error["data"]["text"] == '{\n  "k": 1\n}'


class TestList:
    def test_pages_filters_and_search(self, client: Client, workspace, workflows):
        for i in range(5):
            run_workflow(workspace, workflows / "approval.py", f"approve-{i}", APPROVAL_INPUT)
        run_workflow(workspace, workflows / "shop.py", "order-1", '{"order": "o-1"}')
        run_workflow(workspace, workflows / "hostile.py", "bad-1")
        first = client.api("/api/executions", limit=2)
        assert first["total"] == 7
        assert [e["name"] for e in first["executions"]] == ["bad-1", "order-1"]
        second = client.api("/api/executions", limit=2, cursor=first["next_cursor"])
        assert [e["name"] for e in second["executions"]] == ["approve-4", "approve-3"]
        running = client.api("/api/executions", status="RUNNING")
        assert running["total"] == 5
        assert {e["status"] for e in running["executions"]} == {"RUNNING"}
        both = client.api("/api/executions", status="SUCCEEDED,FAILED")
        assert {e["name"] for e in both["executions"]} == {"order-1", "bad-1"}
        assert client.api("/api/executions", name="approve-")["total"] == 5
        assert client.api("/api/executions", search="shop")["total"] == 1
        assert client.api("/api/executions", function="hostile")["total"] == 1
        oldest = client.api("/api/executions", order="oldest", limit=1)
        assert oldest["executions"][0]["name"] == "approve-0"
        [failed] = both["executions"][:1]
        assert failed["error_type"].endswith("StepError")
        assert failed["error_message"].startswith("bad ")

    def test_bad_filters_are_refused_clearly(self, client: Client, workspace):
        response = client.get("/api/executions", status="DONE")
        assert response.status == 400
        assert "unknown status 'DONE'" in response.json()["error"]["message"]
        assert client.get("/api/executions", limit=5000).status == 400
        assert client.get("/api/executions", cursor="garbage").status == 400

    def test_a_missing_store_reads_as_empty_then_appears(
        self, client: Client, workspace, workflows
    ):
        # The console started before the store existed; it opens the store once it appears.
        assert client.api("/api/executions")["total"] == 0
        run_workflow(workspace, workflows / "approval.py", "late", APPROVAL_INPUT)
        assert client.api("/api/executions")["total"] == 1


class TestOneExecution:
    def test_tree_timeline_payloads_and_callbacks(self, client: Client, workspace, workflows):
        arn = run_workflow(workspace, workflows / "approval.py", "approve-1", APPROVAL_INPUT)
        data = client.api("/api/execution", arn="approve-1")
        assert data["execution"]["arn"] == arn
        assert data["execution"]["status"] == "RUNNING"
        assert data["execution"]["resumable"] is True
        assert json.loads(data["execution"]["input"]["text"]) == json.loads(APPROVAL_INPUT)
        by_id = {op["id"]: op for op in data["operations"]}
        [root] = data["roots"]
        assert by_id[root]["label"] == "manager-approval"
        assert {by_id[c]["type"] for c in by_id[root]["children"]} == {"CALLBACK", "STEP"}
        [callback] = data["callbacks"]
        assert callback["ref"] == "approve-1/manager-approval"
        assert set(data["timeline"]["lanes"]) == set(by_id)
        assert data["seq"] >= data["execution"]["updated_seq"]

    def test_operation_detail_has_its_stack_trace_and_events(
        self, client: Client, workspace, workflows, stack_traces
    ):
        arn = run_workflow(workspace, workflows / "shop.py", "order-1", '{"order": "o-1"}')
        data = client.api("/api/execution", arn=arn)
        [charge] = [op for op in data["operations"] if op["label"] == "charge"]
        assert charge["attempts"] == 2
        detail = client.api("/api/operation", arn=arn, id=charge["id"])
        assert json.loads(detail["result"]["text"]) == "charged"
        kinds = [e["EventType"] for e in detail["events"]]
        assert kinds == ["StepStarted", "StepFailed", "StepStarted", "StepSucceeded"]
        failed = run_workflow(workspace, workflows / "hostile.py", "bad-1")
        [fails] = [
            op
            for op in client.api("/api/execution", arn=failed)["operations"]
            if op["label"] == "fails"
        ]
        error = client.api("/api/operation", arn=failed, id=fails["id"])["error"]
        assert error["type"] == "ValueError"
        assert "Traceback (most recent call last)" in error["stack_trace"]
        assert "in boom" in error["stack_trace"]
        execution = client.api("/api/execution", arn=failed)["execution"]
        assert execution["error"]["type"].endswith("StepError")
        assert execution["error"]["stack_trace"]

    def test_a_large_result_is_cut_and_fetched_whole_on_request(
        self, client: Client, workspace, workflows
    ):
        arn = run_workflow(workspace, workflows / "big.py", "big-1")
        data = client.api("/api/execution", arn=arn)
        [big] = [op for op in data["operations"] if op["label"] == "big"]
        assert len(big["preview"]) <= 120
        detail = client.api("/api/operation", arn=arn, id=big["id"])
        assert detail["result"]["truncated"] is True
        whole = client.api("/api/payload", arn=arn, id=big["id"], field="result")
        assert whole["size"] == detail["result"]["size"]
        assert json.loads(whole["text"])[-1] == "line 04999"
        [wide] = [op for op in data["operations"] if op["label"] == "wide"]
        assert len(wide["children"]) == 60

    def test_unknown_things_are_404_naming_the_store(self, client: Client, workspace, workflows):
        arn = run_workflow(workspace, workflows / "approval.py", "approve-1", APPROVAL_INPUT)
        response = client.get("/api/execution", arn="nope")
        assert response.status == 404
        assert "executions.db" in response.json()["error"]["message"]
        assert client.get("/api/operation", arn=arn, id="0" * 64).status == 404
        assert client.get("/api/payload", arn=arn, field="result").status == 404
        assert client.get("/api/nothing").status == 404


class TestLinks:
    def test_waiting_callbacks_across_the_store(self, client: Client, workspace, workflows):
        for i in range(3):
            run_workflow(workspace, workflows / "approval.py", f"approve-{i}", APPROVAL_INPUT)
        run_workflow(workspace, workflows / "shop.py", "order-1", '{"order": "o-1"}')
        waiting = client.api("/api/callbacks", limit=2)
        assert [c["execution_name"] for c in waiting["callbacks"]] == ["approve-0", "approve-1"]
        assert waiting["callbacks"][0]["ref"] == "approve-0/manager-approval"
        assert waiting["more"] is True
        assert client.api("/api/callbacks")["more"] is False
        assert client.get("/api/callbacks", limit=0).status == 400

    def test_chained_invokes_link_parent_and_child(self, client: Client, workspace):
        orchestrator = EXAMPLES / "orchestrator.py"
        arn = run_workflow(
            workspace,
            orchestrator,
            "orchestrate-1",
            '{"order_id": "o-9", "country": "DE"}',
            functions={
                "report-builder": f"{orchestrator}:report_builder",
                "tax-rate": f"{orchestrator}:tax_rate",
            },
        )
        data = client.api("/api/execution", arn=arn)
        assert data["execution"]["status"] == "SUCCEEDED"
        [child] = data["execution"]["children"]
        [invoke] = [op for op in data["operations"] if op["child_arn"]]
        assert invoke["type"] == "CHAINED_INVOKE"
        assert invoke["child_arn"] == child["arn"]
        assert child["status"] == "SUCCEEDED"
        detail = client.api("/api/operation", arn=arn, id=invoke["id"])
        assert json.loads(detail["input"]["text"]) == {"order": "o-9"}
        child_data = client.api("/api/execution", arn=child["arn"])
        assert child_data["execution"]["parent"]["arn"] == arn
        assert child_data["execution"]["resumable"] is False  # it ended


class TestChanges:
    def test_callback_answer_then_resume_in_a_child_process(
        self, client: Client, console, workspace, workflows
    ):
        arn = run_workflow(workspace, workflows / "approval.py", "approve-1", APPROVAL_INPUT)
        seq = client.api("/api/execution", arn=arn)["seq"]
        assert client.api("/api/poll", since=seq, arn=arn)["changed"] is False
        answered = client.post(
            "/api/callback",
            {"callback": "approve-1/manager-approval", "action": "succeed", "payload": "approved"},
        )
        assert answered.status == 200, answered.text
        poll = client.api("/api/poll", since=seq, arn=arn)
        assert poll["changed"] is True
        assert poll["seq"] > seq
        started = client.post("/api/resume", {"arn": arn})
        assert started.status == 200, started.text
        job = started.json()["job"]
        assert job["running"] is True
        console.console.jobs.wait(job["id"], timeout=60)
        [ended] = client.api("/api/poll", since=0, arn=arn)["jobs"]
        assert ended["outcome"] == "succeeded", ended["output"]
        assert "importing" in ended["output"]
        data = client.api("/api/execution", arn=arn)
        assert data["execution"]["status"] == "SUCCEEDED"
        assert json.loads(data["execution"]["result"]["text"])["decision"] == "approved"
        again = client.post("/api/resume", {"arn": arn})
        assert again.status == 400
        assert "already ended" in again.json()["error"]["message"]

    def test_fail_and_heartbeat(self, client: Client, workspace, workflows):
        run_workflow(workspace, workflows / "approval.py", "approve-1", APPROVAL_INPUT)
        beat = client.post(
            "/api/callback", {"callback": "approve-1/manager-approval", "action": "heartbeat"}
        )
        assert beat.status == 200
        failed = client.post(
            "/api/callback",
            {
                "callback": "approve-1/manager-approval",
                "action": "fail",
                "payload": "rejected",
                "error_type": "Rejected",
            },
        )
        assert failed.status == 200
        closed = client.post(
            "/api/callback",
            {"callback": "approve-1/manager-approval", "action": "succeed", "payload": "x"},
        )
        assert closed.status == 409
        assert "closed" in closed.json()["error"]["message"]
        bad = client.post(
            "/api/callback", {"callback": "approve-1/manager-approval", "action": "x"}
        )
        assert bad.status == 400

    def test_stop(self, client: Client, workspace, workflows):
        arn = run_workflow(workspace, workflows / "approval.py", "approve-1", APPROVAL_INPUT)
        stopped = client.post("/api/stop", {"arn": arn, "message": "enough"})
        assert stopped.json() == {"status": "STOPPED"}
        assert workspace.summary(arn).status == "STOPPED"

    def test_a_resume_already_running_is_refused(self, console, workspace, workflows):
        arn = run_workflow(workspace, workflows / "approval.py", "approve-1", APPROVAL_INPUT)
        jobs = console.console.jobs
        job = jobs.resume(arn, "approve-1")
        try:
            with pytest.raises(CliError, match="already being resumed"):
                jobs.resume(arn, "approve-1")
        finally:
            jobs.wait(job.id, timeout=60)
        assert jobs.get(job.id)["outcome"] == "waiting"  # the callback is still open


def test_importing_durable_exec_or_the_cli_parser_never_loads_the_server():
    """The console's server loads only for `durable-exec ui`."""
    import subprocess
    import sys

    code = (
        "import sys, durable_exec, durable_exec.testing\n"
        "from durable_exec._cli._app import build_parser\n"
        "build_parser().parse_args(['ui'])\n"
        "print(','.join(m for m in ('http.server', 'durable_exec._cli._ui._server', "
        "'durable_exec._cli._ui._data') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_the_change_sequence_rises_with_every_save(tmp_path, workflows):
    """Workspace.change_sequence: 0 without a store, then the largest updated_seq."""
    from durable_exec._cli._workspace import Workspace, locate_store

    location = locate_store(tmp_path / "w" / ".durable" / "executions.db")
    assert Workspace(location).change_sequence() == 0  # no store yet
    with Workspace(location, create=True) as workspace:
        assert workspace.change_sequence() == 0
        arn = run_workflow(workspace, workflows / "approval.py", "approve-1", APPROVAL_INPUT)
        before = workspace.change_sequence()
        assert before == workspace.summary(arn).updated_seq > 0
        assert workspace.changed_since(before) == []
        workspace.send_callback_heartbeat("approve-1/manager-approval")
        assert workspace.change_sequence() > before
        assert [e.arn for e in workspace.changed_since(before)] == [arn]
