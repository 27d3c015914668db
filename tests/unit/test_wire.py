"""Wire models: ErrorObject, Operation.from_wire and OperationUpdate.to_wire vs the API."""

from __future__ import annotations

import concurrent.futures
import datetime
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec import (
    BatchCompletionError,
    CallbackExternalError,
    ChildContextError,
    CompletionReason,
    NonDeterministicExecutionError,
    RetryableSerDesError,
    SerDesError,
    StepError,
    StepInterruptedError,
    ValidationError,
)
from durable_exec._wire import (
    TERMINAL_STATUSES,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
    OperationUpdate,
    WireFormatError,
)

OFFICIAL = "aws_durable_execution_sdk_python.exceptions"
ROOT_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
ROOT_3 = "6f760b9e9eac89f07ab0223b0f4acb04d1e355d893a1b86a83f4d4b405adee99"
ROOT_4 = "e8e70dc170e14333627b32c20ac6051fb9b6bd369c036afbaca2d9cd7ac3de65"
CALLBACK_IN_3 = "4fcce65ec00309c63e7973cc7ba98d082f6db23ff491f8ae0d358d94a449573f"
GRANDCHILD = "9d8bc609108ec7b3600d6cceec22d18553e3e1ec52a3568cb251464a3d39d24f"
EPOCH_MS = 1_704_164_645_678  # 2024-01-02T03:04:05.678Z
EPOCH_DT = datetime.datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=datetime.UTC)


class CustomError(Exception):
    pass


class MySerDesError(SerDesError):
    pass


class TestErrorObjectFromException:
    @pytest.mark.parametrize(
        ("error", "wire"),
        [
            (KeyError("k"), {"ErrorMessage": "'k'", "ErrorType": "KeyError"}),
            (ValueError(), {"ErrorMessage": "", "ErrorType": "ValueError"}),
            (
                concurrent.futures.TimeoutError("t"),
                {"ErrorMessage": "t", "ErrorType": "TimeoutError"},
            ),
            (
                json.JSONDecodeError("x", "abc", 1),
                {
                    "ErrorMessage": "x: line 1 column 2 (char 1)",
                    "ErrorType": "json.decoder.JSONDecodeError",
                },
            ),
            (
                CustomError("custom boom"),
                {"ErrorMessage": "custom boom", "ErrorType": f"{__name__}.CustomError"},
            ),
            (
                ValidationError("duration must be at least 1 second"),
                {
                    "ErrorMessage": "duration must be at least 1 second",
                    "ErrorType": f"{OFFICIAL}.ValidationError",
                },
            ),
            (
                NonDeterministicExecutionError("nd"),
                {"ErrorMessage": "nd", "ErrorType": f"{OFFICIAL}.NonDeterministicExecutionError"},
            ),
            (
                RetryableSerDesError("m"),
                {"ErrorMessage": "m", "ErrorType": f"{OFFICIAL}.RetryableSerDesError"},
            ),
            (
                StepError("m", "ValueError", "d", ["a", "b"]),
                {
                    "ErrorMessage": "m",
                    "ErrorType": f"{OFFICIAL}.StepError",
                    "ErrorData": "d",
                    "StackTrace": ["a", "b"],
                },
            ),
            (
                ChildContextError("'k'", "KeyError"),
                {"ErrorMessage": "'k'", "ErrorType": f"{OFFICIAL}.ChildContextError"},
            ),
            (
                CallbackExternalError("ext failed", None, "somedata", ["l1", "l2"]),
                {
                    "ErrorMessage": "ext failed",
                    "ErrorType": f"{OFFICIAL}.CallbackExternalError",
                    "ErrorData": "somedata",
                    "StackTrace": ["l1", "l2"],
                },
            ),
            (
                BatchCompletionError(CompletionReason.CUSTOM_COMPLETION_FAILED, "custom"),
                {
                    "ErrorMessage": "custom",
                    "ErrorType": (
                        "aws_durable_execution_sdk_python.concurrency.models.BatchCompletionError"
                    ),
                },
            ),
            (
                SerDesError("ser", data="d"),
                {"ErrorMessage": "ser", "ErrorType": f"{OFFICIAL}.SerDesError", "ErrorData": "d"},
            ),
            (
                MySerDesError("sub", stack_trace=["x"]),
                {
                    "ErrorMessage": "sub",
                    "ErrorType": f"{OFFICIAL}.SerDesError",
                    "StackTrace": ["x"],
                },
            ),
        ],
    )
    def test_matches_the_official_sdk(self, error, wire):
        """Errors are described exactly as the official SDK describes them (section 4.1)."""
        assert ErrorObject.from_exception(error).to_wire() == wire

    def test_no_traceback_is_captured(self):
        """A raised exception's traceback is never recorded."""
        with pytest.raises(CustomError) as caught:
            raise CustomError("secret")
        assert caught.value.__traceback__ is not None
        assert ErrorObject.from_exception(caught.value).stack_trace is None

    def test_operation_error_records_its_own_class_not_its_error_type(self):
        """A re-raised StepError is recorded as StepError, whatever error it wraps."""
        wrapped = StepError("bad thing 3", f"{__name__}.CustomError")
        assert ErrorObject.from_exception(wrapped).type == f"{OFFICIAL}.StepError"


error_objects = st.builds(
    ErrorObject,
    message=st.none() | st.text(),
    type=st.none() | st.text(),
    data=st.none() | st.text(),
    stack_trace=st.none() | st.lists(st.text(), max_size=4),
)


class TestErrorObjectWire:
    def test_absent_members_are_omitted(self):
        """Only members that are set are sent; an empty message is kept."""
        assert ErrorObject(message="", type="ValueError").to_wire() == {
            "ErrorMessage": "",
            "ErrorType": "ValueError",
        }
        assert ErrorObject().to_wire() == {}

    def test_member_order_is_the_official_one(self):
        """Members come in the official order: message, type, data, stack trace."""
        wire = ErrorObject("m", "T", "d", ["s"]).to_wire()
        assert list(wire) == ["ErrorMessage", "ErrorType", "ErrorData", "StackTrace"]

    def test_none_passes_through(self):
        """from_wire(None) is None."""
        assert ErrorObject.from_wire(None) is None

    @pytest.mark.parametrize(
        "raw",
        [
            "boom",
            ["boom"],
            {"ErrorMessage": 5},
            {"ErrorType": ["T"]},
            {"StackTrace": "line"},
            {"StackTrace": [1, 2]},
        ],
    )
    def test_malformed_objects_are_rejected(self, raw):
        """A malformed error object raises WireFormatError."""
        with pytest.raises(WireFormatError):
            ErrorObject.from_wire(raw)

    def test_unknown_members_are_ignored(self):
        """Members the SDK does not know are ignored."""
        assert ErrorObject.from_wire({"ErrorMessage": "m", "Extra": 1}) == ErrorObject("m")

    @given(error=error_objects)
    def test_round_trip(self, error):
        """Any error object survives to_wire then from_wire unchanged."""
        assert ErrorObject.from_wire(error.to_wire()) == error

    @given(error=error_objects)
    def test_wire_form_is_json(self, error):
        """The wire form is plain JSON data."""
        wire = error.to_wire()
        assert json.loads(json.dumps(wire)) == wire


def step_operation(**overrides):
    raw = {
        "Id": ROOT_1,
        "Type": "STEP",
        "Status": "PENDING",
        "Name": "charge",
        "SubType": "Step",
        "StartTimestamp": EPOCH_MS,
        "StepDetails": {
            "Attempt": 2,
            "NextAttemptTimestamp": EPOCH_MS + 5_000,
            "Error": {"ErrorMessage": "bad thing 1", "ErrorType": "__main__.MyErr"},
        },
    }
    raw.update(overrides)
    return raw


class TestOperationFromWire:
    def test_reads_a_step(self):
        """A step's fields and details are flattened onto the Operation."""
        op = Operation.from_wire(step_operation())
        assert (op.id, op.type, op.status, op.name, op.sub_type, op.parent_id) == (
            ROOT_1,
            OperationType.STEP,
            OperationStatus.PENDING,
            "charge",
            "Step",
            None,
        )
        assert (op.attempt, op.result, op.error) == (
            2,
            None,
            ErrorObject("bad thing 1", "__main__.MyErr"),
        )

    def test_epoch_milliseconds_become_epoch_seconds(self):
        """Invocation-envelope timestamps (epoch ms) are read as epoch seconds."""
        op = Operation.from_wire(step_operation())
        assert op.start_timestamp == pytest.approx(EPOCH_MS / 1000)
        assert op.next_attempt_timestamp == pytest.approx(EPOCH_MS / 1000 + 5)

    def test_datetimes_give_the_same_seconds(self):
        """botocore's aware datetimes and epoch ms of the same instant read the same."""
        as_ms = Operation.from_wire(step_operation())
        as_dt = Operation.from_wire(
            step_operation(
                StartTimestamp=EPOCH_DT,
                StepDetails={"NextAttemptTimestamp": EPOCH_DT + datetime.timedelta(seconds=5)},
            )
        )
        assert as_dt.start_timestamp == pytest.approx(as_ms.start_timestamp)
        assert as_dt.next_attempt_timestamp == pytest.approx(as_ms.next_attempt_timestamp)

    def test_naive_datetimes_are_utc(self):
        """A naive datetime is taken as UTC."""
        naive = EPOCH_DT.replace(tzinfo=None)
        op = Operation.from_wire(step_operation(StartTimestamp=naive))
        assert op.start_timestamp == pytest.approx(EPOCH_DT.timestamp())

    def test_offset_datetimes_are_converted(self):
        """A datetime in another offset reads as the same instant."""
        tokyo = EPOCH_DT.astimezone(datetime.timezone(datetime.timedelta(hours=9)))
        op = Operation.from_wire(step_operation(StartTimestamp=tokyo))
        assert op.start_timestamp == pytest.approx(EPOCH_DT.timestamp())

    @given(ms=st.integers(min_value=0, max_value=253_402_300_799_000))
    def test_epoch_ms_and_datetime_agree(self, ms):
        """Any epoch-ms timestamp and the matching datetime give the same epoch seconds."""
        instant = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(
            milliseconds=ms
        )
        from_ms = Operation.from_wire(step_operation(EndTimestamp=ms)).end_timestamp
        from_dt = Operation.from_wire(step_operation(EndTimestamp=instant)).end_timestamp
        assert from_ms is not None
        assert from_dt is not None
        assert round(from_ms * 1000) == round(from_dt * 1000) == ms

    @pytest.mark.parametrize(
        ("details_key", "details", "field", "expected"),
        [
            ("ContextDetails", {"Result": "7", "ReplayChildren": True}, "replay_children", True),
            ("ContextDetails", {"Result": "7"}, "result", "7"),
            ("ContextDetails", {"Result": "7"}, "replay_children", None),
            ("CallbackDetails", {"CallbackId": "cb-1"}, "callback_id", "cb-1"),
            ("CallbackDetails", {"Result": "plain text"}, "result", "plain text"),
            ("ChainedInvokeDetails", {"Result": "[1, 2]"}, "result", "[1, 2]"),
            (
                "ChainedInvokeDetails",
                {"Error": {"ErrorType": "ResourceNotFoundException"}},
                "error",
                ErrorObject(type="ResourceNotFoundException"),
            ),
            ("ExecutionDetails", {"InputPayload": '{"a": 1}'}, "input_payload", '{"a": 1}'),
            (
                "WaitDetails",
                {"ScheduledEndTimestamp": EPOCH_MS},
                "scheduled_end_timestamp",
                EPOCH_MS / 1000,
            ),
            ("StepDetails", {"Result": "3", "Attempt": 1}, "result", "3"),
            ("StepDetails", {}, "attempt", None),
        ],
    )
    def test_reads_each_details_block(self, details_key, details, field, expected):
        """Every details block's members land on the Operation."""
        raw = {"Id": "x", "Type": "CONTEXT", "Status": "SUCCEEDED", details_key: details}
        assert getattr(Operation.from_wire(raw), field) == expected

    @pytest.mark.parametrize("sub_type", ["", None])
    def test_empty_sub_type_is_none(self, sub_type):
        """An empty SubType reads as no SubType, as in the official SDK."""
        assert Operation.from_wire(step_operation(SubType=sub_type)).sub_type is None

    def test_unknown_members_are_ignored(self):
        """Members the SDK does not know (future API additions) are ignored."""
        op = Operation.from_wire(step_operation(Future={"x": 1}))
        assert op.id == ROOT_1

    @pytest.mark.parametrize(
        "overrides",
        [
            {"Id": None},
            {"Id": ""},
            {"Id": 5},
            {"Type": "TIMER"},
            {"Type": None},
            {"Status": "DONE"},
            {"Name": 5},
            {"StartTimestamp": "2024-01-02"},
            {"StartTimestamp": True},
            {"StepDetails": "x"},
            {"StepDetails": {"Attempt": "2"}},
            {"StepDetails": {"Attempt": True}},
            {"StepDetails": {"Result": 3}},
            {"StepDetails": {"Error": "boom"}},
        ],
    )
    def test_malformed_operations_are_rejected(self, overrides):
        """A malformed operation raises WireFormatError rather than a stray TypeError."""
        with pytest.raises(WireFormatError):
            Operation.from_wire(step_operation(**overrides))

    def test_non_mapping_is_rejected(self):
        """An operation that is not a JSON object raises WireFormatError."""
        with pytest.raises(WireFormatError):
            Operation.from_wire(["Id", "x"])  # type: ignore[arg-type]

    @pytest.mark.parametrize("status", list(OperationStatus))
    def test_is_terminal(self, status):
        """SUCCEEDED, FAILED, CANCELLED, TIMED_OUT and STOPPED are terminal; the rest are not."""
        op = Operation.from_wire(step_operation(Status=status.value))
        terminal = {"SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"}
        assert op.is_terminal is (status.value in terminal)
        assert (status in TERMINAL_STATUSES) is (status.value in terminal)


INTERRUPTED = f"Step operation_id={ROOT_1} name=s was previously interrupted"

# Verbatim OperationUpdate dicts captured from the official SDK (official_wire.md section 2).
GOLDEN_UPDATES = [
    (
        OperationUpdate(
            ROOT_1, OperationType.STEP, OperationAction.START, name="add", sub_type="Step"
        ),
        {"Id": ROOT_1, "Type": "STEP", "Action": "START", "Name": "add", "SubType": "Step"},
    ),
    (
        OperationUpdate(
            ROOT_1,
            OperationType.STEP,
            OperationAction.SUCCEED,
            name="add",
            sub_type="Step",
            payload="3",
        ),
        {
            "Id": ROOT_1,
            "Type": "STEP",
            "Action": "SUCCEED",
            "Name": "add",
            "SubType": "Step",
            "Payload": "3",
        },
    ),
    (
        OperationUpdate(
            ROOT_3, OperationType.STEP, OperationAction.SUCCEED, sub_type="Step", payload="null"
        ),
        {"Id": ROOT_3, "Type": "STEP", "Action": "SUCCEED", "SubType": "Step", "Payload": "null"},
    ),
    (
        OperationUpdate(
            ROOT_4,
            OperationType.WAIT,
            OperationAction.START,
            sub_type="Wait",
            options={"WaitSeconds": 2},
        ),
        {
            "Id": ROOT_4,
            "Type": "WAIT",
            "Action": "START",
            "SubType": "Wait",
            "WaitOptions": {"WaitSeconds": 2},
        },
    ),
    (
        OperationUpdate(
            ROOT_1,
            OperationType.STEP,
            OperationAction.RETRY,
            name="s",
            sub_type="Step",
            error=ErrorObject.from_exception(StepInterruptedError(INTERRUPTED)),
            options={"NextAttemptDelaySeconds": 1},
        ),
        {
            "Id": ROOT_1,
            "Type": "STEP",
            "Action": "RETRY",
            "Name": "s",
            "SubType": "Step",
            "Error": {"ErrorMessage": INTERRUPTED, "ErrorType": f"{OFFICIAL}.StepInterruptedError"},
            "StepOptions": {"NextAttemptDelaySeconds": 1},
        },
    ),
    (
        OperationUpdate(
            ROOT_1,
            OperationType.CALLBACK,
            OperationAction.START,
            name="cb1",
            sub_type="Callback",
            options={"TimeoutSeconds": 300, "HeartbeatTimeoutSeconds": 30},
        ),
        {
            "Id": ROOT_1,
            "Type": "CALLBACK",
            "Action": "START",
            "Name": "cb1",
            "SubType": "Callback",
            "CallbackOptions": {"TimeoutSeconds": 300, "HeartbeatTimeoutSeconds": 30},
        },
    ),
    (
        OperationUpdate(
            CALLBACK_IN_3,
            OperationType.CALLBACK,
            OperationAction.START,
            parent_id=ROOT_3,
            name="submit create callback id",
            sub_type="Callback",
            options={"TimeoutSeconds": 0, "HeartbeatTimeoutSeconds": 0},
        ),
        {
            "Id": CALLBACK_IN_3,
            "Type": "CALLBACK",
            "Action": "START",
            "ParentId": ROOT_3,
            "Name": "submit create callback id",
            "SubType": "Callback",
            "CallbackOptions": {"TimeoutSeconds": 0, "HeartbeatTimeoutSeconds": 0},
        },
    ),
    (
        OperationUpdate(
            GRANDCHILD,
            OperationType.STEP,
            OperationAction.FAIL,
            parent_id=ROOT_1,
            name="submitter",
            sub_type="Step",
            error=ErrorObject.from_exception(RuntimeError("cannot submit")),
        ),
        {
            "Id": GRANDCHILD,
            "Type": "STEP",
            "Action": "FAIL",
            "ParentId": ROOT_1,
            "Name": "submitter",
            "SubType": "Step",
            "Error": {"ErrorMessage": "cannot submit", "ErrorType": "RuntimeError"},
        },
    ),
    (
        OperationUpdate(
            ROOT_1,
            OperationType.CONTEXT,
            OperationAction.FAIL,
            sub_type="WaitForCallback",
            error=ErrorObject.from_exception(StepError("cannot submit", "RuntimeError")),
        ),
        {
            "Id": ROOT_1,
            "Type": "CONTEXT",
            "Action": "FAIL",
            "SubType": "WaitForCallback",
            "Error": {"ErrorMessage": "cannot submit", "ErrorType": f"{OFFICIAL}.StepError"},
        },
    ),
    (
        OperationUpdate(
            ROOT_1,
            OperationType.CHAINED_INVOKE,
            OperationAction.START,
            name="inv1",
            sub_type="ChainedInvoke",
            payload='{"x": 1}',
            options={"FunctionName": "child-fn"},
        ),
        {
            "Id": ROOT_1,
            "Type": "CHAINED_INVOKE",
            "Action": "START",
            "Name": "inv1",
            "SubType": "ChainedInvoke",
            "Payload": '{"x": 1}',
            "ChainedInvokeOptions": {"FunctionName": "child-fn"},
        },
    ),
    (
        OperationUpdate(
            ROOT_1,
            OperationType.CONTEXT,
            OperationAction.SUCCEED,
            name="inner",
            sub_type="RunInChildContext",
            payload='[10,"deep"]',
            options={"ReplayChildren": False},
        ),
        {
            "Id": ROOT_1,
            "Type": "CONTEXT",
            "Action": "SUCCEED",
            "Name": "inner",
            "SubType": "RunInChildContext",
            "Payload": '[10,"deep"]',
            "ContextOptions": {"ReplayChildren": False},
        },
    ),
    (
        OperationUpdate(
            ROOT_1,
            OperationType.CONTEXT,
            OperationAction.SUCCEED,
            name="bigchild",
            sub_type="RunInChildContext",
            payload="",
            options={"ReplayChildren": True},
        ),
        {
            "Id": ROOT_1,
            "Type": "CONTEXT",
            "Action": "SUCCEED",
            "Name": "bigchild",
            "SubType": "RunInChildContext",
            "Payload": "",
            "ContextOptions": {"ReplayChildren": True},
        },
    ),
    (
        OperationUpdate(
            "execution-result-1795899567074",
            OperationType.EXECUTION,
            OperationAction.SUCCEED,
            payload='{"big": true}',
        ),
        {
            "Id": "execution-result-1795899567074",
            "Type": "EXECUTION",
            "Action": "SUCCEED",
            "Payload": '{"big": true}',
        },
    ),
]


class TestOperationUpdateToWire:
    @pytest.mark.parametrize(("update", "wire"), GOLDEN_UPDATES)
    def test_matches_the_official_sdk_byte_for_byte(self, update, wire):
        """Updates serialise to the official SDK's dicts, members in the official order."""
        assert json.dumps(update.to_wire()) == json.dumps(wire)

    @pytest.mark.parametrize("member", ["parent_id", "name", "sub_type"])
    @pytest.mark.parametrize("value", [None, ""])
    def test_empty_identity_members_are_omitted(self, member, value):
        """ParentId, Name and SubType are sent only when non-empty, as the official SDK does."""
        update = OperationUpdate("id", OperationType.STEP, OperationAction.START, **{member: value})
        assert update.to_wire() == {"Id": "id", "Type": "STEP", "Action": "START"}

    def test_empty_payload_is_sent(self):
        """An empty payload is still a payload."""
        update = OperationUpdate("id", OperationType.STEP, OperationAction.SUCCEED, payload="")
        assert update.to_wire()["Payload"] == ""

    def test_empty_options_are_omitted(self):
        """An empty options block is not sent."""
        update = OperationUpdate("id", OperationType.WAIT, OperationAction.START, options={})
        assert "WaitOptions" not in update.to_wire()

    def test_size_counts_payload_bytes(self):
        """The size estimate grows by the payload's UTF-8 size."""

        def size(payload):
            return OperationUpdate(
                "id", OperationType.STEP, OperationAction.SUCCEED, payload=payload
            ).size()

        assert size("a" * 10) - size("") == 10
        assert size("é" * 10) - size("") == 20


class TestEnums:
    @pytest.mark.parametrize(
        ("enum_cls", "values"),
        [
            (OperationType, ["EXECUTION", "CONTEXT", "STEP", "WAIT", "CALLBACK", "CHAINED_INVOKE"]),
            (
                OperationStatus,
                [
                    "STARTED",
                    "PENDING",
                    "READY",
                    "SUCCEEDED",
                    "FAILED",
                    "CANCELLED",
                    "TIMED_OUT",
                    "STOPPED",
                ],
            ),
            (OperationAction, ["START", "SUCCEED", "FAIL", "RETRY", "CANCEL"]),
        ],
    )
    def test_wire_strings(self, enum_cls, values):
        """Enum values are the API's wire strings."""
        assert sorted(m.value for m in enum_cls) == sorted(values)

    def test_sub_types_match_the_official_sdk(self):
        """OperationSubType values are the official SubType strings."""
        assert {m.name: m.value for m in OperationSubType} == {
            "STEP": "Step",
            "WAIT": "Wait",
            "CALLBACK": "Callback",
            "RUN_IN_CHILD_CONTEXT": "RunInChildContext",
            "MAP": "Map",
            "MAP_ITERATION": "MapIteration",
            "PARALLEL": "Parallel",
            "PARALLEL_BRANCH": "ParallelBranch",
            "WAIT_FOR_CALLBACK": "WaitForCallback",
            "WAIT_FOR_CONDITION": "WaitForCondition",
            "CHAINED_INVOKE": "ChainedInvoke",
        }
