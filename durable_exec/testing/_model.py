"""The local service's records: executions, operations, timers, and their wire rendering.

Records are plain mutable slotted dataclasses owned by an
:class:`~durable_exec.testing._store.ExecutionStore`. Times are epoch seconds
(floats) inside; they leave as timezone-aware UTC ``datetime`` objects in API
responses (what botocore returns) and as epoch **milliseconds** in the Lambda
invocation envelope.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "ACTIVE",
    "TERMINAL_EXECUTION",
    "ChainedInvokeRequest",
    "ErrorObject",
    "ExecutionRecord",
    "IdempotencyRecord",
    "OperationRecord",
    "render_operation",
    "to_datetime",
    "to_millis",
]

ErrorObject = dict[str, Any]
"""An ``ErrorObject``: ErrorMessage, ErrorType, ErrorData (str), StackTrace (list of str)."""

# Operation types.
EXECUTION: Final = "EXECUTION"
CONTEXT: Final = "CONTEXT"
STEP: Final = "STEP"
WAIT: Final = "WAIT"
CALLBACK: Final = "CALLBACK"
CHAINED_INVOKE: Final = "CHAINED_INVOKE"

# Operation statuses.
STARTED: Final = "STARTED"
PENDING: Final = "PENDING"
READY: Final = "READY"
SUCCEEDED: Final = "SUCCEEDED"
FAILED: Final = "FAILED"
CANCELLED: Final = "CANCELLED"
TIMED_OUT: Final = "TIMED_OUT"
STOPPED: Final = "STOPPED"

# Execution statuses.
RUNNING: Final = "RUNNING"
TERMINAL_EXECUTION: Final = frozenset({SUCCEEDED, FAILED, TIMED_OUT, STOPPED})

ACTIVE: Final = frozenset({STARTED, PENDING, READY})
"""Operation statuses that are not final."""

# Timer kinds.
TIMER_WAIT: Final = "wait"
TIMER_RETRY: Final = "retry"
TIMER_CALLBACK: Final = "callback"
TIMER_HEARTBEAT: Final = "heartbeat"
TIMER_EXECUTION: Final = "execution"

Timer = tuple[float, int, str, str]
"""A per-execution timer heap entry: (due, tie-breaker, kind, operation id)."""


def to_datetime(seconds: float) -> datetime:
    """Return epoch ``seconds`` as an aware UTC datetime (what botocore returns)."""
    return datetime.fromtimestamp(seconds, UTC)


def to_millis(seconds: float) -> int:
    """Return epoch ``seconds`` as integer epoch milliseconds (the envelope's unit)."""
    return round(seconds * 1000)


@dataclass(slots=True, eq=False)
class OperationRecord:
    """One operation of an execution, as the service keeps it.

    ``result`` and ``error`` hold whichever details member the type uses
    (StepDetails, ContextDetails, CallbackDetails, ChainedInvokeDetails).
    """

    id: str
    type: str
    seq: int
    start_ts: float
    status: str
    name: str | None = None
    sub_type: str | None = None
    parent_id: str | None = None
    end_ts: float | None = None
    result: str | None = None
    error: ErrorObject | None = None
    input_payload: str | None = None
    replay_children: bool | None = None
    attempt: int = 0
    next_attempt_ts: float | None = None
    wait_seconds: int = 0
    scheduled_end_ts: float | None = None
    callback_id: str | None = None
    callback_timeout: int = 0
    heartbeat_timeout: int = 0
    callback_due: float | None = None
    heartbeat_due: float | None = None
    function_name: str | None = None
    tenant_id: str | None = None
    invoke_input: str | None = None
    dispatched: bool = False


@dataclass(slots=True, eq=False)
class IdempotencyRecord:
    """The last accepted checkpoint, answered again for a retry with the same tokens."""

    client_token: str
    checkpoint_token: str
    response: dict[str, Any]
    accepted_at: float


@dataclass(slots=True, eq=False)
class ExecutionRecord:
    """A durable execution and every index the service needs to serve it in O(batch).

    ``order`` lists operations by start sequence (``OperationRecord.seq`` is the
    index), so state pages are slices. ``unseen`` is an ordered set of ids
    changed since the handler last received state (a checkpoint response or an
    invocation envelope); ``updated_since_invocation`` the ids the service itself
    changed since the last envelope. ``wake`` is true while there is a service-side
    change (or the first invocation) the handler has not yet been given.
    ``pending_count`` counts operations that keep a suspended handler waiting.
    ``invocation_owner`` names who holds the invocation in flight (see
    :meth:`~durable_exec.testing.LocalDurableService.invocation_event`), if any.
    ``dirty`` is the ordered set of operations changed since the last save
    (every change marks it); a store consumes it and persists nothing else of
    it. ``adopted`` is true once this process's service indexed the record's
    timers and chained invokes (never stored). ``timers`` is derived state:
    every live timer follows from an operation's fields, so a store may
    rebuild it rather than keep it.
    """

    arn: str
    name: str
    function_name: str
    qualifier: str
    invocation_id: str
    input_payload: str | None
    start_ts: float
    execution_timeout: float
    status: str = RUNNING
    end_ts: float | None = None
    result: str | None = None
    error: ErrorObject | None = None
    ops: dict[str, OperationRecord] = field(default_factory=dict)
    order: list[OperationRecord] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    token: str | None = None
    token_seq: int = 0
    last_checkpoint: IdempotencyRecord | None = None
    unseen: dict[str, None] = field(default_factory=dict)
    updated_since_invocation: dict[str, None] = field(default_factory=dict)
    wake: bool = True
    pending_count: int = 0
    timers: list[Timer] = field(default_factory=list)
    timeout_due: float | None = None
    invocation_count: int = 0
    invocation_start_ts: float | None = None
    request_id: str | None = None
    invocation_owner: str | None = None
    dirty: dict[str, None] = field(default_factory=dict)
    adopted: bool = False

    def touch(self, op_id: str) -> None:
        """Note that operation ``op_id`` changed (a persistent store writes only these)."""
        self.dirty[op_id] = None

    @property
    def function_arn(self) -> str:
        """The qualified function ARN this execution runs."""
        prefix = self.arn.split(":function:", 1)[0]
        return f"{prefix}:function:{self.function_name}:{self.qualifier}"


@dataclass(frozen=True, slots=True)
class ChainedInvokeRequest:
    """A chained invoke the handler started and a test runner should now perform.

    Attributes:
        execution_arn: The calling execution.
        operation_id: The CHAINED_INVOKE operation to complete afterwards.
        function_name: ``ChainedInvokeOptions.FunctionName`` as sent (name or ARN).
        payload: The serialized input (the START update's ``Payload``), if any.
        tenant_id: ``ChainedInvokeOptions.TenantId``, if any.
    """

    execution_arn: str
    operation_id: str
    function_name: str
    payload: str | None
    tenant_id: str | None


def copy_error(error: ErrorObject) -> ErrorObject:
    """Return a copy of an ErrorObject deep enough that callers cannot alter ours."""
    copied = dict(error)
    trace = copied.get("StackTrace")
    if trace is not None:
        copied["StackTrace"] = list(trace)
    return copied


def render_operation(op: OperationRecord, ts: Callable[[float], Any]) -> dict[str, Any]:
    """Render ``op`` as an ``Operation`` shape, converting times with ``ts``.

    Args:
        op: The operation.
        ts: ``to_datetime`` for API responses, ``to_millis`` for the envelope.

    Returns:
        A fresh dict with absent members omitted.
    """
    out: dict[str, Any] = {"Id": op.id}
    if op.parent_id is not None:
        out["ParentId"] = op.parent_id
    if op.name is not None:
        out["Name"] = op.name
    out["Type"] = op.type
    if op.sub_type is not None:
        out["SubType"] = op.sub_type
    out["StartTimestamp"] = ts(op.start_ts)
    if op.end_ts is not None:
        out["EndTimestamp"] = ts(op.end_ts)
    out["Status"] = op.status
    kind = op.type
    details: dict[str, Any] = {}
    if kind == STEP:
        details["Attempt"] = op.attempt
        if op.next_attempt_ts is not None:
            details["NextAttemptTimestamp"] = ts(op.next_attempt_ts)
        _result_and_error(op, details)
        out["StepDetails"] = details
    elif kind == WAIT:
        if op.scheduled_end_ts is not None:
            details["ScheduledEndTimestamp"] = ts(op.scheduled_end_ts)
        out["WaitDetails"] = details
    elif kind == CALLBACK:
        details["CallbackId"] = op.callback_id
        _result_and_error(op, details)
        out["CallbackDetails"] = details
    elif kind == CONTEXT:
        if op.replay_children is not None:
            details["ReplayChildren"] = op.replay_children
        _result_and_error(op, details)
        if details:
            out["ContextDetails"] = details
    elif kind == CHAINED_INVOKE:
        _result_and_error(op, details)
        if details:
            out["ChainedInvokeDetails"] = details
    elif kind == EXECUTION:
        if op.input_payload is not None:
            details["InputPayload"] = op.input_payload
        out["ExecutionDetails"] = details
    return out


def _result_and_error(op: OperationRecord, details: dict[str, Any]) -> None:
    if op.result is not None:
        details["Result"] = op.result
    if op.error is not None:
        details["Error"] = copy_error(op.error)
