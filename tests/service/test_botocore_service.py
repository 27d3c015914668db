"""BotocoreDurableService against a real botocore lambda client, stubbed with Stubber."""

from __future__ import annotations

import datetime
import time
from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from durable_exec._errors import CheckpointError
from durable_exec._service import (
    BotocoreDurableService,
    CheckpointResult,
    ServiceRetryPolicy,
    StatePage,
    default_lambda_client,
)
from durable_exec._wire import (
    ErrorObject,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
    WireFormatError,
)
from durable_exec.testing import VirtualClock

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/exec1"
STEP_ID = "1ced8f5be2db23a6513eba4d819c73806424748a7bc6fa0d792cc1c7d1775a97"
CLIENT_TOKEN = "client-token-1"
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
T0_EPOCH = 1767225600.0
ENDPOINT = "https://lambda.us-east-1.amazonaws.com"

STEP_UPDATES = [
    OperationUpdate(
        id=STEP_ID,
        type=OperationType.STEP,
        action=OperationAction.START,
        name="charge",
        sub_type="Step",
    ),
    OperationUpdate(
        id=STEP_ID,
        type=OperationType.STEP,
        action=OperationAction.SUCCEED,
        name="charge",
        sub_type="Step",
        payload='{"ok": true}',
    ),
]
STEP_WIRE = [
    {"Id": STEP_ID, "Type": "STEP", "Action": "START", "Name": "charge", "SubType": "Step"},
    {
        "Id": STEP_ID,
        "Type": "STEP",
        "Action": "SUCCEED",
        "Name": "charge",
        "SubType": "Step",
        "Payload": '{"ok": true}',
    },
]


class CountingClient:
    """Counts the checkpoint calls reaching the (stubbed) botocore client."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls = 0

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        response: dict[str, Any] = self._client.checkpoint_durable_execution(**kwargs)
        return response


def _checkpoint_params(token: str = "tok0", updates: list[Any] | None = None) -> dict[str, Any]:
    return {
        "DurableExecutionArn": ARN,
        "CheckpointToken": token,
        "Updates": STEP_WIRE if updates is None else updates,
        "ClientToken": CLIENT_TOKEN,
    }


def _checkpoint_response(
    token: str | None = "tok1", operations: list[Any] | None = None, marker: str | None = None
) -> dict[str, Any]:
    state: dict[str, Any] = {"Operations": operations or []}
    if marker is not None:
        state["NextMarker"] = marker
    response: dict[str, Any] = {"NewExecutionState": state}
    if token is not None:
        response["CheckpointToken"] = token
    return response


def _step_operation(op_id: str = STEP_ID, status: str = "SUCCEEDED") -> dict[str, Any]:
    return {
        "Id": op_id,
        "Type": "STEP",
        "SubType": "Step",
        "Name": "charge",
        "Status": status,
        "StartTimestamp": T0,
        "EndTimestamp": T0 + datetime.timedelta(seconds=2),
        "StepDetails": {"Attempt": 1, "Result": '{"ok": true}'},
    }


def _add_error(
    stubber: Stubber,
    code: str,
    status: int,
    message: str = "",
    *,
    method: str = "checkpoint_durable_execution",
    expected_params: dict[str, Any] | None = None,
    retry_after: str | None = None,
) -> None:
    stubber.add_client_error(
        method,
        service_error_code=code,
        service_message=message,
        http_status_code=status,
        expected_params=expected_params,
        response_meta={"HTTPHeaders": {"retry-after": retry_after}} if retry_after else None,
        modeled_fields={"retryAfterSeconds": retry_after} if retry_after else None,
    )


def _fail_transport(
    client: Any, operation: str, times: int, error: Callable[[], Exception]
) -> None:
    """Make the next ``times`` calls of ``operation`` fail before reaching the stub."""
    remaining = [times]

    def fail(**_: Any) -> None:
        if remaining[0] > 0:
            remaining[0] -= 1
            raise error()

    client.meta.events.register_first(f"before-parameter-build.lambda.{operation}", fail)


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
    """An active Stubber on ``client``."""
    with Stubber(client) as stub:
        yield stub


@pytest.fixture
def service(client: Any, clock: VirtualClock) -> BotocoreDurableService:
    """The service client over the stubbed client, three attempts per call."""
    return BotocoreDurableService(
        client, clock=clock, retry_policy=ServiceRetryPolicy(max_attempts=3)
    )


class TestCheckpointRequest:
    """What CheckpointDurableExecution is sent."""

    def test_params(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """ARN, token, wire-form updates and the client token go out exactly as botocore expects."""
        stubber.add_response(
            "checkpoint_durable_execution", _checkpoint_response(), _checkpoint_params()
        )
        service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        stubber.assert_no_pending_responses()

    def test_empty_updates_poll(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """An empty batch is sent as an empty Updates list (a poll for changes)."""
        stubber.add_response(
            "checkpoint_durable_execution",
            _checkpoint_response(),
            _checkpoint_params(updates=[]),
        )
        service.checkpoint(ARN, "tok0", [], CLIENT_TOKEN)
        stubber.assert_no_pending_responses()

    @pytest.mark.parametrize(
        ("op_type", "action", "options", "member"),
        [
            (
                OperationType.CONTEXT,
                OperationAction.START,
                {"ReplayChildren": True},
                "ContextOptions",
            ),
            (
                OperationType.STEP,
                OperationAction.RETRY,
                {"NextAttemptDelaySeconds": 5},
                "StepOptions",
            ),
            (OperationType.WAIT, OperationAction.START, {"WaitSeconds": 30}, "WaitOptions"),
            (
                OperationType.CALLBACK,
                OperationAction.START,
                {"TimeoutSeconds": 60, "HeartbeatTimeoutSeconds": 10},
                "CallbackOptions",
            ),
            (
                OperationType.CHAINED_INVOKE,
                OperationAction.START,
                {"FunctionName": "other:$LATEST", "TenantId": "t1"},
                "ChainedInvokeOptions",
            ),
        ],
    )
    def test_options_member(
        self,
        service: BotocoreDurableService,
        stubber: Stubber,
        op_type: OperationType,
        action: OperationAction,
        options: dict[str, Any],
        member: str,
    ) -> None:
        """Each type's options travel under the member botocore's model names for it."""
        update = OperationUpdate(id="op-1", type=op_type, action=action, options=options)
        wire = {"Id": "op-1", "Type": op_type.value, "Action": action.value, member: options}
        stubber.add_response(
            "checkpoint_durable_execution",
            _checkpoint_response(),
            _checkpoint_params(updates=[wire]),
        )
        service.checkpoint(ARN, "tok0", [update], CLIENT_TOKEN)
        stubber.assert_no_pending_responses()

    def test_error_object(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """A FAIL update's error travels as an ErrorObject with only the fields that are set."""
        update = OperationUpdate(
            id="op-1",
            type=OperationType.STEP,
            action=OperationAction.FAIL,
            error=ErrorObject(message="boom", type="ValueError", stack_trace=["line 1"]),
        )
        wire = {
            "Id": "op-1",
            "Type": "STEP",
            "Action": "FAIL",
            "Error": {"ErrorMessage": "boom", "ErrorType": "ValueError", "StackTrace": ["line 1"]},
        }
        stubber.add_response(
            "checkpoint_durable_execution",
            _checkpoint_response(),
            _checkpoint_params(updates=[wire]),
        )
        service.checkpoint(ARN, "tok0", [update], CLIENT_TOKEN)
        stubber.assert_no_pending_responses()


class TestCheckpointRetries:
    """Transient errors are retried in-process; the rest are not."""

    @pytest.mark.parametrize(
        ("code", "status"),
        [
            ("ServiceException", 500),
            ("TooManyRequestsException", 429),
            ("ServiceUnavailable", 503),
        ],
    )
    def test_transient_then_success(
        self, service: BotocoreDurableService, stubber: Stubber, code: str, status: int
    ) -> None:
        """A transient error is retried with the same ClientToken and checkpoint token."""
        _add_error(stubber, code, status, expected_params=_checkpoint_params())
        stubber.add_response(
            "checkpoint_durable_execution", _checkpoint_response(), _checkpoint_params()
        )
        result = service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert result.token == "tok1"
        stubber.assert_no_pending_responses()

    @pytest.mark.parametrize(
        "error",
        [
            lambda: EndpointConnectionError(endpoint_url=ENDPOINT),
            lambda: ReadTimeoutError(endpoint_url=ENDPOINT),
        ],
    )
    def test_connection_error_then_success(
        self,
        client: Any,
        service: BotocoreDurableService,
        stubber: Stubber,
        error: Callable[[], Exception],
    ) -> None:
        """A connection error is retried and the same request then succeeds."""
        _fail_transport(client, "CheckpointDurableExecution", 2, error)
        stubber.add_response(
            "checkpoint_durable_execution", _checkpoint_response(), _checkpoint_params()
        )
        result = service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert result.token == "tok1"
        stubber.assert_no_pending_responses()

    def test_bounded(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """After max_attempts transient errors the call raises a retryable CheckpointError."""
        for _ in range(3):
            _add_error(stubber, "ServiceException", 500, "Internal failure")
        with pytest.raises(CheckpointError) as info:
            service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert info.value.is_retryable()
        cause = info.value.__cause__
        assert isinstance(cause, ClientError)
        assert cause.response["Error"]["Code"] == "ServiceException"
        stubber.assert_no_pending_responses()

    def test_default_bound(self, client: Any, stubber: Stubber, clock: VirtualClock) -> None:
        """The default policy makes five attempts in all."""
        service = BotocoreDurableService(client, clock=clock)
        for _ in range(ServiceRetryPolicy().max_attempts):
            _add_error(stubber, "ServiceException", 500)
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        with pytest.raises(CheckpointError):
            service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert ServiceRetryPolicy().max_attempts == 5
        with pytest.raises(AssertionError):
            stubber.assert_no_pending_responses()

    def test_retry_after_honoured(
        self, service: BotocoreDurableService, stubber: Stubber, clock: VirtualClock
    ) -> None:
        """A throttled call waits exactly the Retry-After seconds, on the injected clock."""
        start = clock.now()
        _add_error(stubber, "TooManyRequestsException", 429, "Rate exceeded", retry_after="3")
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert clock.now() - start == 3.0

    def test_retry_after_capped(
        self, service: BotocoreDurableService, stubber: Stubber, clock: VirtualClock
    ) -> None:
        """A Retry-After beyond max_retry_after is cut to max_retry_after."""
        start = clock.now()
        _add_error(stubber, "TooManyRequestsException", 429, retry_after="120")
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert clock.now() - start == ServiceRetryPolicy().max_retry_after

    def test_unreadable_retry_after(
        self, service: BotocoreDurableService, stubber: Stubber, clock: VirtualClock
    ) -> None:
        """A Retry-After that is not a number falls back to the jittered back-off."""
        start = clock.now()
        _add_error(
            stubber, "TooManyRequestsException", 429, retry_after="Wed, 21 Oct 2026 07:28:00 GMT"
        )
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert 0.0 <= clock.now() - start <= ServiceRetryPolicy().initial_backoff

    def test_backoff_is_virtual(self, client: Any, stubber: Stubber, clock: VirtualClock) -> None:
        """Back-off pauses advance the injected clock instead of sleeping for real."""
        policy = ServiceRetryPolicy(max_attempts=2, initial_backoff=60.0, max_backoff=60.0)
        service = BotocoreDurableService(client, clock=clock, retry_policy=policy)
        _add_error(stubber, "ServiceException", 500)
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        start, real_start = clock.now(), time.monotonic()
        service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert 0.0 < clock.now() - start <= 60.0
        assert time.monotonic() - real_start < 10.0

    def test_deadline_stops_retries(
        self, client: Any, stubber: Stubber, clock: VirtualClock
    ) -> None:
        """No retry is made when the next back-off would not fit in the invocation."""
        counting = CountingClient(client)
        service = BotocoreDurableService(counting, clock=clock, deadline=lambda: 0.5)
        _add_error(stubber, "ServiceException", 500)
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        with pytest.raises(CheckpointError) as info:
            service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert info.value.is_retryable()
        assert (info.value.error_code, info.value.status_code) == ("ServiceException", 500)
        assert counting.calls == 1
        with pytest.raises(AssertionError):
            stubber.assert_no_pending_responses()

    def test_retries_while_the_deadline_allows(
        self, client: Any, stubber: Stubber, clock: VirtualClock
    ) -> None:
        """With time left, the same transient failure is retried in-process and succeeds."""
        counting = CountingClient(client)
        service = BotocoreDurableService(counting, clock=clock, deadline=lambda: 100.0)
        _add_error(stubber, "ServiceException", 500)
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert counting.calls == 2
        stubber.assert_no_pending_responses()

    def test_stale_token_not_retried(
        self, service: BotocoreDurableService, stubber: Stubber, clock: VirtualClock
    ) -> None:
        """A stale token raises a retryable CheckpointError at once, without an in-process retry."""
        start = clock.now()
        _add_error(
            stubber, "InvalidParameterValueException", 400, "Invalid checkpoint token: consumed"
        )
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        with pytest.raises(CheckpointError) as info:
            service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert info.value.is_retryable()
        assert info.value.error_code == "InvalidParameterValueException"
        assert clock.now() == start
        with pytest.raises(AssertionError):
            stubber.assert_no_pending_responses()

    @pytest.mark.parametrize(
        ("code", "status", "message"),
        [
            ("InvalidParameterValueException", 400, "Payload exceeds 262144 bytes"),
            ("KMSAccessDeniedException", 502, "Access denied"),
        ],
    )
    def test_fatal_not_retried(
        self,
        service: BotocoreDurableService,
        stubber: Stubber,
        code: str,
        status: int,
        message: str,
    ) -> None:
        """A non-retryable error is raised after one attempt."""
        _add_error(stubber, code, status, message)
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        with pytest.raises(CheckpointError) as info:
            service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        assert not info.value.is_retryable()
        with pytest.raises(AssertionError):
            stubber.assert_no_pending_responses()

    def test_invalid_request_not_retried(
        self, client: Any, service: BotocoreDurableService, stubber: Stubber
    ) -> None:
        """A request botocore's validation refuses fails for good, without a retry."""
        validated: list[bool] = []
        client.meta.events.register(
            "before-parameter-build.lambda.CheckpointDurableExecution",
            lambda **_: validated.append(True),
        )
        update = OperationUpdate(
            id="w",
            type=OperationType.WAIT,
            action=OperationAction.START,
            options={"WaitSeconds": 0},
        )
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response())
        with pytest.raises(CheckpointError) as info:
            service.checkpoint(ARN, "tok0", [update], CLIENT_TOKEN)
        assert not info.value.is_retryable()
        assert isinstance(info.value.__cause__, ParamValidationError)
        assert validated == [True]


class TestCheckpointResponse:
    """How the CheckpointDurableExecution response is read."""

    def test_operations_parsed(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """NewExecutionState operations are parsed, datetimes becoming epoch seconds."""
        stubber.add_response(
            "checkpoint_durable_execution", _checkpoint_response(operations=[_step_operation()])
        )
        result = service.checkpoint(ARN, "tok0", STEP_UPDATES, CLIENT_TOKEN)
        [op] = result.operations
        assert (op.id, op.type, op.status) == (
            STEP_ID,
            OperationType.STEP,
            OperationStatus.SUCCEEDED,
        )
        assert (op.start_timestamp, op.end_timestamp) == (T0_EPOCH, T0_EPOCH + 2)
        assert (op.result, op.attempt, op.name, op.sub_type) == (
            '{"ok": true}',
            1,
            "charge",
            "Step",
        )

    def test_detail_timestamps(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """Timestamps inside details (wait end, next attempt) are parsed to epoch seconds."""
        wait = {
            "Id": "w",
            "Type": "WAIT",
            "Status": "STARTED",
            "StartTimestamp": T0,
            "WaitDetails": {"ScheduledEndTimestamp": T0 + datetime.timedelta(seconds=30)},
        }
        retry = {
            "Id": "s",
            "Type": "STEP",
            "Status": "PENDING",
            "StartTimestamp": T0,
            "StepDetails": {
                "Attempt": 2,
                "NextAttemptTimestamp": T0 + datetime.timedelta(seconds=5),
                "Error": {"ErrorType": "ValueError", "ErrorMessage": "no"},
            },
        }
        callback = {
            "Id": "c",
            "Type": "CALLBACK",
            "Status": "STARTED",
            "StartTimestamp": T0,
            "CallbackDetails": {"CallbackId": "Y2FsbGJhY2s="},
        }
        stubber.add_response(
            "checkpoint_durable_execution",
            _checkpoint_response(operations=[wait, retry, callback]),
        )
        ops = {o.id: o for o in service.checkpoint(ARN, "tok0", [], CLIENT_TOKEN).operations}
        assert ops["w"].scheduled_end_timestamp == T0_EPOCH + 30
        assert ops["s"].next_attempt_timestamp == T0_EPOCH + 5
        assert ops["s"].error == ErrorObject(message="no", type="ValueError")
        assert ops["c"].callback_id == "Y2FsbGJhY2s="

    def test_token(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """The response's CheckpointToken is returned as the next token."""
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response(token="tok9"))
        assert service.checkpoint(ARN, "tok0", [], CLIENT_TOKEN) == CheckpointResult(
            token="tok9", operations=[], next_marker=None
        )

    def test_missing_token(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """A response without CheckpointToken yields token None (the chain was revoked)."""
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response(token=None))
        assert service.checkpoint(ARN, "tok0", [], CLIENT_TOKEN).token is None

    def test_next_marker(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """NewExecutionState.NextMarker is surfaced for paging."""
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response(marker="m1"))
        assert service.checkpoint(ARN, "tok0", [], CLIENT_TOKEN).next_marker == "m1"

    def test_empty_marker_is_none(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """An empty NextMarker means there is nothing more to page."""
        stubber.add_response("checkpoint_durable_execution", _checkpoint_response(marker=""))
        assert service.checkpoint(ARN, "tok0", [], CLIENT_TOKEN).next_marker is None

    @pytest.mark.parametrize(
        "bad",
        [
            {"Id": "x", "Type": "BOGUS", "Status": "STARTED", "StartTimestamp": T0},
            {"Id": "x", "Type": "STEP", "Status": "WEIRD", "StartTimestamp": T0},
        ],
    )
    def test_malformed(
        self, service: BotocoreDurableService, stubber: Stubber, bad: dict[str, Any]
    ) -> None:
        """An unreadable operation gives a retryable CheckpointError, not a crash."""
        stubber.add_response(
            "checkpoint_durable_execution", _checkpoint_response(operations=[bad]), None
        )
        with pytest.raises(CheckpointError) as info:
            service.checkpoint(ARN, "tok0", [], CLIENT_TOKEN)
        assert info.value.is_retryable()
        assert "cannot read" in str(info.value)
        assert isinstance(info.value.__cause__, WireFormatError)


class TestGetState:
    """GetDurableExecutionState: request and pages."""

    def test_params_with_marker(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """The token, the marker and MaxItems=1000 are sent."""
        stubber.add_response(
            "get_durable_execution_state",
            {"Operations": []},
            {
                "DurableExecutionArn": ARN,
                "CheckpointToken": "tok0",
                "Marker": "m1",
                "MaxItems": 1000,
            },
        )
        service.get_state(ARN, "tok0", "m1")
        stubber.assert_no_pending_responses()

    def test_params_without_marker(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """Without a marker no Marker parameter is sent."""
        stubber.add_response(
            "get_durable_execution_state",
            {"Operations": []},
            {"DurableExecutionArn": ARN, "CheckpointToken": "tok0", "MaxItems": 1000},
        )
        service.get_state(ARN, "tok0", None)
        stubber.assert_no_pending_responses()

    def test_page_parsed(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """A page's operations are parsed and its NextMarker surfaced."""
        stubber.add_response(
            "get_durable_execution_state",
            {"Operations": [_step_operation()], "NextMarker": "m2"},
        )
        page = service.get_state(ARN, "tok0", "m1")
        assert isinstance(page, StatePage)
        assert [o.id for o in page.operations] == [STEP_ID]
        assert page.operations[0].start_timestamp == T0_EPOCH
        assert page.next_marker == "m2"

    def test_last_page(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """A page without NextMarker is the last one."""
        stubber.add_response("get_durable_execution_state", {"Operations": []})
        assert service.get_state(ARN, "tok0", "m1").next_marker is None

    def test_transient_retried(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """A transient error on get_state is retried with the same parameters."""
        params = {
            "DurableExecutionArn": ARN,
            "CheckpointToken": "tok0",
            "Marker": "m1",
            "MaxItems": 1000,
        }
        _add_error(
            stubber,
            "TooManyRequestsException",
            429,
            method="get_durable_execution_state",
            expected_params=params,
        )
        stubber.add_response("get_durable_execution_state", {"Operations": []}, params)
        service.get_state(ARN, "tok0", "m1")
        stubber.assert_no_pending_responses()

    def test_fatal_error(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """A ResourceNotFoundException is a non-retryable CheckpointError naming the call."""
        _add_error(
            stubber,
            "ResourceNotFoundException",
            404,
            "no such execution",
            method="get_durable_execution_state",
        )
        with pytest.raises(CheckpointError) as info:
            service.get_state(ARN, "tok0", None)
        assert not info.value.is_retryable()
        assert "GetDurableExecutionState" in str(info.value)

    def test_malformed(self, service: BotocoreDurableService, stubber: Stubber) -> None:
        """An unreadable page gives a retryable CheckpointError, not a crash."""
        stubber.add_response(
            "get_durable_execution_state",
            {
                "Operations": [
                    {"Id": "x", "Type": "BOGUS", "Status": "STARTED", "StartTimestamp": T0}
                ]
            },
        )
        with pytest.raises(CheckpointError) as info:
            service.get_state(ARN, "tok0", None)
        assert info.value.is_retryable()
        assert isinstance(info.value.__cause__, WireFormatError)


class TestDefaultClient:
    """The process-wide client the decorator uses when none is given."""

    def test_reused(self) -> None:
        """The same client is returned on every call (reused across warm invocations)."""
        assert default_lambda_client() is default_lambda_client()

    def test_botocore_retries_off(self) -> None:
        """botocore makes one attempt per call, so retries happen in one layer only."""
        config: Any = default_lambda_client().meta.config
        assert config.retries["total_max_attempts"] == 1

    def test_user_agent(self) -> None:
        """The user agent names the SDK."""
        config: Any = default_lambda_client().meta.config
        assert "durable-exec/" in config.user_agent_extra

    @pytest.mark.parametrize(
        ("env", "expected"),
        [
            ({"AWS_REGION": "eu-west-3"}, "eu-west-3"),
            ({"AWS_DEFAULT_REGION": "ap-south-1"}, "ap-south-1"),
            ({"AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-3"}, "eu-west-3"),
        ],
        ids=["only-AWS_REGION", "only-AWS_DEFAULT_REGION", "both"],
    )
    def test_region_from_environment(
        self, monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: str
    ) -> None:
        """The client's region comes from AWS_REGION, or else from AWS_DEFAULT_REGION."""
        from durable_exec import _service

        monkeypatch.delenv("AWS_REGION", raising=False)
        monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
        monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setattr(_service, "_default_client", None)
        assert default_lambda_client().meta.region_name == expected
