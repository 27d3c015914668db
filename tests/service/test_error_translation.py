"""translate_error: how botocore's errors become CheckpointErrors at the one boundary."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import botocore.session
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)
from botocore.stub import Stubber

from durable_exec._errors import CheckpointError, DurableApiErrorCategory
from durable_exec._service import BotocoreDurableService, ServiceRetryPolicy, translate_error
from durable_exec.testing import VirtualClock

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/exec1"
ENDPOINT = "https://lambda.us-east-1.amazonaws.com"
OPERATION = "CheckpointDurableExecution"

TRANSIENT_ADVICE = "Lambda will retry the invocation"
STALE_ADVICE = "Lambda will retry this invocation with a fresh token"
KMS_ADVICE = "Check the execution's KMS key"
FAIL_ADVICE = "the execution fails"


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


def _call(client: Any) -> Any:
    return client.checkpoint_durable_execution(
        DurableExecutionArn=ARN, CheckpointToken="tok0", Updates=[], ClientToken="ct-1"
    )


def _add_error(
    stubber: Stubber,
    code: str,
    status: int,
    message: str,
    retry_after: str | None = None,
) -> None:
    stubber.add_client_error(
        "checkpoint_durable_execution",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
        response_meta={"HTTPHeaders": {"retry-after": retry_after}} if retry_after else None,
    )


def _client_error(
    client: Any, stubber: Stubber, code: str, status: int, message: str, retry_after: str | None
) -> ClientError:
    """Have botocore raise the ClientError a service answer would produce."""
    _add_error(stubber, code, status, message, retry_after)
    with pytest.raises(ClientError) as info:
        _call(client)
    return info.value


CLIENT_ERRORS = [
    ("TooManyRequestsException", 429, "Rate exceeded", None, True, TRANSIENT_ADVICE),
    ("TooManyRequestsException", 429, "Rate exceeded", "2", True, TRANSIENT_ADVICE),
    ("ServiceException", 500, "Internal failure", None, True, TRANSIENT_ADVICE),
    ("BadGateway", 502, "Bad gateway", None, True, TRANSIENT_ADVICE),
    ("ServiceUnavailable", 503, "Service unavailable", None, True, TRANSIENT_ADVICE),
    ("KMSAccessDeniedException", 502, "Access denied to key", None, False, KMS_ADVICE),
    ("KMSDisabledException", 502, "Key is disabled", None, False, KMS_ADVICE),
    ("KMSInvalidStateException", 502, "Key pending deletion", None, False, KMS_ADVICE),
    ("KMSNotFoundException", 502, "Key not found", None, False, KMS_ADVICE),
    (
        "InvalidParameterValueException",
        400,
        "Invalid checkpoint token: the token was already used",
        None,
        True,
        STALE_ADVICE,
    ),
    (
        "InvalidParameterValueException",
        400,
        "invalid checkpoint token",
        None,
        True,
        STALE_ADVICE,
    ),
    (
        "InvalidParameterValueException",
        400,
        "Payload size exceeds the maximum allowed size of 262144 bytes",
        None,
        False,
        FAIL_ADVICE,
    ),
    ("ResourceNotFoundException", 404, "Execution not found", None, False, FAIL_ADVICE),
    ("ResourceConflictException", 409, "Execution is not running", None, False, FAIL_ADVICE),
]


class TestClientErrors:
    """Service errors, as botocore raises them, map to the three outcomes."""

    @pytest.mark.parametrize(
        ("code", "status", "message", "retry_after", "retryable", "advice"), CLIENT_ERRORS
    )
    def test_retryable_flag(
        self,
        client: Any,
        stubber: Stubber,
        code: str,
        status: int,
        message: str,
        retry_after: str | None,
        retryable: bool,
        advice: str,
    ) -> None:
        """Each service error is classified as retryable or not as the protocol requires."""
        error = translate_error(
            _client_error(client, stubber, code, status, message, retry_after), OPERATION
        )
        assert isinstance(error, CheckpointError)
        assert error.is_retryable() is retryable

    @pytest.mark.parametrize(
        ("code", "status", "message", "retry_after", "retryable", "advice"), CLIENT_ERRORS
    )
    def test_message_says_what_to_do(
        self,
        client: Any,
        stubber: Stubber,
        code: str,
        status: int,
        message: str,
        retry_after: str | None,
        retryable: bool,
        advice: str,
    ) -> None:
        """The message names the call, code, status and service text, then says what to do."""
        text = str(
            translate_error(
                _client_error(client, stubber, code, status, message, retry_after), OPERATION
            )
        )
        assert OPERATION in text
        assert code in text
        assert f"HTTP {status}" in text
        assert message in text
        assert advice in text

    @pytest.mark.parametrize(
        ("code", "status", "message", "retry_after", "retryable", "advice"), CLIENT_ERRORS
    )
    def test_code_and_status_kept(
        self,
        client: Any,
        stubber: Stubber,
        code: str,
        status: int,
        message: str,
        retry_after: str | None,
        retryable: bool,
        advice: str,
    ) -> None:
        """The service's error code and HTTP status are kept as attributes."""
        error = translate_error(
            _client_error(client, stubber, code, status, message, retry_after), OPERATION
        )
        assert (error.error_code, error.status_code) == (code, status)

    @pytest.mark.parametrize(
        ("code", "status", "message", "retry_after", "retryable", "advice"), CLIENT_ERRORS
    )
    def test_service_response_kept_for_logging(
        self,
        client: Any,
        stubber: Stubber,
        code: str,
        status: int,
        message: str,
        retry_after: str | None,
        retryable: bool,
        advice: str,
    ) -> None:
        """The service's Error and ResponseMetadata are kept, and given as logging extras."""
        exc = _client_error(client, stubber, code, status, message, retry_after)
        error = translate_error(exc, OPERATION)
        assert error.error == exc.response["Error"]
        assert error.build_logger_extras()["ResponseMetadata"]["HTTPStatusCode"] == status
        assert error.error_category is (
            DurableApiErrorCategory.INVOCATION if retryable else DurableApiErrorCategory.EXECUTION
        )

    def test_stale_token_needs_the_prefix(self, client: Any, stubber: Stubber) -> None:
        """A message that only mentions a checkpoint token later on is not a stale token."""
        error = translate_error(
            _client_error(
                client,
                stubber,
                "InvalidParameterValueException",
                400,
                "Updates[0]: Invalid checkpoint token usage",
                None,
            ),
            OPERATION,
        )
        assert not error.is_retryable()


CONNECTION_ERRORS: list[Callable[..., Exception]] = [
    EndpointConnectionError,
    ReadTimeoutError,
    ConnectionClosedError,
]


class TestConnectionErrors:
    """Transport errors have no HTTP answer and are always retryable."""

    @pytest.mark.parametrize("error_type", CONNECTION_ERRORS)
    def test_retryable(self, error_type: Callable[..., Exception]) -> None:
        """A connection-level error becomes a retryable CheckpointError."""
        error = translate_error(error_type(endpoint_url=ENDPOINT), OPERATION)
        assert error.is_retryable()

    @pytest.mark.parametrize("error_type", CONNECTION_ERRORS)
    def test_message(self, error_type: Callable[..., Exception]) -> None:
        """The message names the call and the transport error, and says Lambda will retry."""
        text = str(translate_error(error_type(endpoint_url=ENDPOINT), OPERATION))
        assert OPERATION in text
        assert getattr(error_type, "__name__", "?") in text
        assert ENDPOINT in text
        assert TRANSIENT_ADVICE in text

    @pytest.mark.parametrize("error_type", CONNECTION_ERRORS)
    def test_no_code_or_status(self, error_type: Callable[..., Exception]) -> None:
        """A transport error carries no service error code or HTTP status."""
        error = translate_error(error_type(endpoint_url=ENDPOINT), OPERATION)
        assert (error.error_code, error.status_code) == (None, None)


class TestParamValidation:
    """A request botocore refuses before sending can never succeed."""

    def test_not_retryable(self) -> None:
        """botocore's ParamValidationError becomes a non-retryable CheckpointError."""
        error = translate_error(ParamValidationError(report="WaitSeconds below 1"), OPERATION)
        assert not error.is_retryable()

    def test_message(self) -> None:
        """The message names the call, botocore's report and the outcome."""
        text = str(translate_error(ParamValidationError(report="WaitSeconds below 1"), OPERATION))
        assert OPERATION in text
        assert "WaitSeconds below 1" in text
        assert FAIL_ADVICE in text


class TestCauseIsKept:
    """Errors raised through the service client keep the botocore error as ``__cause__``."""

    @pytest.mark.parametrize(
        ("code", "status", "message"),
        [
            ("KMSDisabledException", 502, "Key is disabled"),
            ("InvalidParameterValueException", 400, "Invalid checkpoint token"),
            ("InvalidParameterValueException", 400, "Payload too large"),
            ("ServiceException", 500, "Internal failure"),
        ],
    )
    def test_client_error_cause(
        self, client: Any, stubber: Stubber, code: str, status: int, message: str
    ) -> None:
        """The CheckpointError's cause is the ClientError botocore raised."""
        service = BotocoreDurableService(
            client, clock=VirtualClock(), retry_policy=ServiceRetryPolicy(max_attempts=1)
        )
        _add_error(stubber, code, status, message)
        with pytest.raises(CheckpointError) as info:
            service.checkpoint(ARN, "tok0", [], "ct-1")
        cause = info.value.__cause__
        assert isinstance(cause, ClientError)
        assert cause.response["Error"]["Code"] == code

    @pytest.mark.parametrize("error_type", CONNECTION_ERRORS)
    def test_connection_error_cause(
        self, client: Any, stubber: Stubber, error_type: Callable[..., Exception]
    ) -> None:
        """The CheckpointError's cause is the transport error botocore raised."""

        def fail(**_: Any) -> None:
            raise error_type(endpoint_url=ENDPOINT)

        # The queued answer is never reached: the transport fails before it.
        stubber.add_response(
            "checkpoint_durable_execution", {"CheckpointToken": "tok1", "NewExecutionState": {}}
        )
        client.meta.events.register_first(
            "before-parameter-build.lambda.CheckpointDurableExecution", fail
        )
        service = BotocoreDurableService(
            client, clock=VirtualClock(), retry_policy=ServiceRetryPolicy(max_attempts=2)
        )
        with pytest.raises(CheckpointError) as info:
            service.checkpoint(ARN, "tok0", [], "ct-1")
        assert type(info.value.__cause__) is error_type
