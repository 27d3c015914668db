"""FaultInjectingClient: a botocore-shaped ``lambda`` client that fails on schedule.

Wrap any botocore-shaped client (a real one, a ``Stubber``-ed one, or
:class:`LocalDurableService`) and tell it which calls should fail and how. It
produces the faults the durable-execution API and its transport really
produce: throttling with and without ``Retry-After``, 5xx, connection resets,
read timeouts, a stale checkpoint token, a response that lost its
``CheckpointToken``, KMS errors, a state page that fails half-way through
paging, arbitrary rewritten responses, and crashes of the calling process
before or after the service applied a call. Every call and every injected
fault is recorded, so a test can say exactly what happened.

A fault is a :class:`Fault`; a schedule is one or more :meth:`~FaultInjectingClient.inject`
calls (the k-th call of an operation, every call matching a predicate, N
calls in a row). Everything the client does not intercept is forwarded, so a
fault-injecting wrapper around a :class:`LocalDurableService` can be handed to
:class:`DurableTestRunner` as its ``service``.

Example:
    >>> from durable_exec.testing import Fault, FaultInjectingClient, LocalDurableService
    >>> client = FaultInjectingClient(LocalDurableService())
    >>> rule = client.inject(
    ...     Fault.throttle(retry_after=2), operation=FaultInjectingClient.CHECKPOINT, at=3
    ... )
    >>> rule = client.inject(Fault.crash(after_forwarding=True), at=7)
    >>> # DurableTestRunner(handler, service=client).run(...), then read client.injections
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Final

from durable_exec.testing._runner import SimulatedCrash

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

__all__ = [
    "CHECKPOINT",
    "GET_STATE",
    "SDK_OPERATIONS",
    "ApiCall",
    "Fault",
    "FaultInjectingClient",
    "FaultRule",
    "Injection",
]

CHECKPOINT: Final = "CheckpointDurableExecution"
"""The API operation an invocation uses to checkpoint."""
GET_STATE: Final = "GetDurableExecutionState"
"""The API operation an invocation uses to page in the execution's operations."""
SDK_OPERATIONS: Final = (CHECKPOINT, GET_STATE)
"""The two operations a durable function calls; intercepted by default."""

_METHODS: Final = {
    CHECKPOINT: "checkpoint_durable_execution",
    GET_STATE: "get_durable_execution_state",
    "GetDurableExecution": "get_durable_execution",
    "GetDurableExecutionHistory": "get_durable_execution_history",
    "ListDurableExecutionsByFunction": "list_durable_executions_by_function",
    "SendDurableExecutionCallbackSuccess": "send_durable_execution_callback_success",
    "SendDurableExecutionCallbackFailure": "send_durable_execution_callback_failure",
    "SendDurableExecutionCallbackHeartbeat": "send_durable_execution_callback_heartbeat",
    "StopDurableExecution": "stop_durable_execution",
}
_OPERATIONS_BY_METHOD: Final = {method: op for op, method in _METHODS.items()}
_ENDPOINT: Final = "https://lambda.us-east-1.amazonaws.com"
_LOWER_CASE_MESSAGE: Final = frozenset(
    {"InvalidParameterValueException", "ResourceConflictException", "TooManyRequestsException"}
)


@dataclasses.dataclass(frozen=True, slots=True)
class ApiCall:
    """One intercepted call.

    Attributes:
        index: Position among all intercepted calls of the client, from 1.
        operation: The API operation, e.g. ``CheckpointDurableExecution``.
        operation_index: Position among the client's calls of ``operation``, from 1.
        kwargs: The call's keyword arguments (as passed; do not mutate).
    """

    index: int
    operation: str
    operation_index: int
    kwargs: Mapping[str, Any]

    @property
    def updates(self) -> list[Mapping[str, Any]]:
        """The ``Updates`` of a checkpoint call (empty for anything else)."""
        return list(self.kwargs.get("Updates") or ())


@dataclasses.dataclass(frozen=True, slots=True)
class Injection:
    """A fault the client injected.

    Attributes:
        call: The call that received it.
        fault: The fault's name (see :attr:`Fault.name`).
        forwarded: Whether the wrapped client handled the call before the fault struck.
    """

    call: ApiCall
    fault: str
    forwarded: bool


def _client_error(
    code: str,
    message: str,
    operation: str,
    status: int,
    headers: Mapping[str, str] | None = None,
) -> ClientError:
    """Build the ``ClientError`` botocore raises for an error response."""
    from botocore.exceptions import ClientError

    all_headers = {"x-amzn-errortype": code, "content-type": "application/json"}
    all_headers.update(headers or {})
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "HTTPStatusCode": status,
            "HTTPHeaders": all_headers,
            "RetryAttempts": 0,
        },
        "Type": "User" if status < 500 else "Service",
        ("message" if code in _LOWER_CASE_MESSAGE else "Message"): message,
    }
    # botocore's error factory makes one ClientError subclass per modelled code.
    error_class: type[ClientError] = type(code, (ClientError,), {})
    return error_class(response, operation)  # type: ignore[arg-type]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Fault:
    """One fault, built with a named constructor (:meth:`throttle`, :meth:`crash`...).

    A fault acts in up to three places around the wrapped call: ``before`` runs
    first (e.g. to advance a clock), ``error`` is raised instead of forwarding
    (or, with ``after_forwarding``, after the wrapped client has handled the
    call and its response is lost), and ``transform`` rewrites the response
    the caller receives.

    Attributes:
        name: A short label, recorded in :attr:`FaultInjectingClient.injections`.
        error: Builds the exception to raise, given the API operation name.
        after_forwarding: Raise ``error`` only after forwarding the call.
        transform: Rewrites the response (a fresh copy) before the caller sees it.
        before: Runs before anything else, with the call.
        revoke: Also revoke the execution's token on the wrapped client, if it
            can (:meth:`LocalDurableService.revoke_token`), as the real service
            does when it answers without a ``CheckpointToken``.
    """

    name: str
    error: Callable[[str], BaseException] | None = None
    after_forwarding: bool = False
    transform: Callable[[dict[str, Any]], Any] | None = None
    before: Callable[[ApiCall], None] | None = None
    revoke: bool = False

    @classmethod
    def throttle(cls, retry_after: float | None = None) -> Fault:
        """``TooManyRequestsException`` (HTTP 429), with a ``Retry-After`` header if given.

        Args:
            retry_after: Seconds for the ``Retry-After`` header; ``None`` sends none.
        """
        headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
        name = "throttle" if retry_after is None else f"throttle-retry-after-{retry_after:g}"
        return cls(
            name=name,
            error=lambda op: _client_error(
                "TooManyRequestsException", "Rate exceeded", op, 429, headers
            ),
        )

    @classmethod
    def server_error(cls, status: int = 500, *, after_forwarding: bool = False) -> Fault:
        """``ServiceException`` with HTTP ``status`` (500, 502, 503...).

        Args:
            status: The HTTP status code.
            after_forwarding: The service applied the call before failing it.
        """
        suffix = "-after" if after_forwarding else ""
        return cls(
            name=f"server-error-{status}{suffix}",
            error=lambda op: _client_error(
                "ServiceException", "An internal error occurred.", op, status
            ),
            after_forwarding=after_forwarding,
        )

    @classmethod
    def connection_reset(cls, *, after_forwarding: bool = False) -> Fault:
        """Raise botocore's ``ConnectionClosedError``: the connection dropped.

        Args:
            after_forwarding: The request reached the service, the response was lost.
        """
        from botocore.exceptions import ConnectionClosedError

        return cls(
            name="connection-reset-after" if after_forwarding else "connection-reset",
            error=lambda _op: ConnectionClosedError(endpoint_url=_ENDPOINT),
            after_forwarding=after_forwarding,
        )

    @classmethod
    def read_timeout(cls, *, after_forwarding: bool = True) -> Fault:
        """Raise botocore's ``ReadTimeoutError``: no response in time.

        Args:
            after_forwarding: The service applied the call (the usual case of a
                read timeout); ``False`` models a request that never arrived.
        """
        from botocore.exceptions import ReadTimeoutError

        return cls(
            name="read-timeout-after" if after_forwarding else "read-timeout",
            error=lambda _op: ReadTimeoutError(endpoint_url=_ENDPOINT),
            after_forwarding=after_forwarding,
        )

    @classmethod
    def stale_token(cls) -> Fault:
        """``InvalidParameterValueException`` "Invalid checkpoint token..." (HTTP 400)."""
        return cls(
            name="stale-token",
            error=lambda op: _client_error(
                "InvalidParameterValueException",
                "Invalid checkpoint token: the token has already been used.",
                op,
                400,
            ),
        )

    @classmethod
    def drop_checkpoint_token(cls) -> Fault:
        """Forward the call, then remove ``CheckpointToken`` from the response.

        The service answers so when it revoked the token chain (a newer
        invocation took over); the wrapped client's token is revoked too when
        it can be, so that it invokes the function again.
        """

        def drop(response: dict[str, Any]) -> dict[str, Any]:
            response.pop("CheckpointToken", None)
            return response

        return cls(name="drop-checkpoint-token", transform=drop, revoke=True)

    @classmethod
    def kms(cls, code: str = "KMSAccessDeniedException") -> Fault:
        """A KMS error (HTTP 502): the execution's key cannot be used.

        Args:
            code: ``KMSAccessDeniedException``, ``KMSDisabledException``,
                ``KMSInvalidStateException`` or ``KMSNotFoundException``.
        """
        return cls(
            name=f"kms-{code}",
            error=lambda op: _client_error(code, f"{code}: the KMS key cannot be used.", op, 502),
        )

    @classmethod
    def client_error(
        cls,
        code: str,
        message: str,
        status: int = 400,
        *,
        headers: Mapping[str, str] | None = None,
        after_forwarding: bool = False,
    ) -> Fault:
        """Any modelled error response, e.g. ``ResourceNotFoundException`` (404).

        Args:
            code: ``Error.Code``.
            message: ``Error.Message``.
            status: HTTP status.
            headers: Extra HTTP headers.
            after_forwarding: The service handled the call before the error.
        """
        return cls(
            name=f"client-error-{code}-{status}",
            error=lambda op: _client_error(code, message, op, status, headers),
            after_forwarding=after_forwarding,
        )

    @classmethod
    def crash(cls, *, after_forwarding: bool = False) -> Fault:
        """Raise :class:`SimulatedCrash`: the process dies at this call.

        Args:
            after_forwarding: The service applied the call, but the process died
                before it read the response.
        """
        return cls(
            name="crash-after" if after_forwarding else "crash-before",
            error=lambda op: SimulatedCrash(f"simulated crash at {op}"),
            after_forwarding=after_forwarding,
        )

    @classmethod
    def respond(cls, transform: Callable[[dict[str, Any]], Any], name: str = "respond") -> Fault:
        """Forward the call and hand the caller ``transform(response)`` instead.

        Args:
            transform: Receives a copy of the real response; returns anything
                (a malformed response, for fuzzing).
            name: The label recorded for the injection.
        """
        return cls(name=name, transform=transform)

    @classmethod
    def delay(cls, action: Callable[[ApiCall], None], name: str = "delay") -> Fault:
        """Run ``action`` (e.g. advance a test clock) before forwarding: a slow call.

        Args:
            action: Called with the call before it is forwarded.
            name: The label recorded for the injection.
        """
        return cls(name=name, before=action)


class FaultRule:
    """When one :class:`Fault` strikes; made by :meth:`FaultInjectingClient.inject`.

    Attributes:
        fault: The fault.
        fired: How many times it has struck so far.
    """

    __slots__ = ("_at", "_matched", "_operations", "_times", "_when", "fault", "fired")

    def __init__(
        self,
        fault: Fault,
        operations: frozenset[str] | None,
        at: int,
        times: int | None,
        when: Callable[[ApiCall], bool] | None,
    ) -> None:
        self.fault = fault
        self._operations = operations
        self._at = at
        self._times = times
        self._when = when
        self._matched = 0
        self.fired = 0

    @property
    def exhausted(self) -> bool:
        """Whether the rule will strike no more."""
        return self._times is not None and self.fired >= self._times

    def _eligible(self, call: ApiCall) -> bool:
        """Count ``call`` if it matches; return whether the fault may strike it."""
        if self._operations is not None and call.operation not in self._operations:
            return False
        if self._when is not None and not self._when(call):
            return False
        self._matched += 1
        return self._matched >= self._at and not self.exhausted

    def __repr__(self) -> str:
        return f"FaultRule({self.fault.name!r}, at={self._at}, times={self._times})"


class FaultInjectingClient:
    """A botocore-shaped ``lambda`` client that injects faults on schedule.

    Intercepted calls (by default the two a durable function makes,
    :attr:`SDK_OPERATIONS`) are numbered and recorded, counted by every rule
    they match, and forwarded to the wrapped client unless a fault says
    otherwise. When several rules could strike one call, the one added first
    does; the others strike later matching calls. Any other
    attribute is the wrapped client's. Thread-safe: the SDK calls from its
    checkpoint thread, from callers that send their own batch, and from the
    invocation's thread.

    Args:
        client: The wrapped client (anything with the botocore ``lambda`` methods).
        intercept: The API operations to number, record and fault.

    Example:
        >>> service = LocalDurableService()  # doctest: +SKIP
        >>> client = FaultInjectingClient(service)  # doctest: +SKIP
        >>> rule = client.inject(  # doctest: +SKIP
        ...     Fault.server_error(503), operation=client.CHECKPOINT, at=2, times=3
        ... )
        >>> DurableTestRunner(handler, service=client).run({})  # doctest: +SKIP
        >>> [i.fault for i in client.injections]  # doctest: +SKIP
        ['server-error-503', 'server-error-503', 'server-error-503']
    """

    CHECKPOINT: Final = CHECKPOINT
    """``CheckpointDurableExecution``: the call that checkpoints."""
    GET_STATE: Final = GET_STATE
    """``GetDurableExecutionState``: the call that pages in the execution's operations."""
    SDK_OPERATIONS: Final = SDK_OPERATIONS
    """The two operations a durable function calls; intercepted by default."""

    def __init__(self, client: Any, *, intercept: Collection[str] = SDK_OPERATIONS) -> None:
        unknown = set(intercept) - set(_METHODS)
        if unknown:
            raise ValueError(f"cannot intercept unknown operations {sorted(unknown)}")
        self.client = client
        self._intercept = frozenset(intercept)
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []  # guarded by _lock
        self._calls: list[ApiCall] = []  # guarded by _lock
        self._injections: list[Injection] = []  # guarded by _lock
        self._per_operation: dict[str, int] = {}  # guarded by _lock

    # -- schedule ---------------------------------------------------------------

    def inject(
        self,
        fault: Fault,
        *,
        operation: str | Collection[str] | None = None,
        at: int = 1,
        times: int | None = 1,
        when: Callable[[ApiCall], bool] | None = None,
    ) -> FaultRule:
        """Schedule ``fault``.

        Calls *match* the rule when their operation is ``operation`` (any
        intercepted one by default) and ``when(call)`` is true (always by
        default). The fault strikes the ``at``-th matching call and the
        matching calls after it, ``times`` in all.

        Args:
            fault: What to inject.
            operation: An API operation name (or several) the rule applies to.
            at: The first matching call (1-based) the fault strikes.
            times: How many matching calls in a row it strikes; ``None`` for all.
            when: A predicate a call must satisfy to match.

        Returns:
            The rule, whose :attr:`FaultRule.fired` counts strikes.

        Raises:
            ValueError: ``at`` or ``times`` is below 1, or ``operation`` is not intercepted.
        """
        if at < 1:
            raise ValueError(f"at must be 1 or more, got {at}")
        if times is not None and times < 1:
            raise ValueError(f"times must be 1 or more (or None), got {times}")
        operations: frozenset[str] | None = None
        if operation is not None:
            operations = frozenset({operation} if isinstance(operation, str) else operation)
            if not operations <= self._intercept:
                missing = sorted(operations - self._intercept)
                raise ValueError(f"{missing} are not intercepted by this client")
        rule = FaultRule(fault, operations, at, times, when)
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        """Remove every rule (recorded calls and injections stay)."""
        with self._lock:
            self._rules.clear()

    # -- records ------------------------------------------------------------------

    @property
    def calls(self) -> list[ApiCall]:
        """Every intercepted call so far, in order."""
        with self._lock:
            return list(self._calls)

    @property
    def injections(self) -> list[Injection]:
        """Every injected fault so far, in order."""
        with self._lock:
            return list(self._injections)

    def count(self, operation: str | None = None) -> int:
        """Return how many intercepted calls (of ``operation``, if given) were made."""
        with self._lock:
            if operation is None:
                return len(self._calls)
            return self._per_operation.get(operation, 0)

    # -- the calls ----------------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        if name == "client":  # not set yet (e.g. while unpickling): avoid recursing
            raise AttributeError(name)
        operation = _OPERATIONS_BY_METHOD.get(name)
        target = getattr(self.client, name)
        if operation is None or operation not in self._intercept:
            return target

        def call(**kwargs: Any) -> Any:
            return self._call(operation, target, kwargs)

        call.__name__ = name
        return call

    def _call(self, operation: str, target: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        with self._lock:
            per_op = self._per_operation.get(operation, 0) + 1
            self._per_operation[operation] = per_op
            call = ApiCall(len(self._calls) + 1, operation, per_op, kwargs)
            self._calls.append(call)
            # Every rule counts the call; the first one eligible strikes it.
            eligible = [rule for rule in self._rules if rule._eligible(call)]
            fault: Fault | None = None
            if eligible:
                eligible[0].fired += 1
                fault = eligible[0].fault
        if fault is None:
            return target(**kwargs)
        if fault.before is not None:
            fault.before(call)
        if fault.error is not None and not fault.after_forwarding:
            self._record(call, fault, forwarded=False)
            raise fault.error(operation)
        response = target(**kwargs)
        self._record(call, fault, forwarded=True)
        if fault.revoke:
            self._revoke(kwargs)
        if fault.error is not None:
            raise fault.error(operation)
        if fault.transform is not None:
            copied = dict(response) if isinstance(response, Mapping) else response
            return fault.transform(copied)
        return response

    def _record(self, call: ApiCall, fault: Fault, *, forwarded: bool) -> None:
        with self._lock:
            self._injections.append(Injection(call, fault.name, forwarded))

    def _revoke(self, kwargs: Mapping[str, Any]) -> None:
        revoke = getattr(self.client, "revoke_token", None)
        arn = kwargs.get("DurableExecutionArn")
        if callable(revoke) and isinstance(arn, str):
            revoke(arn)

    def __repr__(self) -> str:
        return f"FaultInjectingClient({self.client!r}, rules={len(self._rules)})"
