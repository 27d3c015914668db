"""run_invocation at the botocore edge: envelopes in, envelopes out, API failures mapped."""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import ClientError
from botocore.stub import ANY, Stubber

from durable_exec import DurableContext, durable_execution
from durable_exec._errors import CheckpointError, ExecutionError
from durable_exec._handler import run_invocation
from durable_exec.testing import VirtualClock

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/exec1"
STEP_1 = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
CHECKPOINT_ERROR_TYPE = "aws_durable_execution_sdk_python.exceptions.CheckpointError"
EXECUTION_ERROR_TYPE = "aws_durable_execution_sdk_python.exceptions.ExecutionError"

_MISSING = object()


def envelope(input_payload: Any = '{"x": 1}', next_marker: str = "") -> dict[str, Any]:
    """A hand-built invocation envelope for a fresh execution."""
    details = {} if input_payload is _MISSING else {"InputPayload": input_payload}
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": "tok0",
        "InitialExecutionState": {
            "Operations": [
                {
                    "Id": "exec1",
                    "Type": "EXECUTION",
                    "Status": "STARTED",
                    "StartTimestamp": 1767225600000,
                    "ExecutionDetails": details,
                }
            ],
            "NextMarker": next_marker,
        },
    }


def step_wire(action: str, **extra: Any) -> dict[str, Any]:
    """The wire form of an update for the root's first step, named ``charge``."""
    return {"Id": STEP_1, "Type": "STEP", "Action": action, "Name": "charge", "SubType": "Step"} | (
        extra
    )


def checkpoint_params(token: str, updates: Any) -> dict[str, Any]:
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": token,
        "Updates": updates,
        "ClientToken": ANY,
    }


def checkpoint_response(token: str | None) -> dict[str, Any]:
    response: dict[str, Any] = {"NewExecutionState": {"Operations": []}}
    if token is not None:
        response["CheckpointToken"] = token
    return response


STEP_CALL = [step_wire("START"), step_wire("SUCCEED", Payload="1")]


def charge(_: Any) -> int:
    return 1


@durable_execution
def one_step(event: Any, context: DurableContext) -> int:
    return context.step(charge, name="charge")


@pytest.fixture(scope="module")
def session() -> Any:
    """One botocore session per module, so the service model is loaded once."""
    return botocore.session.get_session()


@pytest.fixture
def client(session: Any) -> Any:
    """A real botocore lambda client; Stubber keeps it off the network."""
    return session.create_client(
        "lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y"
    )


@pytest.fixture
def stubber(client: Any) -> Iterator[Stubber]:
    """An active Stubber on ``client``; every queued answer must be used."""
    with Stubber(client) as stub:
        yield stub


@pytest.fixture
def run(client: Any, clock: VirtualClock) -> Callable[..., dict[str, Any]]:
    """Run one invocation of a handler over the stubbed client and a virtual clock."""

    def invoke(handler: Any, event: Any) -> dict[str, Any]:
        return run_invocation(handler, event, None, client=client, clock=clock)

    return invoke


def _add_error(stubber: Stubber, code: str, status: int, message: str) -> None:
    stubber.add_client_error(
        "checkpoint_durable_execution",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
    )


class TestEnvelopeIn:
    """Events that are not durable envelopes are refused with a clear message."""

    @pytest.mark.parametrize(
        ("event", "missing"),
        [
            ({}, ["DurableExecutionArn", "CheckpointToken"]),
            ({"CheckpointToken": "tok0"}, ["DurableExecutionArn"]),
            ({"DurableExecutionArn": ARN}, ["CheckpointToken"]),
            ({"DurableExecutionArn": "", "CheckpointToken": "tok0"}, ["DurableExecutionArn"]),
            ({"key": "value"}, ["DurableExecutionArn", "CheckpointToken"]),
        ],
    )
    def test_missing_fields(
        self,
        run: Callable[..., dict[str, Any]],
        stubber: Stubber,
        event: dict[str, Any],
        missing: list[str],
    ) -> None:
        """A missing ARN or token raises ExecutionError naming it and pointing at DurableConfig."""
        with pytest.raises(ExecutionError) as info:
            run(one_step, event)
        text = str(info.value)
        assert all(field in text for field in missing)
        assert "DurableConfig" in text
        assert "durab" in text.lower()

    @pytest.mark.parametrize(
        ("event", "type_name"),
        [("hello", "str"), (None, "NoneType"), ([1, 2], "list"), (42, "int")],
    )
    def test_not_an_object(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber, event: Any, type_name: str
    ) -> None:
        """A non-object event raises ExecutionError naming its type, the fields, DurableConfig."""
        with pytest.raises(ExecutionError) as info:
            run(one_step, event)
        text = str(info.value)
        assert type_name in text
        assert "DurableExecutionArn" in text
        assert "CheckpointToken" in text
        assert "DurableConfig" in text

    def test_handler_not_run(self, run: Callable[..., dict[str, Any]], stubber: Stubber) -> None:
        """The user function never runs for a non-durable event."""
        ran: list[Any] = []

        @durable_execution
        def handler(event: Any, context: DurableContext) -> None:
            ran.append(event)

        with pytest.raises(ExecutionError):
            run(handler, {"hello": "world"})
        assert ran == []


class TestInput:
    """What the user function receives as its event."""

    @pytest.mark.parametrize(
        ("payload", "expected"),
        [
            ('{"x": 1}', {"x": 1}),
            ("[1, 2]", [1, 2]),
            ('"text"', "text"),
            ("null", None),
            (_MISSING, {}),
            ("", {}),
        ],
    )
    def test_decoded(
        self,
        run: Callable[..., dict[str, Any]],
        stubber: Stubber,
        payload: Any,
        expected: Any,
    ) -> None:
        """InputPayload reaches the handler JSON-decoded; a missing or empty one gives {}."""
        seen: list[Any] = []

        @durable_execution
        def handler(event: Any, context: DurableContext) -> None:
            seen.append(event)

        run(handler, envelope(payload))
        assert seen == [expected]

    def test_no_execution_operation(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """An envelope without an EXECUTION operation gives the handler {}."""
        seen: list[Any] = []

        @durable_execution
        def handler(event: Any, context: DurableContext) -> None:
            seen.append(event)

        event = envelope()
        event["InitialExecutionState"]["Operations"] = []
        run(handler, event)
        assert seen == [{}]

    def test_invalid_json(self, run: Callable[..., dict[str, Any]], stubber: Stubber) -> None:
        """Input that is not JSON fails the execution with an ExecutionError saying so."""
        ran: list[Any] = []

        @durable_execution
        def handler(event: Any, context: DurableContext) -> None:
            ran.append(event)

        output = run(handler, envelope("{not json"))
        assert output["Status"] == "FAILED"
        assert output["Error"]["ErrorType"] == EXECUTION_ERROR_TYPE
        assert "input is not valid JSON" in output["Error"]["ErrorMessage"]
        assert ran == []


class TestOutput:
    """How the handler's outcome becomes the output envelope."""

    @pytest.mark.parametrize(
        ("result", "text"),
        [(None, "null"), ({"a": [1, 2]}, '{"a": [1, 2]}'), ("ok", '"ok"'), (0, "0")],
    )
    def test_succeeded(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber, result: Any, text: str
    ) -> None:
        """A returned value becomes SUCCEEDED with its JSON text as Result."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> Any:
            return result

        assert run(handler, envelope()) == {"Status": "SUCCEEDED", "Result": text}

    def test_not_json(self, run: Callable[..., dict[str, Any]], stubber: Stubber) -> None:
        """A result JSON cannot encode (a set) fails the execution with a TypeError."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> Any:
            return {1, 2}

        output = run(handler, envelope())
        assert output["Status"] == "FAILED"
        assert output["Error"]["ErrorType"] == "TypeError"
        assert "set" in output["Error"]["ErrorMessage"]

    def test_user_error(self, run: Callable[..., dict[str, Any]], stubber: Stubber) -> None:
        """An exception escaping the handler fails the execution with its type and message."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> Any:
            raise ValueError("bad order")

        assert run(handler, envelope()) == {
            "Status": "FAILED",
            "Error": {"ErrorType": "ValueError", "ErrorMessage": "bad order"},
        }

    def test_result_is_json_text(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """The Result member is a JSON string that decodes back to the returned value."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> Any:
            return {"nested": {"list": [1, "two", None]}}

        output = run(handler, envelope())
        assert json.loads(output["Result"]) == {"nested": {"list": [1, "two", None]}}


class TestCheckpointCalls:
    """The calls an invocation makes, and how their failures end it."""

    def test_step_call(self, run: Callable[..., dict[str, Any]], stubber: Stubber) -> None:
        """A step's START and SUCCEED go in one call with the envelope's token."""
        stubber.add_response(
            "checkpoint_durable_execution",
            checkpoint_response("tok1"),
            checkpoint_params("tok0", STEP_CALL),
        )
        assert run(one_step, envelope()) == {"Status": "SUCCEEDED", "Result": "1"}
        stubber.assert_no_pending_responses()

    def test_token_chain(self, run: Callable[..., dict[str, Any]], stubber: Stubber) -> None:
        """The second step's call uses the token the first call returned."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> int:
            return context.step(charge, name="charge") + context.step(charge, name="charge")

        stubber.add_response(
            "checkpoint_durable_execution",
            checkpoint_response("tok1"),
            checkpoint_params("tok0", STEP_CALL),
        )
        stubber.add_response(
            "checkpoint_durable_execution",
            checkpoint_response("tok2"),
            checkpoint_params("tok1", ANY),
        )
        assert run(handler, envelope()) == {"Status": "SUCCEEDED", "Result": "2"}
        stubber.assert_no_pending_responses()

    def test_transient_retried_with_same_client_token(
        self, client: Any, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """A throttled checkpoint is retried in-process with the same ClientToken."""
        sent: list[dict[str, Any]] = []

        def record(params: dict[str, Any], **_: Any) -> None:
            sent.append(dict(params))

        client.meta.events.register(
            "provide-client-params.lambda.CheckpointDurableExecution", record
        )
        _add_error(stubber, "TooManyRequestsException", 429, "Rate exceeded")
        stubber.add_response(
            "checkpoint_durable_execution",
            checkpoint_response("tok1"),
            checkpoint_params("tok0", STEP_CALL),
        )
        assert run(one_step, envelope()) == {"Status": "SUCCEEDED", "Result": "1"}
        assert len(sent) == 2
        assert sent[0] == sent[1]
        assert sent[0]["ClientToken"]

    @pytest.mark.parametrize(
        ("code", "status", "message"),
        [
            ("InvalidParameterValueException", 400, "Payload exceeds the maximum size"),
            ("KMSAccessDeniedException", 502, "Access denied to key"),
        ],
    )
    def test_fatal_error_fails(
        self,
        run: Callable[..., dict[str, Any]],
        stubber: Stubber,
        code: str,
        status: int,
        message: str,
    ) -> None:
        """A non-retryable checkpoint error during a step fails the execution."""
        _add_error(stubber, code, status, message)
        output = run(one_step, envelope())
        assert output["Status"] == "FAILED"
        assert output["Error"]["ErrorType"] == CHECKPOINT_ERROR_TYPE
        assert message in output["Error"]["ErrorMessage"]

    def test_fatal_error_cannot_be_swallowed(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """A handler that catches the checkpoint error still ends FAILED."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> str:
            try:
                context.step(charge, name="charge")
            except Exception:
                return "swallowed"
            return "unreachable"

        _add_error(stubber, "InvalidParameterValueException", 400, "Payload exceeds the limit")
        output = run(handler, envelope())
        assert output["Status"] == "FAILED"
        assert output["Error"]["ErrorType"] == CHECKPOINT_ERROR_TYPE

    def test_stale_token_raised(self, run: Callable[..., dict[str, Any]], stubber: Stubber) -> None:
        """A stale token is raised out of the handler so that Lambda retries the invocation."""
        _add_error(stubber, "InvalidParameterValueException", 400, "Invalid checkpoint token")
        with pytest.raises(CheckpointError) as info:
            run(one_step, envelope())
        assert info.value.is_retryable()
        assert info.value.error_code == "InvalidParameterValueException"
        assert isinstance(info.value.__cause__, ClientError)

    def test_stale_token_cannot_be_swallowed(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """A handler that catches the stale-token error still has it raised for Lambda."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> str:
            try:
                context.step(charge, name="charge")
            except Exception:
                return "swallowed"
            return "unreachable"

        _add_error(stubber, "InvalidParameterValueException", 400, "Invalid checkpoint token")
        with pytest.raises(CheckpointError) as info:
            run(handler, envelope())
        assert info.value.error_code == "InvalidParameterValueException"

    def test_throttling_exhausted_raised(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """Throttling that outlasts the in-process retries is raised for Lambda to retry."""
        for _ in range(5):
            _add_error(stubber, "TooManyRequestsException", 429, "Rate exceeded")
        with pytest.raises(CheckpointError) as info:
            run(one_step, envelope())
        assert info.value.is_retryable()
        assert info.value.error_code == "TooManyRequestsException"
        stubber.assert_no_pending_responses()

    def test_token_revoked_pending(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """A checkpoint response without a token ends the invocation PENDING."""
        ran_after: list[bool] = []

        @durable_execution
        def handler(event: Any, context: DurableContext) -> int:
            value = context.step(charge, name="charge")
            ran_after.append(True)
            return value

        stubber.add_response(
            "checkpoint_durable_execution",
            checkpoint_response(None),
            checkpoint_params("tok0", STEP_CALL),
        )
        assert run(handler, envelope()) == {"Status": "PENDING"}
        assert ran_after == []


class TestPaging:
    """NextMarker in the envelope is paged in before the handler runs."""

    def _state_params(self, marker: str) -> dict[str, Any]:
        return {
            "DurableExecutionArn": ARN,
            "CheckpointToken": "tok0",
            "Marker": marker,
            "MaxItems": 1000,
        }

    def test_paged_step_replays(self, run: Callable[..., dict[str, Any]], stubber: Stubber) -> None:
        """A step found SUCCEEDED on a later page returns its stored result without running."""
        calls: list[int] = []

        def counted(_: Any) -> int:
            calls.append(1)
            return 1

        @durable_execution
        def handler(event: Any, context: DurableContext) -> int:
            return context.step(counted, name="charge")

        stubber.add_response(
            "get_durable_execution_state",
            {"Operations": [], "NextMarker": "m2"},
            self._state_params("m1"),
        )
        stubber.add_response(
            "get_durable_execution_state",
            {
                "Operations": [
                    {
                        "Id": STEP_1,
                        "Type": "STEP",
                        "SubType": "Step",
                        "Name": "charge",
                        "Status": "SUCCEEDED",
                        "StartTimestamp": T0,
                        "EndTimestamp": T0,
                        "StepDetails": {"Attempt": 1, "Result": "42"},
                    }
                ]
            },
            self._state_params("m2"),
        )
        assert run(handler, envelope(next_marker="m1")) == {"Status": "SUCCEEDED", "Result": "42"}
        assert calls == []
        stubber.assert_no_pending_responses()

    def test_paging_fatal_error(self, run: Callable[..., dict[str, Any]], stubber: Stubber) -> None:
        """A non-retryable paging error fails the execution before the handler runs."""
        ran: list[bool] = []

        @durable_execution
        def handler(event: Any, context: DurableContext) -> None:
            ran.append(True)

        stubber.add_client_error(
            "get_durable_execution_state",
            service_error_code="ResourceNotFoundException",
            service_message="no such execution",
            http_status_code=404,
        )
        output = run(handler, envelope(next_marker="m1"))
        assert output["Status"] == "FAILED"
        assert output["Error"]["ErrorType"] == CHECKPOINT_ERROR_TYPE
        assert ran == []

    def test_paging_stale_token_raised(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """A stale token while paging is raised for Lambda to retry."""
        stubber.add_client_error(
            "get_durable_execution_state",
            service_error_code="InvalidParameterValueException",
            service_message="Invalid checkpoint token",
            http_status_code=400,
        )
        with pytest.raises(CheckpointError) as info:
            run(one_step, envelope(next_marker="m1"))
        assert info.value.is_retryable()


BIG = "x" * (6 * 1024 * 1024)
RESULT_ID = "execution-result-1767225600000"  # the virtual clock's start, in ms


class TestLargeOutcome:
    """Results and errors over the response limit are checkpointed on the EXECUTION."""

    def test_large_result_checkpointed(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """A result over 6 MiB is sent as EXECUTION SUCCEED and returned empty."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> str:
            return BIG

        update = {
            "Id": RESULT_ID,
            "Type": "EXECUTION",
            "Action": "SUCCEED",
            "Payload": json.dumps(BIG),
        }
        stubber.add_response(
            "checkpoint_durable_execution",
            checkpoint_response(None),
            checkpoint_params("tok0", [update]),
        )
        assert run(handler, envelope()) == {"Status": "SUCCEEDED", "Result": ""}
        stubber.assert_no_pending_responses()

    def test_large_error_checkpointed(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """An error over 6 MiB is sent as EXECUTION FAIL and the output carries no Error."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> str:
            raise ValueError(BIG)

        update = {
            "Id": RESULT_ID,
            "Type": "EXECUTION",
            "Action": "FAIL",
            "Error": {"ErrorMessage": BIG, "ErrorType": "ValueError"},
        }
        stubber.add_response(
            "checkpoint_durable_execution",
            checkpoint_response(None),
            checkpoint_params("tok0", [update]),
        )
        assert run(handler, envelope()) == {"Status": "FAILED"}
        stubber.assert_no_pending_responses()

    def test_large_result_refused_fails(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """A large result the service refuses as too big fails the execution instead of raising."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> str:
            return BIG + BIG

        _add_error(stubber, "InvalidParameterValueException", 400, "Payload exceeds 6291456 bytes")
        output = run(handler, envelope())
        assert output["Status"] == "FAILED"
        assert output["Error"]["ErrorType"] == CHECKPOINT_ERROR_TYPE

    def test_large_error_refused_fails(
        self, run: Callable[..., dict[str, Any]], stubber: Stubber
    ) -> None:
        """A large error the service refuses as too big fails the execution instead of raising."""

        @durable_execution
        def handler(event: Any, context: DurableContext) -> str:
            raise ValueError(BIG)

        _add_error(stubber, "InvalidParameterValueException", 400, "Error exceeds 1048576 bytes")
        output = run(handler, envelope())
        assert output["Status"] == "FAILED"
        assert output["Error"]["ErrorType"] == CHECKPOINT_ERROR_TYPE
