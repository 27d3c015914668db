"""Behaviour of the in-memory durable-execution service, through its public methods only."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from durable_exec.testing._clock import DEFAULT_START, VirtualClock
from durable_exec.testing._service import ChainedInvokeRequest, LocalDurableService
from durable_exec.testing._sqlite_store import SqliteStore
from durable_exec.testing._store import ExecutionStore, MemoryStore

START = datetime(2026, 1, 1, tzinfo=UTC)
MIB = 1_048_576


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture(params=["memory", "sqlite", "sqlite-uncached"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ExecutionStore]:
    """Each back end of the service: in memory, in SQLite, and SQLite re-read on every load."""
    if request.param == "memory":
        yield MemoryStore()
        return
    with SqliteStore(tmp_path / "executions.db", cache=request.param == "sqlite") as sqlite:
        yield sqlite


@pytest.fixture
def service(clock: VirtualClock, store: ExecutionStore) -> LocalDurableService:
    return LocalDurableService(clock, store)


class Run:
    """One execution plus the checkpoint token of its current invocation."""

    def __init__(self, service: LocalDurableService, arn: str) -> None:
        self.service = service
        self.arn = arn
        self.event = service.invocation_event(arn)
        self.token: str = self.event["CheckpointToken"]

    def checkpoint(self, *updates: dict[str, Any], client_token: str | None = None) -> dict:
        kwargs: dict[str, Any] = {}
        if client_token is not None:
            kwargs["ClientToken"] = client_token
        response = self.service.checkpoint_durable_execution(
            DurableExecutionArn=self.arn,
            CheckpointToken=self.token,
            Updates=list(updates),
            **kwargs,
        )
        if "CheckpointToken" in response:
            self.token = response["CheckpointToken"]
        return response

    def reinvoke(self) -> dict:
        self.event = self.service.invocation_event(self.arn)
        self.token = self.event["CheckpointToken"]
        return self.event

    def op(self, op_id: str) -> dict:
        return next(op for op in self.service.operations(self.arn) if op["Id"] == op_id)

    def event_types(self) -> list[str]:
        return [event["EventType"] for event in self.service.events(self.arn)]


@pytest.fixture
def run(service: LocalDurableService) -> Run:
    return Run(service, service.start_execution("orders", '{"order": 7}', execution_name="exec-1"))


def upd(op_id: str, op_type: str, action: str, **members: Any) -> dict[str, Any]:
    return {"Id": op_id, "Type": op_type, "Action": action, **members}


def step_start(op_id: str, **members: Any) -> dict[str, Any]:
    return upd(op_id, "STEP", "START", **members)


def wait_start(op_id: str, seconds: int, **members: Any) -> dict[str, Any]:
    return upd(op_id, "WAIT", "START", WaitOptions={"WaitSeconds": seconds}, **members)


def callback_start(op_id: str, timeout: int = 0, heartbeat: int = 0, **members: Any) -> dict:
    options = {"TimeoutSeconds": timeout, "HeartbeatTimeoutSeconds": heartbeat}
    return upd(op_id, "CALLBACK", "START", CallbackOptions=options, **members)


def retry(op_id: str, delay: int, **members: Any) -> dict[str, Any]:
    return upd(op_id, "STEP", "RETRY", StepOptions={"NextAttemptDelaySeconds": delay}, **members)


def invoke_start(op_id: str, **members: Any) -> dict[str, Any]:
    options = {"FunctionName": "payments:1"}
    return upd(op_id, "CHAINED_INVOKE", "START", ChainedInvokeOptions=options, **members)


def error_of(info: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = info.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


class TestVirtualClock:
    def test_starts_at_2026_by_default(self):
        """A new clock reads 2026-01-01T00:00:00Z."""
        assert VirtualClock().now() == START.timestamp() == DEFAULT_START

    def test_accepts_an_aware_datetime_start(self):
        """The start time may be given as an aware datetime."""
        assert VirtualClock(START + timedelta(hours=1)).now() == DEFAULT_START + 3600

    def test_rejects_a_naive_datetime(self):
        """A naive datetime start is refused rather than guessed."""
        with pytest.raises(ValueError, match="naive"):
            VirtualClock(datetime(2026, 1, 1))  # noqa: DTZ001

    def test_advance_moves_time_forward(self, clock):
        """advance adds seconds to the virtual time."""
        clock.advance(90.5)
        assert clock.now() == DEFAULT_START + 90.5

    def test_advance_refuses_negative_seconds(self, clock):
        """advance never moves time backwards."""
        with pytest.raises(ValueError, match="backwards"):
            clock.advance(-1)

    def test_advance_to_an_earlier_time_is_a_no_op(self, clock):
        """advance_to a past moment leaves the clock where it is."""
        clock.advance(100)
        clock.advance_to(DEFAULT_START + 10)
        assert clock.now() == DEFAULT_START + 100

    def test_sleep_advances_virtual_time(self, clock):
        """sleep moves virtual time forward by the requested seconds."""
        clock.sleep(3600)
        assert clock.now() == DEFAULT_START + 3600

    def test_timeout_until_grants_a_grace_then_skip_to_jumps(self, clock):
        """timeout_until asks for a short real grace; skip_to then jumps to the due moment."""
        assert clock.timeout_until(DEFAULT_START + 42) == clock.idle_grace
        clock.skip_to(DEFAULT_START + 42)
        assert clock.now() == DEFAULT_START + 42
        assert clock.timeout_until(DEFAULT_START + 42) == 0.0
        assert clock.now() == DEFAULT_START + 42

    def test_monotonic_is_real_time(self, clock):
        """monotonic ignores virtual jumps."""
        before = clock.monotonic()
        clock.advance(10_000)
        assert clock.monotonic() - before < 60


class TestStartExecution:
    def test_arn_has_the_documented_shape(self, service):
        """The ARN names function, qualifier, execution name and invocation id."""
        arn = service.start_execution("orders", None, execution_name="e1")
        prefix = (
            "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/e1/"
        )
        assert arn.startswith(prefix)
        assert len(arn.rsplit("/", 1)[1]) > 0

    def test_execution_operation_id_is_the_last_arn_segment(self, service):
        """The EXECUTION operation's Id is the ARN's last segment and it carries the input."""
        arn = service.start_execution("orders", '{"a": 1}')
        (op,) = service.operations(arn)
        assert op["Id"] == arn.rsplit("/", 1)[1]
        assert (op["Type"], op["Status"]) == ("EXECUTION", "STARTED")
        assert op["ExecutionDetails"] == {"InputPayload": '{"a": 1}'}

    def test_same_name_and_input_returns_the_same_arn(self, service):
        """Starting an existing name with the same input is idempotent."""
        first = service.start_execution("orders", "1", execution_name="dup")
        assert service.start_execution("orders", "1", execution_name="dup") == first

    def test_same_name_with_other_input_is_rejected(self, service):
        """Starting an existing name with different input raises AlreadyStarted (409)."""
        service.start_execution("orders", "1", execution_name="dup")
        with pytest.raises(ClientError) as info:
            service.start_execution("orders", "2", execution_name="dup")
        assert error_of(info)[:2] == ("DurableExecutionAlreadyStartedException", 409)

    def test_invalid_function_name_is_rejected(self, service):
        """A function name outside [a-zA-Z0-9-_] is an InvalidParameterValue."""
        with pytest.raises(ClientError) as info:
            service.start_execution("bad name")
        assert error_of(info)[:2] == ("InvalidParameterValueException", 400)

    def test_get_durable_execution_describes_a_running_execution(self, service):
        """GetDurableExecution reports status, input, times as aware datetimes and version."""
        arn = service.start_execution("orders", '"in"', execution_name="e2")
        response = service.get_durable_execution(DurableExecutionArn=arn)
        assert response["Status"] == "RUNNING"
        assert response["DurableExecutionName"] == "e2"
        assert response["InputPayload"] == '"in"'
        assert response["StartTimestamp"] == START
        assert response["StartTimestamp"].tzinfo is not None
        assert response["FunctionArn"].endswith(":function:orders:$LATEST")
        assert response["Version"] == "$LATEST"
        assert "EndTimestamp" not in response
        assert "Result" not in response

    def test_get_durable_execution_can_leave_out_data(self, service):
        """IncludeExecutionData=False omits the input payload."""
        arn = service.start_execution("orders", '"in"')
        response = service.get_durable_execution(
            DurableExecutionArn=arn, IncludeExecutionData=False
        )
        assert "InputPayload" not in response

    def test_unknown_arn_is_resource_not_found(self, service):
        """GetDurableExecution on an unknown ARN raises ResourceNotFound (404)."""
        with pytest.raises(ClientError) as info:
            service.get_durable_execution(DurableExecutionArn="arn:aws:lambda:nope")
        assert error_of(info)[:2] == ("ResourceNotFoundException", 404)


class TestCheckpointTokens:
    def test_each_checkpoint_returns_a_new_token(self, run):
        """A successful checkpoint rotates the token."""
        old = run.token
        response = run.checkpoint(step_start("s1"))
        assert response["CheckpointToken"] != old

    def test_a_consumed_token_is_rejected(self, run):
        """Reusing a consumed token is InvalidParameterValue: 'Invalid checkpoint token...'."""
        old = run.token
        run.checkpoint()
        with pytest.raises(ClientError) as info:
            run.service.checkpoint_durable_execution(
                DurableExecutionArn=run.arn, CheckpointToken=old, Updates=[]
            )
        code, status, message = error_of(info)
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert message.startswith("Invalid checkpoint token")

    def test_the_error_names_the_operation(self, run):
        """The ClientError reports the API operation name, like botocore."""
        with pytest.raises(ClientError) as info:
            run.service.checkpoint_durable_execution(
                DurableExecutionArn=run.arn, CheckpointToken="bogus", Updates=[]
            )
        assert info.value.operation_name == "CheckpointDurableExecution"
        assert type(info.value).__name__ == "InvalidParameterValueException"

    def test_a_new_invocation_invalidates_older_tokens(self, run):
        """invocation_event issues a token that supersedes the previous invocation's."""
        old = run.token
        run.reinvoke()
        with pytest.raises(ClientError, match="Invalid checkpoint token"):
            run.service.checkpoint_durable_execution(
                DurableExecutionArn=run.arn, CheckpointToken=old, Updates=[]
            )

    def test_an_empty_checkpoint_is_a_valid_poll(self, run):
        """Updates=[] succeeds, rotates the token and reports no operations."""
        response = run.checkpoint()
        assert response["NewExecutionState"] == {"Operations": []}
        assert "CheckpointToken" in response

    def test_unknown_execution_is_an_invalid_token(self, service):
        """A checkpoint against an unknown ARN is InvalidParameterValue (the API models no 404)."""
        with pytest.raises(ClientError) as info:
            service.checkpoint_durable_execution(
                DurableExecutionArn="arn:nope", CheckpointToken="x", Updates=[]
            )
        assert error_of(info)[0] == "InvalidParameterValueException"

    def test_tokens_use_the_base64_alphabet(self, run):
        """Checkpoint tokens are base64 strings."""
        base64.b64decode(run.checkpoint()["CheckpointToken"], validate=True)


class TestIdempotency:
    def test_same_client_token_returns_the_first_response(self, run):
        """A retry with the same ClientToken and CheckpointToken gets the first response."""
        token = run.token
        first = run.checkpoint(step_start("s1"), client_token="c-1")
        again = run.service.checkpoint_durable_execution(
            DurableExecutionArn=run.arn,
            CheckpointToken=token,
            Updates=[step_start("s1")],
            ClientToken="c-1",
        )
        assert again == first

    def test_a_replay_is_not_affected_by_mutating_the_first_response(self, run):
        """The cached response is a private copy of what the caller received."""
        token = run.token
        first = run.checkpoint(step_start("s1"), client_token="c-1")
        first["NewExecutionState"]["Operations"].clear()
        again = run.service.checkpoint_durable_execution(
            DurableExecutionArn=run.arn, CheckpointToken=token, Updates=[], ClientToken="c-1"
        )
        assert [op["Id"] for op in again["NewExecutionState"]["Operations"]] == ["s1"]

    def test_a_replay_does_not_apply_twice(self, run):
        """The replayed batch adds no history events and no second operation."""
        token = run.token
        run.checkpoint(step_start("s1"), client_token="c-1")
        events = len(run.service.events(run.arn))
        run.service.checkpoint_durable_execution(
            DurableExecutionArn=run.arn,
            CheckpointToken=token,
            Updates=[step_start("s1")],
            ClientToken="c-1",
        )
        assert len(run.service.events(run.arn)) == events
        assert len(run.service.operations(run.arn)) == 2

    def test_another_client_token_with_a_consumed_token_is_rejected(self, run):
        """Idempotency needs the same ClientToken; otherwise the token is stale."""
        token = run.token
        run.checkpoint(step_start("s1"), client_token="c-1")
        with pytest.raises(ClientError, match="Invalid checkpoint token"):
            run.service.checkpoint_durable_execution(
                DurableExecutionArn=run.arn, CheckpointToken=token, Updates=[], ClientToken="c-2"
            )

    def test_replay_expires_after_the_window(self, run, clock):
        """After 15 minutes the same pair is treated as a stale token."""
        token = run.token
        run.checkpoint(client_token="c-1")
        clock.advance(901)
        with pytest.raises(ClientError, match="Invalid checkpoint token"):
            run.service.checkpoint_durable_execution(
                DurableExecutionArn=run.arn, CheckpointToken=token, Updates=[], ClientToken="c-1"
            )

    def test_replay_of_the_final_checkpoint_still_answers(self, run):
        """A retry of the checkpoint that ended the execution gets the same tokenless answer."""
        token = run.token
        first = run.checkpoint(upd("end", "EXECUTION", "SUCCEED", Payload='"ok"'), client_token="c")
        again = run.service.checkpoint_durable_execution(
            DurableExecutionArn=run.arn,
            CheckpointToken=token,
            Updates=[upd("end", "EXECUTION", "SUCCEED", Payload='"ok"')],
            ClientToken="c",
        )
        assert again == first
        assert "CheckpointToken" not in again


LONG = "x" * 65
INVALID_UPDATES = [
    ("id-pattern", upd("a b", "STEP", "START"), "Id must be"),
    ("id-too-long", upd(LONG, "STEP", "START"), "Id must be"),
    ("id-missing", {"Type": "STEP", "Action": "START"}, "Id must be"),
    ("name-non-printable", step_start("s", Name="tab\there"), "Name must be"),
    ("name-too-long", step_start("s", Name="n" * 257), "Name must be"),
    ("name-empty", step_start("s", Name=""), "Name must be"),
    ("subtype-pattern", step_start("s", SubType="Step!"), "SubType must be"),
    ("subtype-too-long", step_start("s", SubType="S" * 33), "SubType must be"),
    ("parent-pattern", step_start("s", ParentId="p p"), "ParentId must be"),
    ("type-unknown", upd("s", "TIMER", "START"), "Type must be"),
    ("action-unknown", upd("s", "STEP", "PAUSE"), "Action must be"),
    ("callback-cancel", upd("s", "CALLBACK", "CANCEL"), "not valid for a CALLBACK"),
    ("wait-succeed", upd("s", "WAIT", "SUCCEED"), "not valid for a WAIT"),
    ("execution-start", upd("s", "EXECUTION", "START"), "not valid for a EXECUTION"),
    ("invoke-succeed", upd("s", "CHAINED_INVOKE", "SUCCEED"), "not valid for a CHAINED_INVOKE"),
    ("context-retry", upd("s", "CONTEXT", "RETRY"), "not valid for a CONTEXT"),
    ("step-cancel", upd("s", "STEP", "CANCEL"), "not valid for a STEP"),
    ("wait-seconds-zero", wait_start("w", 0), "WaitSeconds must be between 1 and 31622400"),
    ("wait-seconds-over", wait_start("w", 31_622_401), "WaitSeconds must be between"),
    ("wait-seconds-type", wait_start("w", "5"), "WaitSeconds must be an integer"),  # type: ignore[arg-type]
    ("wait-options-missing", upd("w", "WAIT", "START"), "requires WaitOptions.WaitSeconds"),
    ("retry-delay-zero", retry("s", 0), "NextAttemptDelaySeconds must be between 1 and"),
    ("retry-delay-over", retry("s", 31_622_401), "NextAttemptDelaySeconds must be between"),
    ("retry-options-missing", upd("s", "STEP", "RETRY"), "requires StepOptions"),
    ("callback-negative", callback_start("c", timeout=-1), "TimeoutSeconds must be between 0"),
    (
        "heartbeat-over",
        callback_start("c", heartbeat=100_000_000),
        "HeartbeatTimeoutSeconds must be between 0 and 99999999",
    ),
    (
        "invoke-options-missing",
        upd("i", "CHAINED_INVOKE", "START"),
        "requires ChainedInvokeOptions",
    ),
    (
        "invoke-function-too-long",
        upd("i", "CHAINED_INVOKE", "START", ChainedInvokeOptions={"FunctionName": "f" * 257}),
        "FunctionName must be",
    ),
    (
        "invoke-tenant-too-long",
        upd(
            "i",
            "CHAINED_INVOKE",
            "START",
            ChainedInvokeOptions={"FunctionName": "f", "TenantId": "t" * 257},
        ),
        "TenantId must be",
    ),
    ("unknown-member", step_start("s", Colour="red"), "unknown OperationUpdate member"),
    ("unknown-option", wait_start("w", 5) | {"WaitOptions": {"Seconds": 5}}, "unknown WaitOptions"),
    ("payload-type", step_start("s", Payload=5), "Payload must be a string"),
    ("payload-over-1mib", step_start("s", Payload="x" * (MIB + 1)), "maximum size of 1048576"),
    (
        "payload-over-1mib-in-utf8",
        step_start("s", Payload="\u20ac" * (MIB // 3 + 1)),
        "maximum size of 1048576",
    ),
    (
        "execution-payload-over-6mib",
        upd("e", "EXECUTION", "SUCCEED", Payload="x" * (6 * MIB + 1)),
        "maximum size of 6291456",
    ),
    (
        "error-over-32kib",
        upd("e", "EXECUTION", "FAIL", Error={"ErrorMessage": "m" * 40_000, "ErrorType": "T"}),
        "Error exceeds the maximum size of 32768",
    ),
    ("error-member-type", upd("e", "EXECUTION", "FAIL", Error={"ErrorType": 3}), "ErrorType must"),
    (
        "error-unknown-member",
        upd("e", "EXECUTION", "FAIL", Error={"Code": "x"}),
        "unknown ErrorObj",
    ),
    ("succeed-with-error", upd("e", "EXECUTION", "SUCCEED", Error={}), "SUCCEED update cannot"),
    ("fail-with-payload", upd("e", "EXECUTION", "FAIL", Payload="x"), "FAIL update cannot"),
    (
        "retry-with-both",
        retry("s", 1, Payload="p", Error={"ErrorMessage": "e"}),
        "either an Error or a Payload",
    ),
    ("step-succeed-when-absent", upd("s", "STEP", "SUCCEED"), "absent"),
    ("step-retry-when-absent", retry("s", 5), "cannot RETRY a STEP operation in status absent"),
    ("context-succeed-when-absent", upd("c", "CONTEXT", "SUCCEED"), "absent"),
    ("wait-cancel-when-absent", upd("w", "WAIT", "CANCEL"), "cannot CANCEL a WAIT"),
    ("parent-unknown", step_start("s", ParentId="ghost"), "names no existing operation"),
]


class TestUpdateValidation:
    @pytest.mark.parametrize(
        ("update", "fragment"),
        [(update, fragment) for _, update, fragment in INVALID_UPDATES],
        ids=[case_id for case_id, _, _ in INVALID_UPDATES],
    )
    def test_invalid_update_is_rejected(self, run, update, fragment):
        """Each broken OperationUpdate rule raises InvalidParameterValue naming the rule."""
        with pytest.raises(ClientError) as info:
            run.checkpoint(update)
        code, status, message = error_of(info)
        assert (code, status) == ("InvalidParameterValueException", 400)
        assert fragment in message

    def test_message_names_the_operation(self, run):
        """The message names the update's index and operation id."""
        with pytest.raises(ClientError, match=r"Updates\[1\] \(operation 'w9'\)"):
            run.checkpoint(step_start("s1"), wait_start("w9", 0))

    def test_execution_payload_of_six_mib_is_accepted(self, run):
        """An EXECUTION SUCCEED payload may be up to 6 MiB."""
        run.checkpoint(upd("e", "EXECUTION", "SUCCEED", Payload="x" * (6 * MIB)))
        assert run.service.execution_status(run.arn) == "SUCCEEDED"

    def test_step_payload_of_one_mib_is_accepted(self, run):
        """A STEP payload of exactly 1 MiB is within the limit."""
        run.checkpoint(step_start("s"), upd("s", "STEP", "SUCCEED", Payload="x" * MIB))
        assert run.op("s")["Status"] == "SUCCEEDED"

    def test_updates_must_be_a_list(self, run):
        """A non-list Updates member is rejected."""
        with pytest.raises(ClientError, match="Updates must be a list"):
            run.service.checkpoint_durable_execution(
                DurableExecutionArn=run.arn, CheckpointToken=run.token, Updates="nope"
            )

    def test_a_failed_batch_applies_nothing(self, run):
        """An invalid update anywhere rejects the whole batch and keeps the token valid."""
        with pytest.raises(ClientError):
            run.checkpoint(step_start("s1"), wait_start("w1", 0))
        assert [op["Id"] for op in run.service.operations(run.arn)][1:] == []
        run.checkpoint(step_start("s1"))
        assert run.op("s1")["Status"] == "STARTED"


class TestBatchRules:
    def test_execution_update_must_be_last(self, run):
        """An EXECUTION update followed by another update is rejected."""
        with pytest.raises(ClientError, match="EXECUTION update must be the last"):
            run.checkpoint(upd("e", "EXECUTION", "SUCCEED"), step_start("s"))

    def test_only_one_execution_update(self, run):
        """Two EXECUTION updates in one batch are rejected."""
        with pytest.raises(ClientError, match="At most one EXECUTION update"):
            run.checkpoint(upd("e", "EXECUTION", "FAIL"), upd("e", "EXECUTION", "SUCCEED"))

    def test_step_start_and_succeed_in_one_batch(self, run):
        """A STEP may START and SUCCEED in the same batch."""
        run.checkpoint(step_start("s"), upd("s", "STEP", "SUCCEED", Payload="1"))
        assert run.op("s")["Status"] == "SUCCEEDED"

    def test_context_start_and_fail_in_one_batch(self, run):
        """A CONTEXT may START and FAIL in the same batch."""
        run.checkpoint(upd("c", "CONTEXT", "START"), upd("c", "CONTEXT", "FAIL", Error={}))
        assert run.op("c")["Status"] == "FAILED"

    def test_a_third_update_for_one_step_is_rejected(self, run):
        """START plus one more is the most a STEP gets per batch."""
        with pytest.raises(ClientError, match="only one update per operation"):
            run.checkpoint(step_start("s"), retry("s", 1), upd("s", "STEP", "SUCCEED"))

    def test_two_updates_for_a_wait_are_rejected(self, run):
        """Other types get one update per operation per batch."""
        run.checkpoint(wait_start("w", 5))
        with pytest.raises(ClientError, match="only one update per operation"):
            run.checkpoint(upd("w", "WAIT", "CANCEL"), upd("w", "WAIT", "CANCEL"))

    def test_two_starts_of_a_step_are_rejected(self, run):
        """A STEP START cannot follow another START in the same batch."""
        with pytest.raises(ClientError, match="only one update per operation"):
            run.checkpoint(step_start("s"), step_start("s"))

    def test_child_may_name_a_parent_started_earlier_in_the_batch(self, run):
        """ParentId may refer to a CONTEXT started earlier in the same batch."""
        run.checkpoint(upd("c", "CONTEXT", "START"), step_start("s", ParentId="c"))
        assert run.op("s")["ParentId"] == "c"

    def test_parent_started_later_in_the_batch_is_rejected(self, run):
        """A child before its parent's START in the batch is rejected."""
        with pytest.raises(ClientError, match="names no existing operation"):
            run.checkpoint(step_start("s", ParentId="c"), upd("c", "CONTEXT", "START"))

    def test_parent_must_be_a_context(self, run):
        """ParentId naming a STEP is rejected."""
        run.checkpoint(step_start("p"))
        with pytest.raises(ClientError, match="is a STEP, not a CONTEXT"):
            run.checkpoint(step_start("s", ParentId="p"))

    def test_child_of_a_completed_context_is_rejected(self, run):
        """Operations under a SUCCEEDED context can no longer checkpoint."""
        run.checkpoint(upd("c", "CONTEXT", "START"), step_start("s", ParentId="c"))
        run.checkpoint(upd("c", "CONTEXT", "SUCCEED", Payload="1"))
        with pytest.raises(ClientError, match="parent CONTEXT 'c' is already SUCCEEDED"):
            run.checkpoint(upd("s", "STEP", "SUCCEED"))

    def test_child_after_its_parent_completed_in_the_same_batch_is_rejected(self, run):
        """A child update after its parent's SUCCEED in one batch is rejected."""
        run.checkpoint(upd("c", "CONTEXT", "START"), step_start("s", ParentId="c"))
        with pytest.raises(ClientError, match="already SUCCEEDED"):
            run.checkpoint(upd("c", "CONTEXT", "SUCCEED"), upd("s", "STEP", "SUCCEED"))

    def test_grandchild_of_a_completed_context_is_rejected(self, run):
        """An abandoned branch under a completed context cannot start new operations."""
        run.checkpoint(upd("m", "CONTEXT", "START"), upd("b", "CONTEXT", "START", ParentId="m"))
        run.checkpoint(upd("m", "CONTEXT", "SUCCEED"))
        with pytest.raises(ClientError, match="parent CONTEXT 'm' is already SUCCEEDED"):
            run.checkpoint(step_start("s", ParentId="b"))

    @pytest.mark.parametrize(
        ("member", "value"),
        [("Type", "CONTEXT"), ("SubType", "Other"), ("Name", "renamed"), ("ParentId", "c2")],
    )
    def test_recheckpoint_must_keep_metadata(self, run, member, value):
        """Re-checkpointing an operation cannot change its Type, SubType, Name or ParentId."""
        run.checkpoint(
            upd("c", "CONTEXT", "START"),
            upd("c2", "CONTEXT", "START"),
            step_start("s", SubType="Step", Name="n", ParentId="c"),
        )
        update = upd("s", "STEP", "SUCCEED") | {member: value}
        with pytest.raises(ClientError, match=f"{member} .* differs from the stored {member}"):
            run.checkpoint(update)


class TestStepTransitions:
    def test_start_makes_a_started_step_with_attempt_zero(self, run):
        """START gives STARTED and StepDetails.Attempt 0 (no attempt has finished)."""
        run.checkpoint(step_start("s", Name="charge", SubType="Step"))
        op = run.op("s")
        assert (op["Status"], op["StepDetails"]["Attempt"]) == ("STARTED", 0)
        assert (op["Name"], op["SubType"]) == ("charge", "Step")

    def test_succeed_stores_the_result(self, run):
        """SUCCEED gives SUCCEEDED with StepDetails.Result, an end time and Attempt 1."""
        run.checkpoint(step_start("s"))
        run.checkpoint(upd("s", "STEP", "SUCCEED", Payload='"done"'))
        op = run.op("s")
        assert op["Status"] == "SUCCEEDED"
        assert op["StepDetails"] == {"Attempt": 1, "Result": '"done"'}
        assert op["EndTimestamp"] == START

    def test_fail_stores_the_error(self, run):
        """FAIL gives FAILED with StepDetails.Error."""
        run.checkpoint(step_start("s"))
        run.checkpoint(upd("s", "STEP", "FAIL", Error={"ErrorType": "E", "ErrorMessage": "no"}))
        op = run.op("s")
        assert op["Status"] == "FAILED"
        assert op["StepDetails"]["Error"] == {"ErrorType": "E", "ErrorMessage": "no"}

    def test_retry_makes_the_step_pending(self, run, clock):
        """RETRY gives PENDING, NextAttemptTimestamp = now + delay and the error kept."""
        run.checkpoint(step_start("s"))
        clock.advance(5)
        run.checkpoint(retry("s", 30, Error={"ErrorMessage": "flaky"}))
        details = run.op("s")["StepDetails"]
        assert run.op("s")["Status"] == "PENDING"
        assert details["NextAttemptTimestamp"] == START + timedelta(seconds=35)
        assert details["Error"] == {"ErrorMessage": "flaky"}
        assert details["Attempt"] == 1

    def test_retry_payload_comes_back_as_result(self, run):
        """A RETRY Payload (wait-for-condition state) is returned in StepDetails.Result."""
        run.checkpoint(step_start("s"), retry("s", 10, Payload='{"n": 1}'))
        assert run.op("s")["StepDetails"]["Result"] == '{"n": 1}'

    def test_retry_timer_makes_the_step_ready(self, run, clock):
        """When the retry delay has passed the step becomes READY without a timestamp."""
        run.checkpoint(step_start("s"), retry("s", 10))
        clock.advance(10)
        op = run.op("s")
        assert op["Status"] == "READY"
        assert "NextAttemptTimestamp" not in op["StepDetails"]

    def test_retry_timer_does_not_fire_early(self, run, clock):
        """Before the delay has passed the step stays PENDING."""
        run.checkpoint(step_start("s"), retry("s", 10))
        clock.advance(9.9)
        assert run.op("s")["Status"] == "PENDING"

    def test_ready_step_may_start_again(self, run, clock):
        """A READY step accepts START, which does not count an attempt."""
        run.checkpoint(step_start("s"), retry("s", 1))
        clock.advance(1)
        run.checkpoint(step_start("s"))
        assert (run.op("s")["Status"], run.op("s")["StepDetails"]["Attempt"]) == ("STARTED", 1)

    def test_ready_step_may_finish_without_start(self, run, clock):
        """A READY step may SUCCEED without a new START (as the emulator allows)."""
        run.checkpoint(step_start("s"), retry("s", 1))
        clock.advance(1)
        run.checkpoint(upd("s", "STEP", "SUCCEED", Payload="1"))
        assert run.op("s")["Status"] == "SUCCEEDED"

    def test_attempt_counts_finished_attempts(self, run, clock):
        """Two retries and a success make Attempt 3."""
        for _ in range(2):
            run.checkpoint(step_start("s"), retry("s", 1))
            clock.advance(1)
        run.checkpoint(step_start("s"), upd("s", "STEP", "SUCCEED"))
        assert run.op("s")["StepDetails"]["Attempt"] == 3

    def test_start_keeps_the_previous_attempts_state(self, run, clock):
        """Restarting a READY step keeps the RETRY payload for the next attempt."""
        run.checkpoint(step_start("s"), retry("s", 1, Payload='"state"'))
        clock.advance(1)
        run.checkpoint(step_start("s"))
        assert run.op("s")["StepDetails"]["Result"] == '"state"'

    @pytest.mark.parametrize(
        ("setup", "update", "status"),
        [
            ([step_start("s")], step_start("s"), "STARTED"),
            ([step_start("s"), upd("s", "STEP", "SUCCEED")], step_start("s"), "SUCCEEDED"),
            ([step_start("s"), upd("s", "STEP", "FAIL")], retry("s", 1), "FAILED"),
            ([step_start("s"), retry("s", 9)], upd("s", "STEP", "SUCCEED"), "PENDING"),
            ([step_start("s"), retry("s", 9)], retry("s", 1), "PENDING"),
        ],
    )
    def test_illegal_step_transition_is_rejected(self, run, setup, update, status):
        """An action the step's status does not allow is rejected, naming the status."""
        run.checkpoint(*setup)
        with pytest.raises(ClientError, match=f"in status {status}"):
            run.checkpoint(update)


class TestWaits:
    def test_start_schedules_the_end(self, run):
        """WAIT START gives STARTED with ScheduledEndTimestamp = now + WaitSeconds."""
        run.checkpoint(wait_start("w", 3600))
        op = run.op("w")
        assert op["Status"] == "STARTED"
        assert op["WaitDetails"]["ScheduledEndTimestamp"] == START + timedelta(hours=1)

    def test_timer_succeeds_the_wait_at_its_scheduled_end(self, run, clock):
        """When time passes the end, the wait SUCCEEDS with EndTimestamp = scheduled end."""
        run.checkpoint(wait_start("w", 60))
        clock.advance(500)
        op = run.op("w")
        assert op["Status"] == "SUCCEEDED"
        assert op["EndTimestamp"] == START + timedelta(seconds=60)

    def test_wait_does_not_end_early(self, run, clock):
        """Before the scheduled end the wait stays STARTED."""
        run.checkpoint(wait_start("w", 60))
        clock.advance(59)
        assert run.op("w")["Status"] == "STARTED"

    def test_cancel_cancels_and_disarms_the_timer(self, run, clock):
        """CANCEL gives CANCELLED and the timer never succeeds the wait."""
        run.checkpoint(wait_start("w", 60))
        run.checkpoint(upd("w", "WAIT", "CANCEL"))
        clock.advance(120)
        assert run.op("w")["Status"] == "CANCELLED"
        assert "WaitSucceeded" not in run.event_types()

    def test_cancel_of_a_finished_wait_is_rejected(self, run, clock):
        """A SUCCEEDED wait cannot be cancelled."""
        run.checkpoint(wait_start("w", 1))
        clock.advance(1)
        with pytest.raises(ClientError, match="cannot CANCEL a WAIT operation in status SUCCEEDED"):
            run.checkpoint(upd("w", "WAIT", "CANCEL"))

    def test_second_start_is_rejected(self, run):
        """A WAIT cannot START twice."""
        run.checkpoint(wait_start("w", 10))
        with pytest.raises(ClientError, match="cannot START a WAIT operation in status STARTED"):
            run.checkpoint(wait_start("w", 10))

    def test_poll_sees_a_fired_wait_without_fire_due_timers(self, run, clock):
        """Timers fire lazily on the next API call, so a polling client makes progress."""
        run.checkpoint(wait_start("w", 60))
        clock.advance(60)
        (op,) = run.checkpoint()["NewExecutionState"]["Operations"]
        assert (op["Id"], op["Status"]) == ("w", "SUCCEEDED")


class TestContexts:
    def test_start_and_succeed(self, run):
        """CONTEXT START gives STARTED; SUCCEED stores Result and ReplayChildren."""
        run.checkpoint(upd("c", "CONTEXT", "START", SubType="RunInChildContext"))
        assert run.op("c")["Status"] == "STARTED"
        run.checkpoint(
            upd("c", "CONTEXT", "SUCCEED", Payload="{}", ContextOptions={"ReplayChildren": True})
        )
        assert run.op("c")["ContextDetails"] == {"ReplayChildren": True, "Result": "{}"}

    def test_fail_stores_the_error(self, run):
        """CONTEXT FAIL gives FAILED with ContextDetails.Error."""
        run.checkpoint(upd("c", "CONTEXT", "START"))
        run.checkpoint(upd("c", "CONTEXT", "FAIL", Error={"ErrorMessage": "x"}))
        op = run.op("c")
        assert (op["Status"], op["ContextDetails"]["Error"]) == ("FAILED", {"ErrorMessage": "x"})

    def test_second_succeed_is_rejected(self, run):
        """A SUCCEEDED context cannot complete again."""
        run.checkpoint(upd("c", "CONTEXT", "START"), upd("c", "CONTEXT", "SUCCEED"))
        with pytest.raises(ClientError, match="cannot SUCCEED a CONTEXT operation in status"):
            run.checkpoint(upd("c", "CONTEXT", "SUCCEED"))


class TestCallbacks:
    def test_start_issues_a_callback_id(self, run):
        """CALLBACK START gives STARTED and a base64 CallbackId of at most 1024 characters."""
        response = run.checkpoint(callback_start("c"))
        (op,) = response["NewExecutionState"]["Operations"]
        callback_id = op["CallbackDetails"]["CallbackId"]
        assert op["Status"] == "STARTED"
        assert 0 < len(callback_id) <= 1024
        base64.b64decode(callback_id, validate=True)

    def test_callback_ids_are_distinct(self, run):
        """Two callbacks get different ids."""
        run.checkpoint(callback_start("c1"), callback_start("c2"))
        ids = {run.op(op_id)["CallbackDetails"]["CallbackId"] for op_id in ("c1", "c2")}
        assert len(ids) == 2

    def test_success_stores_the_result_as_text(self, run):
        """SendDurableExecutionCallbackSuccess SUCCEEDS the callback with the UTF-8 result."""
        run.checkpoint(callback_start("c"))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        run.service.send_durable_execution_callback_success(
            CallbackId=callback_id, Result='{"ok": "\u00e9"}'.encode()
        )
        op = run.op("c")
        assert op["Status"] == "SUCCEEDED"
        assert op["CallbackDetails"]["Result"] == '{"ok": "\u00e9"}'

    def test_empty_success_leaves_result_absent(self, run):
        """A success without a body stores no Result."""
        run.checkpoint(callback_start("c"))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        run.service.send_durable_execution_callback_success(CallbackId=callback_id)
        assert "Result" not in run.op("c")["CallbackDetails"]

    def test_success_makes_the_execution_runnable(self, run):
        """A completed callback is news for the handler."""
        run.checkpoint(callback_start("c"))
        assert not run.service.is_runnable(run.arn)
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        run.service.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"1")
        assert run.service.is_runnable(run.arn)

    def test_non_utf8_result_is_rejected(self, run):
        """A result that is not UTF-8 is InvalidParameterValue."""
        run.checkpoint(callback_start("c"))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        with pytest.raises(ClientError) as info:
            run.service.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=b"\xff\xfe"
            )
        assert error_of(info)[:2] == ("InvalidParameterValueException", 400)
        assert run.op("c")["Status"] == "STARTED"

    def test_result_over_one_mib_is_rejected(self, run):
        """A result over 1 MiB is InvalidParameterValue."""
        run.checkpoint(callback_start("c"))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        with pytest.raises(ClientError, match="maximum size"):
            run.service.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=b"x" * (MIB + 1)
            )

    def test_failure_stores_the_error(self, run):
        """SendDurableExecutionCallbackFailure FAILS the callback with the ErrorObject."""
        run.checkpoint(callback_start("c"))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        run.service.send_durable_execution_callback_failure(
            CallbackId=callback_id, Error={"ErrorType": "Rejected", "ErrorMessage": "no"}
        )
        op = run.op("c")
        assert op["Status"] == "FAILED"
        assert op["CallbackDetails"]["Error"] == {"ErrorType": "Rejected", "ErrorMessage": "no"}

    def test_timeout_times_the_callback_out(self, run, clock):
        """After TimeoutSeconds the callback is TIMED_OUT with a Callback.Timeout error."""
        run.checkpoint(callback_start("c", timeout=300))
        clock.advance(300)
        op = run.op("c")
        assert op["Status"] == "TIMED_OUT"
        assert op["CallbackDetails"]["Error"]["ErrorType"] == "Callback.Timeout"

    def test_missed_heartbeat_times_the_callback_out(self, run, clock):
        """Without a heartbeat within HeartbeatTimeoutSeconds the callback TIMES_OUT."""
        run.checkpoint(callback_start("c", heartbeat=10))
        clock.advance(10)
        op = run.op("c")
        assert op["Status"] == "TIMED_OUT"
        assert op["CallbackDetails"]["Error"]["ErrorType"] == "Callback.Heartbeat"

    def test_heartbeat_pushes_the_deadline(self, run, clock):
        """A heartbeat restarts the heartbeat timeout from now."""
        run.checkpoint(callback_start("c", heartbeat=10))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        clock.advance(8)
        run.service.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
        clock.advance(8)
        assert run.op("c")["Status"] == "STARTED"
        clock.advance(2)
        assert run.op("c")["Status"] == "TIMED_OUT"

    def test_zero_timeouts_mean_none(self, run, clock):
        """TimeoutSeconds and HeartbeatTimeoutSeconds of 0 arm no timer."""
        run.checkpoint(callback_start("c", timeout=0, heartbeat=0))
        assert run.service.next_due(run.arn) == DEFAULT_START + 31_622_400
        clock.advance(86_400)
        assert run.op("c")["Status"] == "STARTED"

    def test_unknown_callback_is_resource_not_found(self, service):
        """A well-formed id that names no callback raises ResourceNotFound (404)."""
        bogus = base64.b64encode(b"arn:aws:lambda:x|op|random").decode()
        with pytest.raises(ClientError) as info:
            service.send_durable_execution_callback_success(CallbackId=bogus, Result=b"1")
        assert error_of(info)[:2] == ("ResourceNotFoundException", 404)

    def test_forged_callback_id_is_resource_not_found(self, run):
        """Guessing an id from the execution and operation without the random part fails."""
        run.checkpoint(callback_start("c"))
        forged = base64.b64encode(f"{run.arn}|c|".encode() + b"\x00" * 15).decode()
        with pytest.raises(ClientError) as info:
            run.service.send_durable_execution_callback_heartbeat(CallbackId=forged)
        assert error_of(info)[0] == "ResourceNotFoundException"

    def test_malformed_callback_id_is_invalid(self, service):
        """An id outside the base64 alphabet is InvalidParameterValue."""
        with pytest.raises(ClientError) as info:
            service.send_durable_execution_callback_heartbeat(CallbackId="not base64!")
        assert error_of(info)[0] == "InvalidParameterValueException"

    @pytest.mark.parametrize(
        "send",
        [
            lambda service, cid: service.send_durable_execution_callback_success(CallbackId=cid),
            lambda service, cid: service.send_durable_execution_callback_failure(CallbackId=cid),
            lambda service, cid: service.send_durable_execution_callback_heartbeat(CallbackId=cid),
        ],
        ids=["success", "failure", "heartbeat"],
    )
    def test_completed_callback_raises_callback_timeout(self, run, send):
        """Any call for an already completed callback raises CallbackTimeoutException (400)."""
        run.checkpoint(callback_start("c"))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        run.service.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"1")
        with pytest.raises(ClientError) as info:
            send(run.service, callback_id)
        assert error_of(info)[:2] == ("CallbackTimeoutException", 400)

    def test_timed_out_callback_raises_callback_timeout(self, run, clock):
        """A success after the timeout raises CallbackTimeoutException."""
        run.checkpoint(callback_start("c", timeout=5))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        clock.advance(5)
        with pytest.raises(ClientError) as info:
            run.service.send_durable_execution_callback_success(CallbackId=callback_id)
        code, _, message = error_of(info)
        assert code == "CallbackTimeoutException"
        assert "timed out" in message

    def test_callback_of_a_stopped_execution_is_closed(self, run):
        """A callback left STARTED by a stopped execution cannot be completed."""
        run.checkpoint(callback_start("c"))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        run.service.stop_durable_execution(DurableExecutionArn=run.arn)
        with pytest.raises(ClientError) as info:
            run.service.send_durable_execution_callback_success(CallbackId=callback_id)
        assert error_of(info)[0] == "CallbackTimeoutException"

    def test_second_start_is_rejected(self, run):
        """A CALLBACK cannot START twice."""
        run.checkpoint(callback_start("c"))
        with pytest.raises(ClientError, match="cannot START a CALLBACK"):
            run.checkpoint(callback_start("c"))

    def test_lookup_by_callback_name(self, run):
        """callback_id finds a callback by its Name."""
        run.checkpoint(callback_start("c", Name="approval"))
        expected = run.op("c")["CallbackDetails"]["CallbackId"]
        assert run.service.callback_id(run.arn, "approval") == expected

    def test_lookup_by_parent_context_name(self, run):
        """callback_id finds a wait_for_callback's callback by its context's Name."""
        run.checkpoint(
            upd("w", "CONTEXT", "START", Name="approve-order", SubType="WaitForCallback"),
            callback_start("c", ParentId="w"),
        )
        expected = run.op("c")["CallbackDetails"]["CallbackId"]
        assert run.service.callback_id(run.arn, "approve-order") == expected

    def test_lookup_of_an_unknown_name_is_none(self, run):
        """callback_id returns None when no callback matches."""
        assert run.service.callback_id(run.arn, "nothing") is None


class TestChainedInvokes:
    def test_start_queues_the_invoke_once(self, run):
        """A STARTED CHAINED_INVOKE is handed out once by pending_chained_invokes."""
        run.checkpoint(
            upd(
                "i",
                "CHAINED_INVOKE",
                "START",
                Payload='{"x": 1}',
                ChainedInvokeOptions={"FunctionName": "payments:1", "TenantId": "t-1"},
            )
        )
        assert run.op("i")["Status"] == "STARTED"
        assert run.service.pending_chained_invokes() == [
            ChainedInvokeRequest(run.arn, "i", "payments:1", '{"x": 1}', "t-1")
        ]
        assert run.service.pending_chained_invokes() == []

    def test_pending_invokes_filter_by_execution(self, service):
        """pending_chained_invokes(arn) returns only that execution's invokes."""
        first, second = (
            Run(service, service.start_execution("a")),
            Run(service, service.start_execution("b")),
        )
        first.checkpoint(invoke_start("i1"))
        second.checkpoint(invoke_start("i2"))
        assert [r.operation_id for r in service.pending_chained_invokes(second.arn)] == ["i2"]
        assert [r.operation_id for r in service.pending_chained_invokes()] == ["i1"]

    def test_success_stores_the_result_and_wakes_the_execution(self, run):
        """complete_chained_invoke SUCCEEDED sets ChainedInvokeDetails.Result and runnable."""
        run.checkpoint(invoke_start("i"))
        run.service.complete_chained_invoke(run.arn, "i", result='"paid"')
        op = run.op("i")
        assert (op["Status"], op["ChainedInvokeDetails"]) == ("SUCCEEDED", {"Result": '"paid"'})
        assert run.service.is_runnable(run.arn)

    @pytest.mark.parametrize(
        ("status", "event_type"),
        [
            ("FAILED", "ChainedInvokeFailed"),
            ("TIMED_OUT", "ChainedInvokeTimedOut"),
            ("STOPPED", "ChainedInvokeStopped"),
        ],
    )
    def test_failure_outcomes_store_the_error(self, run, status, event_type):
        """A non-success outcome stores the ErrorObject and records its event."""
        run.checkpoint(invoke_start("i"))
        run.service.complete_chained_invoke(
            run.arn, "i", status=status, error={"ErrorMessage": "x"}
        )
        op = run.op("i")
        assert (op["Status"], op["ChainedInvokeDetails"]["Error"]) == (
            status,
            {"ErrorMessage": "x"},
        )
        assert run.event_types()[-1] == event_type

    def test_completing_twice_is_refused(self, run):
        """A finished chained invoke cannot be completed again."""
        run.checkpoint(invoke_start("i"))
        run.service.complete_chained_invoke(run.arn, "i", result="1")
        with pytest.raises(ValueError, match="already SUCCEEDED"):
            run.service.complete_chained_invoke(run.arn, "i", result="1")

    def test_completing_another_type_is_refused(self, run):
        """complete_chained_invoke only accepts CHAINED_INVOKE operations."""
        run.checkpoint(step_start("s"))
        with pytest.raises(ValueError, match="not a CHAINED_INVOKE"):
            run.service.complete_chained_invoke(run.arn, "s")

    def test_completed_invoke_is_no_longer_pending(self, run):
        """An invoke completed before dispatch is not handed out."""
        run.checkpoint(invoke_start("i"))
        run.service.complete_chained_invoke(run.arn, "i", status="FAILED", error={})
        assert run.service.pending_chained_invokes() == []


class TestNewExecutionState:
    def test_reports_operations_changed_by_the_batch(self, run):
        """The response carries the operations this batch changed, in start order."""
        response = run.checkpoint(step_start("a"), wait_start("b", 5), step_start("c"))
        ids = [op["Id"] for op in response["NewExecutionState"]["Operations"]]
        assert ids == ["a", "b", "c"]

    def test_reports_service_changes_since_the_last_response(self, run, clock):
        """A wait that fired between checkpoints comes back with the next response."""
        run.checkpoint(wait_start("w", 10), step_start("s"))
        clock.advance(10)
        response = run.checkpoint(upd("s", "STEP", "SUCCEED"))
        statuses = {op["Id"]: op["Status"] for op in response["NewExecutionState"]["Operations"]}
        assert statuses == {"w": "SUCCEEDED", "s": "SUCCEEDED"}

    def test_orders_changes_by_start_sequence(self, run, clock):
        """Changes are listed by when their operations started, not when they changed."""
        run.checkpoint(wait_start("w", 10), step_start("s"))
        clock.advance(10)
        response = run.checkpoint(upd("s", "STEP", "SUCCEED"))
        assert [op["Id"] for op in response["NewExecutionState"]["Operations"]] == ["w", "s"]

    def test_delivers_each_change_once(self, run, clock):
        """A change already returned is not returned again by the next poll."""
        run.checkpoint(wait_start("w", 10))
        clock.advance(10)
        run.checkpoint()
        assert run.checkpoint()["NewExecutionState"]["Operations"] == []

    def test_timestamps_are_aware_datetimes(self, run):
        """API responses carry timezone-aware UTC datetimes, like botocore."""
        (op,) = run.checkpoint(wait_start("w", 10))["NewExecutionState"]["Operations"]
        assert op["StartTimestamp"].tzinfo is not None
        assert op["WaitDetails"]["ScheduledEndTimestamp"].utcoffset() == timedelta(0)

    def test_delivery_clears_runnable(self, run, clock):
        """Once a checkpoint response delivered the change, the execution is not runnable."""
        run.checkpoint(wait_start("w", 10))
        clock.advance(10)
        assert run.service.is_runnable(run.arn)
        run.checkpoint()
        assert not run.service.is_runnable(run.arn)


class TestInvocationEnvelope:
    def test_envelope_shape(self, run):
        """The envelope has ARN, token, EXECUTION op first, NextMarker '', UpdatedOperationIds."""
        event = run.event
        assert event["DurableExecutionArn"] == run.arn
        assert event["InitialExecutionState"]["NextMarker"] == ""
        assert event["UpdatedOperationIds"] == []
        assert event["InitialExecutionState"]["Operations"][0]["Type"] == "EXECUTION"

    def test_timestamps_are_epoch_milliseconds(self, run):
        """Envelope operations carry integer epoch milliseconds, not datetimes."""
        run.checkpoint(wait_start("w", 10))
        ops = run.reinvoke()["InitialExecutionState"]["Operations"]
        wait = ops[1]
        assert wait["StartTimestamp"] == int(DEFAULT_START * 1000)
        assert wait["WaitDetails"]["ScheduledEndTimestamp"] == int(DEFAULT_START * 1000) + 10_000

    def test_updated_operation_ids_lists_service_changes(self, run, clock):
        """UpdatedOperationIds names what the service changed since the previous envelope."""
        run.checkpoint(wait_start("w", 10), step_start("s"))
        clock.advance(10)
        assert run.reinvoke()["UpdatedOperationIds"] == ["w"]
        assert run.reinvoke()["UpdatedOperationIds"] == []

    def test_envelope_max_operations_pages_the_rest(self, clock):
        """With envelope_max_operations the envelope is cut and NextMarker pages the rest."""
        service = LocalDurableService(clock, envelope_max_operations=2)
        run = Run(service, service.start_execution("f"))
        run.checkpoint(*(step_start(f"s{i}") for i in range(5)))
        event = run.reinvoke()
        first = event["InitialExecutionState"]
        assert len(first["Operations"]) == 2
        page = service.get_durable_execution_state(
            DurableExecutionArn=run.arn, CheckpointToken=run.token, Marker=first["NextMarker"]
        )
        ids = [op["Id"] for op in first["Operations"] + page["Operations"]]
        assert ids[1:] == ["s0", "s1", "s2", "s3", "s4"]
        assert "NextMarker" not in page

    def test_state_pages_honour_max_items(self, run):
        """GetDurableExecutionState returns MaxItems operations and a marker for the rest."""
        run.checkpoint(*(step_start(f"s{i}") for i in range(4)))
        first = run.service.get_durable_execution_state(
            DurableExecutionArn=run.arn, CheckpointToken=run.token, MaxItems=3
        )
        second = run.service.get_durable_execution_state(
            DurableExecutionArn=run.arn,
            CheckpointToken=run.token,
            MaxItems=3,
            Marker=first["NextMarker"],
        )
        assert [len(first["Operations"]), len(second["Operations"])] == [3, 2]
        assert "NextMarker" not in second

    def test_state_page_size_is_the_default_page(self, clock):
        """Without MaxItems, state pages hold state_page_size operations."""
        service = LocalDurableService(clock, state_page_size=2)
        run = Run(service, service.start_execution("f"))
        run.checkpoint(*(step_start(f"s{i}") for i in range(3)))
        page = service.get_durable_execution_state(
            DurableExecutionArn=run.arn, CheckpointToken=run.token
        )
        assert (len(page["Operations"]), page["NextMarker"]) == (2, "2")

    def test_state_with_a_stale_token_is_rejected(self, run):
        """GetDurableExecutionState checks the token like a checkpoint."""
        old = run.token
        run.checkpoint()
        with pytest.raises(ClientError, match="Invalid checkpoint token"):
            run.service.get_durable_execution_state(
                DurableExecutionArn=run.arn, CheckpointToken=old
            )

    def test_state_with_a_bad_marker_is_rejected(self, run):
        """A marker this service did not issue is InvalidParameterValue."""
        with pytest.raises(ClientError, match="Invalid marker"):
            run.service.get_durable_execution_state(
                DurableExecutionArn=run.arn, CheckpointToken=run.token, Marker="zzz"
            )

    def test_state_max_items_over_1000_is_rejected(self, run):
        """MaxItems above 1000 is InvalidParameterValue."""
        with pytest.raises(ClientError, match="MaxItems"):
            run.service.get_durable_execution_state(
                DurableExecutionArn=run.arn, CheckpointToken=run.token, MaxItems=1001
            )

    def test_finished_execution_cannot_be_invoked(self, run):
        """invocation_event refuses an execution that has finished."""
        run.service.stop_durable_execution(DurableExecutionArn=run.arn)
        with pytest.raises(ValueError, match="STOPPED"):
            run.service.invocation_event(run.arn)


class TestExecutionOutcomes:
    def test_execution_succeed_checkpoint_ends_the_execution(self, run):
        """EXECUTION SUCCEED completes it with the payload as result and returns no token."""
        response = run.checkpoint(upd("end", "EXECUTION", "SUCCEED", Payload='"big"'))
        assert "CheckpointToken" not in response
        assert run.service.execution_status(run.arn) == "SUCCEEDED"
        assert run.service.result(run.arn) == '"big"'

    def test_checkpoints_after_the_end_are_rejected(self, run):
        """After the execution ended, a checkpoint is InvalidParameterValue."""
        old = run.token
        run.checkpoint(upd("end", "EXECUTION", "SUCCEED"))
        with pytest.raises(ClientError) as info:
            run.service.checkpoint_durable_execution(
                DurableExecutionArn=run.arn, CheckpointToken=old, Updates=[step_start("s")]
            )
        code, _, message = error_of(info)
        assert code == "InvalidParameterValueException"
        assert "SUCCEEDED" in message

    def test_execution_fail_checkpoint_fails_the_execution(self, run):
        """EXECUTION FAIL completes it as FAILED with the error."""
        run.checkpoint(upd("end", "EXECUTION", "FAIL", Error={"ErrorType": "Boom"}))
        assert run.service.execution_status(run.arn) == "FAILED"
        assert run.service.error(run.arn) == {"ErrorType": "Boom"}

    def test_succeeded_output_succeeds_the_execution(self, run):
        """A SUCCEEDED output with a Result completes the execution."""
        run.service.record_invocation(run.arn, {"Status": "SUCCEEDED", "Result": '"r"'})
        described = run.service.get_durable_execution(DurableExecutionArn=run.arn)
        assert (described["Status"], described["Result"]) == ("SUCCEEDED", '"r"')
        assert described["EndTimestamp"] == START

    def test_empty_result_after_execution_checkpoint_keeps_the_payload(self, run):
        """SUCCEEDED with an empty Result after EXECUTION SUCCEED keeps the checkpointed result."""
        run.checkpoint(upd("end", "EXECUTION", "SUCCEED", Payload='"large"'))
        run.service.record_invocation(run.arn, {"Status": "SUCCEEDED", "Result": ""})
        assert run.service.result(run.arn) == '"large"'

    def test_failed_output_fails_the_execution(self, run):
        """A FAILED output completes the execution with its error."""
        error = {"ErrorType": "ValueError", "ErrorMessage": "bad"}
        run.service.record_invocation(run.arn, {"Status": "FAILED", "Error": error})
        described = run.service.get_durable_execution(DurableExecutionArn=run.arn)
        assert (described["Status"], described["Error"]) == ("FAILED", error)

    def test_pending_with_a_started_wait_stays_running(self, run):
        """PENDING while a wait is STARTED leaves the execution RUNNING."""
        run.checkpoint(wait_start("w", 10))
        run.service.record_invocation(run.arn, {"Status": "PENDING"})
        assert run.service.execution_status(run.arn) == "RUNNING"

    def test_pending_with_a_step_awaiting_retry_stays_running(self, run):
        """PENDING while a STEP is PENDING leaves the execution RUNNING."""
        run.checkpoint(step_start("s"), retry("s", 10))
        run.service.record_invocation(run.arn, {"Status": "PENDING"})
        assert run.service.execution_status(run.arn) == "RUNNING"

    def test_pending_with_nothing_pending_fails_the_execution(self, run):
        """PENDING when nothing is pending fails the execution, saying so."""
        run.checkpoint(step_start("s"), upd("s", "STEP", "SUCCEED"))
        run.service.record_invocation(run.arn, {"Status": "PENDING"})
        assert run.service.execution_status(run.arn) == "FAILED"
        assert "PENDING but nothing is pending" in run.service.error(run.arn)["ErrorMessage"]

    def test_pending_with_an_undelivered_change_stays_running(self, run):
        """PENDING right after a callback completed unseen is fine: the handler must rerun."""
        run.checkpoint(callback_start("c"))
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        run.service.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"1")
        run.service.record_invocation(run.arn, {"Status": "PENDING"})
        assert run.service.execution_status(run.arn) == "RUNNING"
        assert run.service.is_runnable(run.arn)

    @pytest.mark.parametrize(
        "output",
        [
            None,
            {"Status": "DONE"},
            {"Status": "SUCCEEDED", "Result": 5},
            {"Status": "SUCCEEDED", "Error": {}},
            {"Status": "FAILED", "Error": "boom"},
        ],
        ids=["not-a-dict", "unknown-status", "result-not-str", "success-with-error", "bad-error"],
    )
    def test_malformed_output_fails_the_execution(self, run, output):
        """A malformed output envelope fails the execution with a clear error."""
        run.service.record_invocation(run.arn, output)
        assert run.service.execution_status(run.arn) == "FAILED"
        assert run.service.error(run.arn)["ErrorMessage"].startswith("Invalid invocation output")

    def test_handler_error_is_recorded_and_execution_keeps_running(self, run):
        """A raised handler error goes into InvocationCompleted; the execution stays RUNNING."""
        run.service.record_invocation(run.arn, None, error=RuntimeError("crash"))
        assert run.service.execution_status(run.arn) == "RUNNING"
        details = run.service.events(run.arn)[-1]["InvocationCompletedDetails"]
        assert details["Error"]["Payload"]["ErrorType"] == "RuntimeError"
        assert details["Error"]["Payload"]["ErrorMessage"] == "crash"

    def test_execution_timeout_times_the_execution_out(self, service, clock):
        """After execution_timeout the execution is TIMED_OUT with an error."""
        arn = service.start_execution("f", execution_timeout=60)
        clock.advance(60)
        assert service.execution_status(arn) == "TIMED_OUT"
        assert "timed out" in service.error(arn)["ErrorMessage"]
        assert service.events(arn)[-1]["EventType"] == "ExecutionTimedOut"

    def test_output_after_the_end_is_ignored(self, run):
        """An invocation's output arriving after a stop does not change the status."""
        run.service.stop_durable_execution(DurableExecutionArn=run.arn)
        run.service.record_invocation(run.arn, {"Status": "SUCCEEDED", "Result": "1"})
        assert run.service.execution_status(run.arn) == "STOPPED"


class TestStop:
    def test_stop_stops_the_execution(self, run):
        """StopDurableExecution gives STOPPED, a StopTimestamp datetime and the given error."""
        response = run.service.stop_durable_execution(
            DurableExecutionArn=run.arn, Error={"ErrorMessage": "enough"}
        )
        assert response["StopTimestamp"] == START
        described = run.service.get_durable_execution(DurableExecutionArn=run.arn)
        assert (described["Status"], described["Error"]) == ("STOPPED", {"ErrorMessage": "enough"})

    def test_checkpoint_after_stop_is_rejected(self, run):
        """The running invocation's next checkpoint fails with InvalidParameterValue."""
        run.service.stop_durable_execution(DurableExecutionArn=run.arn)
        with pytest.raises(ClientError) as info:
            run.checkpoint(step_start("s"))
        code, _, message = error_of(info)
        assert code == "InvalidParameterValueException"
        assert message.startswith("Invalid checkpoint token")
        assert "STOPPED" in message

    def test_operations_in_progress_stay_started(self, run):
        """Stopping leaves in-progress operations as they were."""
        run.checkpoint(wait_start("w", 10))
        run.service.stop_durable_execution(DurableExecutionArn=run.arn)
        assert run.op("w")["Status"] == "STARTED"

    def test_stopping_twice_keeps_the_first_stop(self, run, clock):
        """A second stop changes nothing and returns the original stop time."""
        run.service.stop_durable_execution(DurableExecutionArn=run.arn)
        clock.advance(100)
        response = run.service.stop_durable_execution(DurableExecutionArn=run.arn)
        assert response["StopTimestamp"] == START

    def test_stop_unknown_is_resource_not_found(self, service):
        """Stopping an unknown execution raises ResourceNotFound."""
        with pytest.raises(ClientError) as info:
            service.stop_durable_execution(DurableExecutionArn="arn:none")
        assert error_of(info)[:2] == ("ResourceNotFoundException", 404)


class TestHistory:
    def test_events_follow_what_happened(self, run, clock):
        """A step, a wait and a callback produce their events in order with EventIds 1..n."""
        run.checkpoint(step_start("s"), upd("s", "STEP", "SUCCEED", Payload="1"))
        run.checkpoint(wait_start("w", 5), callback_start("c"))
        clock.advance(5)
        callback_id = run.op("c")["CallbackDetails"]["CallbackId"]
        run.service.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"2")
        run.service.record_invocation(run.arn, {"Status": "SUCCEEDED", "Result": "3"})
        events = run.service.events(run.arn)
        assert [event["EventType"] for event in events] == [
            "ExecutionStarted",
            "StepStarted",
            "StepSucceeded",
            "WaitStarted",
            "CallbackStarted",
            "WaitSucceeded",
            "CallbackSucceeded",
            "InvocationCompleted",
            "ExecutionSucceeded",
        ]
        assert [event["EventId"] for event in events] == list(range(1, 10))

    def test_events_carry_operation_identity(self, run):
        """Events name the operation's Id, Name, SubType and ParentId."""
        run.checkpoint(
            upd("c", "CONTEXT", "START"), step_start("s", Name="n", SubType="Step", ParentId="c")
        )
        event = run.service.events(run.arn)[-1]
        assert {key: event[key] for key in ("Id", "Name", "SubType", "ParentId")} == {
            "Id": "s",
            "Name": "n",
            "SubType": "Step",
            "ParentId": "c",
        }

    def test_execution_started_details(self, run):
        """ExecutionStarted carries the input and the execution timeout."""
        details = run.service.events(run.arn)[0]["ExecutionStartedDetails"]
        assert details == {
            "Input": {"Payload": '{"order": 7}', "Truncated": False},
            "ExecutionTimeout": 31_622_400,
        }

    def test_step_retry_with_error_is_step_failed_with_retry_details(self, run):
        """A RETRY with an error records StepFailed with attempt and delay."""
        run.checkpoint(step_start("s"), retry("s", 7, Error={"ErrorMessage": "x"}))
        details = run.service.events(run.arn)[-1]["StepFailedDetails"]
        assert details["RetryDetails"] == {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 7}
        assert details["Error"] == {"Payload": {"ErrorMessage": "x"}, "Truncated": False}

    def test_step_succeeded_carries_result_and_attempt(self, run):
        """StepSucceeded carries the result and the finished attempt number."""
        run.checkpoint(step_start("s"), upd("s", "STEP", "SUCCEED", Payload='"v"'))
        details = run.service.events(run.arn)[-1]["StepSucceededDetails"]
        assert details == {
            "Result": {"Payload": '"v"', "Truncated": False},
            "RetryDetails": {"CurrentAttempt": 1},
        }

    def test_wait_started_details(self, run):
        """WaitStarted carries Duration and ScheduledEndTimestamp."""
        run.checkpoint(wait_start("w", 90))
        details = run.service.events(run.arn)[-1]["WaitStartedDetails"]
        assert details == {"Duration": 90, "ScheduledEndTimestamp": START + timedelta(seconds=90)}

    def test_callback_started_details(self, run):
        """CallbackStarted carries the CallbackId and both timeouts."""
        run.checkpoint(callback_start("c", timeout=30, heartbeat=10))
        details = run.service.events(run.arn)[-1]["CallbackStartedDetails"]
        assert details["CallbackId"] == run.op("c")["CallbackDetails"]["CallbackId"]
        assert (details["Timeout"], details["HeartbeatTimeout"]) == (30, 10)

    def test_invocation_completed_details(self, run, clock):
        """InvocationCompleted spans from the envelope to the output, with a RequestId."""
        clock.advance(3)
        run.service.record_invocation(run.arn, {"Status": "SUCCEEDED"})
        event = next(
            e for e in run.service.events(run.arn) if e["EventType"] == "InvocationCompleted"
        )
        details = event["InvocationCompletedDetails"]
        assert details["StartTimestamp"] == START
        assert details["EndTimestamp"] == START + timedelta(seconds=3)
        assert details["RequestId"]

    def test_without_execution_data_payloads_are_truncated(self, run):
        """IncludeExecutionData=False drops payloads and marks them Truncated."""
        run.checkpoint(step_start("s"), upd("s", "STEP", "SUCCEED", Payload="secret"))
        events = run.service.get_durable_execution_history(
            DurableExecutionArn=run.arn, IncludeExecutionData=False
        )["Events"]
        assert events[0]["ExecutionStartedDetails"]["Input"] == {"Truncated": True}
        assert events[-1]["StepSucceededDetails"]["Result"] == {"Truncated": True}

    def test_pages_forward(self, run):
        """MaxItems pages the history and NextMarker continues it."""
        run.checkpoint(*(step_start(f"s{i}") for i in range(4)))
        first = run.service.get_durable_execution_history(DurableExecutionArn=run.arn, MaxItems=3)
        second = run.service.get_durable_execution_history(
            DurableExecutionArn=run.arn, MaxItems=3, Marker=first["NextMarker"]
        )
        ids = [e["EventId"] for e in first["Events"] + second["Events"]]
        assert ids == [1, 2, 3, 4, 5]
        assert "NextMarker" not in second

    def test_pages_in_reverse(self, run):
        """ReverseOrder returns newest events first and pages backwards."""
        run.checkpoint(*(step_start(f"s{i}") for i in range(4)))
        first = run.service.get_durable_execution_history(
            DurableExecutionArn=run.arn, MaxItems=3, ReverseOrder=True
        )
        second = run.service.get_durable_execution_history(
            DurableExecutionArn=run.arn, MaxItems=3, ReverseOrder=True, Marker=first["NextMarker"]
        )
        assert [e["EventId"] for e in first["Events"] + second["Events"]] == [5, 4, 3, 2, 1]

    def test_history_of_unknown_execution_is_resource_not_found(self, service):
        """History of an unknown ARN raises ResourceNotFound."""
        with pytest.raises(ClientError) as info:
            service.get_durable_execution_history(DurableExecutionArn="arn:none")
        assert error_of(info)[0] == "ResourceNotFoundException"

    def test_returned_events_are_copies(self, run):
        """Mutating a returned event does not change the stored history."""
        run.service.events(run.arn)[0]["ExecutionStartedDetails"]["Input"]["Payload"] = "x"
        assert run.service.events(run.arn)[0]["ExecutionStartedDetails"]["Input"]["Payload"] != "x"


class TestListExecutions:
    def test_lists_a_functions_executions_in_start_order(self, service, clock):
        """Executions of the function come back oldest first with their summary."""
        first = service.start_execution("f", execution_name="one")
        clock.advance(1)
        second = service.start_execution("f", execution_name="two")
        service.start_execution("other")
        listed = service.list_durable_executions_by_function(FunctionName="f")["DurableExecutions"]
        assert [e["DurableExecutionArn"] for e in listed] == [first, second]
        assert listed[0]["Status"] == "RUNNING"
        assert listed[0]["StartTimestamp"] == START

    def test_filters_by_status(self, service):
        """Statuses keeps only executions in those statuses."""
        running = service.start_execution("f")
        stopped = service.start_execution("f")
        service.stop_durable_execution(DurableExecutionArn=stopped)
        listed = service.list_durable_executions_by_function(FunctionName="f", Statuses=["RUNNING"])
        assert [e["DurableExecutionArn"] for e in listed["DurableExecutions"]] == [running]

    def test_filters_by_name_and_accepts_an_arn(self, service):
        """A function ARN works as FunctionName and DurableExecutionName filters."""
        service.start_execution("f", execution_name="a")
        target = service.start_execution("f", execution_name="b")
        listed = service.list_durable_executions_by_function(
            FunctionName="arn:aws:lambda:us-east-1:123456789012:function:f",
            DurableExecutionName="b",
        )
        assert [e["DurableExecutionArn"] for e in listed["DurableExecutions"]] == [target]

    def test_filters_by_start_time(self, service, clock):
        """StartedAfter keeps executions started after the given time."""
        service.start_execution("f")
        clock.advance(10)
        later = service.start_execution("f")
        listed = service.list_durable_executions_by_function(
            FunctionName="f", StartedAfter=START + timedelta(seconds=5)
        )
        assert [e["DurableExecutionArn"] for e in listed["DurableExecutions"]] == [later]

    def test_pages_in_reverse(self, service):
        """ReverseOrder lists newest first and pages with NextMarker."""
        arns = [service.start_execution("f") for _ in range(3)]
        first = service.list_durable_executions_by_function(
            FunctionName="f", ReverseOrder=True, MaxItems=2
        )
        second = service.list_durable_executions_by_function(
            FunctionName="f", ReverseOrder=True, MaxItems=2, Marker=first["NextMarker"]
        )
        listed = first["DurableExecutions"] + second["DurableExecutions"]
        assert [e["DurableExecutionArn"] for e in listed] == arns[::-1]
        assert "NextMarker" not in second

    def test_bad_status_is_rejected(self, service):
        """An unknown status filter is InvalidParameterValue."""
        with pytest.raises(ClientError, match="Statuses"):
            service.list_durable_executions_by_function(FunctionName="f", Statuses=["DONE"])


class TestTimers:
    def test_next_due_is_the_earliest_timer(self, run):
        """next_due reports the earliest live timer across executions."""
        run.checkpoint(wait_start("w", 50), step_start("s"), retry("s", 20))
        assert run.service.next_due() == DEFAULT_START + 20

    def test_next_due_skips_cancelled_timers(self, run):
        """A cancelled wait's timer no longer counts."""
        run.checkpoint(wait_start("w", 5))
        run.checkpoint(upd("w", "WAIT", "CANCEL"))
        assert run.service.next_due(run.arn) == DEFAULT_START + 31_622_400

    def test_next_due_is_none_without_timers(self, run):
        """A finished execution has no pending timers."""
        run.service.stop_durable_execution(DurableExecutionArn=run.arn)
        assert run.service.next_due() is None

    def test_fire_due_timers_reports_runnable_executions(self, service, clock):
        """fire_due_timers fires what is due and returns the executions it woke."""
        early = Run(service, service.start_execution("f"))
        late = Run(service, service.start_execution("f"))
        early.checkpoint(wait_start("w", 10))
        late.checkpoint(wait_start("w", 20))
        clock.advance(15)
        assert service.fire_due_timers() == [early.arn]
        assert service.fire_due_timers() == []

    def test_new_execution_is_runnable_until_invoked(self, service):
        """A started execution awaits its first invocation."""
        arn = service.start_execution("f")
        assert service.is_runnable(arn)
        service.invocation_event(arn)
        assert not service.is_runnable(arn)
