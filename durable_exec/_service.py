"""The service client: the only module that talks to botocore and tenacity.

:class:`DurableService` is the small interface the rest of the SDK uses (two
calls: checkpoint and get-state). :class:`BotocoreDurableService` implements
it over any botocore-shaped ``lambda`` client: a real one, the user's own
(``boto3_client=``), or the in-process service of :mod:`durable_exec.testing`.

Every foreign error is translated here, once, into :class:`CheckpointError`
with the cause kept (``raise ... from exc``). Each error falls in one of three
classes:

* **transient** (throttling, 5xx, connection resets, timeouts): retried here
  with tenacity, jittered and bounded; if retries run out, the invocation is
  retried by Lambda;
* **retry the invocation** (a stale checkpoint token): re-raised at once so
  Lambda invokes the function again with a fresh token;
* **fail the execution** (other 4xx such as a payload over the size limit,
  KMS misconfiguration): retrying cannot help.

botocore and tenacity are imported on first use, so ``import durable_exec``
stays cheap on a cold start.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from durable_exec._clock import SYSTEM_CLOCK, Clock
from durable_exec._errors import (
    BAD_REQUEST_ERROR,
    INVALID_CHECKPOINT_TOKEN_PREFIX,
    INVALID_PARAMETER_VALUE_EXCEPTION,
    KMS_ERROR_CODES,
    SERVICE_ERROR,
    TOO_MANY_REQUESTS_ERROR,
    CheckpointError,
    DurableApiErrorCategory,
    is_stale_token,
    is_transient,
)
from durable_exec._version import __version__
from durable_exec._wire import Operation, OperationUpdate, WireFormatError

if TYPE_CHECKING:
    from mypy_boto3_lambda import LambdaClient

__all__ = [
    "BAD_REQUEST_ERROR",
    "INVALID_CHECKPOINT_TOKEN_PREFIX",
    "INVALID_PARAMETER_VALUE_EXCEPTION",
    "SERVICE_ERROR",
    "TOO_MANY_REQUESTS_ERROR",
    "BotocoreDurableService",
    "CheckpointResult",
    "DurableService",
    "ServiceRetryPolicy",
    "StatePage",
    "check_new_marker",
    "default_lambda_client",
    "page_in",
    "translate_error",
]


@dataclasses.dataclass(slots=True)
class CheckpointResult:
    """What a checkpoint call returned.

    Attributes:
        token: The next checkpoint token; ``None`` means the service revoked the chain.
        operations: Operations that changed since the previous checkpoint.
        next_marker: Set when more changed operations must be paged in.
    """

    token: str | None
    operations: list[Operation]
    next_marker: str | None = None


@dataclasses.dataclass(slots=True)
class StatePage:
    """One page of ``GetDurableExecutionState``."""

    operations: list[Operation]
    next_marker: str | None = None


class DurableService(Protocol):
    """The two calls an invocation makes to the durable-execution API."""

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate], client_token: str
    ) -> CheckpointResult:
        """Send one batch of updates; retried calls reuse ``client_token``."""
        ...

    def get_state(self, arn: str, token: str, marker: str | None) -> StatePage:
        """Fetch one page of the execution's operations."""
        ...


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceRetryPolicy:
    """Bounds of the in-process retries of transient API errors.

    Attributes:
        max_attempts: Calls in all, the first one included.
        initial_backoff: Upper bound of the first jittered back-off, in seconds.
        max_backoff: Upper bound of any one back-off, in seconds.
        max_retry_after: Longest ``Retry-After`` the SDK honours, in seconds.
    """

    max_attempts: int = 5
    initial_backoff: float = 0.1
    max_backoff: float = 2.0
    max_retry_after: float = 5.0


def _error_details(exc: BaseException) -> tuple[str | None, int | None, str, float | None]:
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None, str(exc), None
    error = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    code = error.get("Code")
    status = meta.get("HTTPStatusCode")
    message = error.get("Message") or error.get("message") or str(exc)
    headers = meta.get("HTTPHeaders") or {}
    retry_after: float | None = None
    raw_after = headers.get("retry-after")
    if raw_after is not None:
        try:
            retry_after = max(0.0, float(raw_after))
        except (TypeError, ValueError):
            retry_after = None
    return code, status if isinstance(status, int) else None, str(message), retry_after


def _is_transient(exc: BaseException) -> bool:
    code, status, _, _ = _error_details(exc)
    if code is None and status is None:
        return _is_connection_error(exc)
    return is_transient(code, status)


def _response_parts(exc: BaseException) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """The ``Error`` and ``ResponseMetadata`` members of a botocore error's response."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, None
    error, meta = response.get("Error"), response.get("ResponseMetadata")
    return (
        error if isinstance(error, dict) else None,
        meta if isinstance(meta, dict) else None,
    )


def _is_connection_error(exc: BaseException) -> bool:
    from botocore import exceptions as bexc  # noqa: PLC0415 - botocore loads on first use

    return isinstance(
        exc,
        bexc.ConnectionError | bexc.HTTPClientError | bexc.ReadTimeoutError | ConnectionError,
    )


def _is_param_validation_error(exc: BaseException) -> bool:
    from botocore import exceptions as bexc  # noqa: PLC0415 - botocore loads on first use

    return isinstance(exc, bexc.ParamValidationError)


def translate_error(exc: BaseException, operation: str) -> CheckpointError:
    """Translate a botocore (or transport) error into a :class:`CheckpointError`.

    Args:
        exc: What botocore raised.
        operation: The API operation, for the message.

    Returns:
        A retryable error (Lambda retries the invocation) for throttling, 5xx,
        connection errors and stale tokens; a non-retryable one (the execution
        fails) for KMS errors, other 4xx and requests botocore's own parameter
        validation refuses.
    """
    code, status, message, _ = _error_details(exc)
    if code is None and status is None:
        if _is_param_validation_error(exc):
            return CheckpointError(
                f"{operation} was refused by botocore before sending: {exc}. "
                "The request cannot succeed as sent; the execution fails.",
                DurableApiErrorCategory.EXECUTION,
            )
        return CheckpointError(
            f"{operation} failed: {type(exc).__name__}: {exc}. Lambda will retry the invocation.",
            DurableApiErrorCategory.INVOCATION,
        )
    error, meta = _response_parts(exc)
    # Service messages often end with a full stop; ours follow with another sentence.
    where = f"{operation} failed with {code or 'an error'} (HTTP {status}): {message.rstrip('. ')}"
    if code in KMS_ERROR_CODES:
        text = f"{where}. Check the execution's KMS key and its key policy; the execution fails."
        category = DurableApiErrorCategory.EXECUTION
    elif is_stale_token(code, message):
        text = (
            f"{where}. Another invocation owns the checkpoint token chain; "
            "Lambda will retry this invocation with a fresh token."
        )
        category = DurableApiErrorCategory.INVOCATION
    elif _is_transient(exc):
        text = f"{where}. Retries ran out; Lambda will retry the invocation."
        category = DurableApiErrorCategory.INVOCATION
    else:
        text = f"{where}. The request cannot succeed as sent; the execution fails."
        category = DurableApiErrorCategory.EXECUTION
    return CheckpointError(text, category, error, meta, error_code=code, status_code=status)


_client_lock = threading.Lock()
_default_client: Any = None  # guarded by _client_lock


def default_lambda_client() -> LambdaClient:
    """Return the process-wide botocore ``lambda`` client, creating it on first use.

    It honours the standard botocore configuration (``AWS_DEFAULT_REGION`` or the
    profile's region, ``AWS_ENDPOINT_URL_LAMBDA``, credentials chain) and, as
    Lambda's runtime and the other AWS SDKs do, ``AWS_REGION``, which wins when
    set. botocore's own retries are off: transient errors are retried in one
    layer only, by this module.
    """
    global _default_client  # noqa: PLW0603 - one client per process, reused across warm starts
    with _client_lock:
        if _default_client is None:
            import botocore.config  # noqa: PLC0415
            import botocore.session  # noqa: PLC0415

            session = botocore.session.get_session()
            _default_client = session.create_client(
                "lambda",
                # botocore itself reads only AWS_DEFAULT_REGION; None keeps its chain.
                region_name=os.environ.get("AWS_REGION") or None,
                config=botocore.config.Config(
                    retries={"total_max_attempts": 1, "mode": "standard"},
                    connect_timeout=5,
                    read_timeout=50,
                    user_agent_extra=f"durable-exec/{__version__}",
                ),
            )
        return _default_client  # type: ignore[no-any-return]


def new_client_token() -> str:
    """Return a fresh idempotency token for one checkpoint batch."""
    return os.urandom(16).hex()


class BotocoreDurableService:
    """:class:`DurableService` over a botocore-shaped ``lambda`` client.

    Args:
        client: A botocore/boto3 ``lambda`` client, or anything with the same
            ``checkpoint_durable_execution`` and ``get_durable_execution_state``
            methods.
        clock: Used for back-off pauses (a virtual clock skips them).
        retry_policy: Bounds of transient-error retries.
        deadline: Returns the seconds left in this invocation; retries stop
            when the next back-off would not fit.
    """

    def __init__(
        self,
        client: Any,
        *,
        clock: Clock = SYSTEM_CLOCK,
        retry_policy: ServiceRetryPolicy | None = None,
        deadline: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._clock = clock
        self._policy = retry_policy or ServiceRetryPolicy()
        self._deadline = deadline
        self._retrying: Any = None

    @property
    def max_call_seconds(self) -> float | None:
        """The longest one API call can take, retries and back-offs included.

        Read from a botocore client's configuration (connect and read timeouts,
        botocore's own attempts) and this service's retry policy; ``None`` for a
        client that does not say (no ``meta.config``). The checkpointer lets a
        caller send its own batch only while more time than this is left.
        """
        config = getattr(getattr(self._client, "meta", None), "config", None)
        if config is None:
            return None
        connect = _timeout(getattr(config, "connect_timeout", None))
        read = _timeout(getattr(config, "read_timeout", None))
        retries = getattr(config, "retries", None)
        attempts = _botocore_attempts(retries if isinstance(retries, Mapping) else {})
        policy = self._policy
        pauses = (policy.max_attempts - 1) * max(policy.max_backoff, policy.max_retry_after)
        return policy.max_attempts * attempts * (connect + read) + pauses

    def _call(self, operation: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        # Fast path: the first attempt runs without tenacity, whose per-call
        # bookkeeping costs more than the rest of a step (see BENCHMARKS.md).
        try:
            return fn()
        except BaseException as exc:
            first_failure: BaseException | None = exc
        # Slow path: replay that failure as tenacity's first attempt, so retries,
        # back-offs and stop rules are exactly those of the policy.
        if self._retrying is None:
            self._retrying = self._build_retrying()

        def attempt() -> dict[str, Any]:
            nonlocal first_failure
            if first_failure is not None:
                failure, first_failure = first_failure, None
                raise failure
            return fn()

        try:
            return self._retrying(attempt)  # type: ignore[no-any-return]
        except CheckpointError:
            raise
        except Exception as exc:
            raise translate_error(exc, operation) from exc

    def _build_retrying(self) -> Any:
        import tenacity  # noqa: PLC0415 - loaded on the first failed API call

        policy = self._policy
        jitter = tenacity.wait_random_exponential(
            multiplier=policy.initial_backoff, max=policy.max_backoff
        )

        def wait(state: tenacity.RetryCallState) -> float:
            outcome = state.outcome
            if outcome is not None and outcome.failed:
                _, _, _, retry_after = _error_details(outcome.exception())  # type: ignore[arg-type]
                if retry_after is not None:
                    return min(retry_after, policy.max_retry_after)
            return float(jitter(state))

        deadline = self._deadline

        class OutOfTime(tenacity.stop.stop_base):
            """Stop when the next back-off would not fit in the invocation."""

            def __call__(self, state: tenacity.RetryCallState) -> bool:
                if deadline is None:
                    return False
                return deadline() <= (state.upcoming_sleep or 0.0) + 1.0

        return tenacity.Retrying(
            stop=tenacity.stop_any(tenacity.stop_after_attempt(policy.max_attempts), OutOfTime()),
            wait=wait,
            retry=tenacity.retry_if_exception(_is_transient),
            sleep=self._clock.sleep,
            reraise=True,
        )

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate], client_token: str
    ) -> CheckpointResult:
        """Send one batch; see :class:`DurableService`."""
        wire_updates = [u.to_wire() for u in updates]

        def call() -> dict[str, Any]:
            response: dict[str, Any] = self._client.checkpoint_durable_execution(
                DurableExecutionArn=arn,
                CheckpointToken=token,
                Updates=wire_updates,
                ClientToken=client_token,
            )
            return response

        response = self._call("CheckpointDurableExecution", call)
        try:
            state = _member(response, "NewExecutionState", Mapping) or {}
            operations = _operations(state)
            # A token or marker of another type would make the next call fail
            # botocore's validation, which fails the execution: refuse it here.
            next_token: str | None = _member(response, "CheckpointToken", str) or None
            next_marker: str | None = _member(state, "NextMarker", str) or None
        except (WireFormatError, AttributeError, TypeError) as exc:
            raise CheckpointError(
                f"CheckpointDurableExecution returned a response this SDK cannot read: {exc}",
                retryable=True,
            ) from exc
        return CheckpointResult(token=next_token, operations=operations, next_marker=next_marker)

    def get_state(self, arn: str, token: str, marker: str | None) -> StatePage:
        """Fetch one page of state; see :class:`DurableService`."""
        kwargs: dict[str, Any] = {
            "DurableExecutionArn": arn,
            "CheckpointToken": token,
            "MaxItems": 1000,
        }
        if marker:
            kwargs["Marker"] = marker

        def call() -> dict[str, Any]:
            response: dict[str, Any] = self._client.get_durable_execution_state(**kwargs)
            return response

        response = self._call("GetDurableExecutionState", call)
        try:
            # Operations is a required member: a page without it would silently drop
            # operations, and the SDK would then start them again.
            if _member(response, "Operations", list) is None:
                raise TypeError("the required member Operations is missing")
            operations = _operations(response)
            next_marker: str | None = _member(response, "NextMarker", str) or None
        except (WireFormatError, AttributeError, TypeError) as exc:
            raise CheckpointError(
                f"GetDurableExecutionState returned a response this SDK cannot read: {exc}",
                retryable=True,
            ) from exc
        return StatePage(operations=operations, next_marker=next_marker)


def _timeout(value: Any) -> float:
    """A botocore timeout in seconds (its default, 60, when unset or unreadable)."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return 60.0


def _botocore_attempts(retries: Mapping[str, Any]) -> int:
    """Attempts botocore itself makes per call, from a client's ``retries`` setting."""
    total = retries.get("total_max_attempts")
    if isinstance(total, int) and total > 0:
        return total
    extra = retries.get("max_attempts")
    if isinstance(extra, int) and extra >= 0:
        return extra + 1
    return 5 if retries.get("mode", "legacy") == "legacy" else 3


def _member(container: Any, name: str, kind: type) -> Any:
    """Return ``container[name]`` (``None`` if absent or null), checking its type.

    Raises:
        TypeError: ``container`` is not an object, or the member is of another type.
    """
    # type() checks first: botocore returns plain dicts and lists, and an ABC's
    # isinstance costs several times more on this per-call path.
    if type(container) is not dict and not isinstance(container, Mapping):
        raise TypeError(f"expected a JSON object, got {type(container).__name__}")
    value = container.get(name)
    if (
        value is not None
        and type(value) is not kind
        and not (type(value) is dict and kind is Mapping)
        and not isinstance(value, kind)
    ):
        raise TypeError(f"{name} must be a {kind.__name__}, got {type(value).__name__}")
    return value


def _operations(container: Mapping[str, Any]) -> list[Operation]:
    return [Operation.from_wire(o) for o in _member(container, "Operations", list) or ()]


def page_in(
    service: DurableService, arn: str, token: str, marker: str | None, operation: str
) -> list[Operation]:
    """Follow ``NextMarker`` from ``marker`` to the last page; return the operations paged in.

    Args:
        service: Where ``GetDurableExecutionState`` is called.
        arn: The execution.
        token: The current checkpoint token.
        marker: The first marker to follow (``None`` or empty: nothing to page in).
        operation: The call whose response held ``marker``, for the error message.

    Raises:
        CheckpointError: A call failed, or a marker repeated (it would never end).
    """
    operations: list[Operation] = []
    seen: set[str] = set()
    while marker:
        check_new_marker(marker, seen, operation)
        page = service.get_state(arn, token, marker)
        operations.extend(page.operations)
        marker = page.next_marker
    return operations


def check_new_marker(marker: str, seen: set[str], operation: str) -> None:
    """Refuse a ``NextMarker`` already followed in this paging loop (it would never end).

    Raises:
        CheckpointError: The marker repeats (retryable: Lambda invokes again).
    """
    if marker in seen:
        raise CheckpointError(
            f"{operation} returned NextMarker {marker!r} a second time while paging; "
            "following it would never end. Lambda will retry the invocation.",
            retryable=True,
        )
    seen.add(marker)
