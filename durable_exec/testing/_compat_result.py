"""Results of the official testing package's runner API: operations, history events, statuses.

Test code written for ``aws-durable-execution-sdk-python-testing`` reads a run
through :class:`DurableFunctionTestResult` (status, result, error, a tree of
operation objects) and, sometimes, through the history's events. These are the
same classes and attributes, built from durable_exec's own records: operation
ids, types and statuses are durable_exec's enums (``durable_exec.lambda_service``),
timestamps are aware UTC ``datetime`` objects, payloads are the stored strings.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import logging
import re
from collections.abc import Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, cast

from durable_exec._wire import (
    ErrorObject,
    InvocationStatus,
    OperationPayload,
    OperationStatus,
    OperationType,
)
from durable_exec._wire import (
    Operation as SvcOperation,
)
from durable_exec.testing._compat_errors import (
    DurableFunctionsTestError,
    InvalidParameterValueException,
)

if TYPE_CHECKING:
    from durable_exec.testing._runner import TestResult

__all__ = [
    "OPERATION_FACTORIES",
    "CallbackOperation",
    "ContextOperation",
    "DurableFunctionTestResult",
    "Event",
    "EventType",
    "ExecutionOperation",
    "ExecutionStatus",
    "GetDurableExecutionHistoryResponse",
    "InvokeOperation",
    "Operation",
    "OperationFactory",
    "StepOperation",
    "WaitOperation",
    "create_operation",
    "events_to_operations",
]

logger = logging.getLogger(__name__)


class ExecutionStatus(enum.Enum):
    """Where a whole execution stands (``result.execution_status``)."""

    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    STOPPED = "STOPPED"
    TIMED_OUT = "TIMED_OUT"


def _when(epoch: float | None) -> datetime.datetime | None:
    return None if epoch is None else datetime.datetime.fromtimestamp(epoch, datetime.UTC)


def _expect(operation: SvcOperation, op_type: OperationType) -> None:
    if operation.type is not op_type:
        msg = f"Expected {op_type.value} operation, got {operation.type.value}"
        raise InvalidParameterValueException(msg)


def _children(
    operation: SvcOperation, all_operations: list[SvcOperation] | None
) -> list[Operation]:
    if not all_operations:
        return []
    return [
        create_operation(op, all_operations)
        for op in all_operations
        if op.parent_id == operation.id
    ]


def _common(operation: SvcOperation) -> dict[str, Any]:
    return {
        "operation_id": operation.id,
        "operation_type": operation.type,
        "status": operation.status,
        "parent_id": operation.parent_id,
        "name": operation.name,
        "sub_type": operation.sub_type,
        "start_timestamp": _when(operation.start_timestamp),
        "end_timestamp": _when(operation.end_timestamp),
    }


@dataclasses.dataclass(frozen=True)
class Operation:
    """One operation of a run.

    Attributes:
        operation_id: Its id.
        operation_type: Its :class:`~durable_exec.lambda_service.OperationType`.
        status: Its :class:`~durable_exec.lambda_service.OperationStatus`.
        parent_id: The enclosing context's operation id (``None`` at the top).
        name: Its name.
        sub_type: Its SubType (``Step``, ``Map``, ...).
        start_timestamp: When it started (aware UTC).
        end_timestamp: When it ended.
    """

    operation_id: str
    operation_type: OperationType
    status: OperationStatus
    parent_id: str | None = dataclasses.field(default=None, kw_only=True)
    name: str | None = dataclasses.field(default=None, kw_only=True)
    sub_type: str | None = dataclasses.field(default=None, kw_only=True)
    start_timestamp: datetime.datetime | None = dataclasses.field(default=None, kw_only=True)
    end_timestamp: datetime.datetime | None = dataclasses.field(default=None, kw_only=True)


class OperationFactory(Protocol):
    """Builds the operation class of one type from a recorded operation."""

    @staticmethod
    def from_svc_operation(
        operation: SvcOperation, all_operations: list[SvcOperation] | None = None
    ) -> Operation:
        """Build it; ``all_operations`` supplies the children of a context."""
        ...


@dataclasses.dataclass(frozen=True)
class ExecutionOperation(Operation):
    """The EXECUTION operation (the run itself).

    Attributes:
        input_payload: The execution's input as stored.
    """

    input_payload: str | None = None

    @staticmethod
    def from_svc_operation(
        operation: SvcOperation,
        all_operations: list[SvcOperation] | None = None,  # noqa: ARG004 - the factory protocol
    ) -> ExecutionOperation:
        """Build it from a recorded EXECUTION operation."""
        _expect(operation, OperationType.EXECUTION)
        return ExecutionOperation(**_common(operation), input_payload=operation.input_payload)


class _LookupByName:
    """Typed shortcuts over ``get_operation_by_name``, shared by results and contexts.

    Each returns the operation ``get_operation_by_name`` finds (the first one
    with that name among the owner's operations) typed as the kind asked for;
    a missing name raises ``DurableFunctionsTestError`` from there.
    """

    def get_operation_by_name(self, name: str) -> Operation:  # pragma: no cover - overridden
        raise NotImplementedError

    def get_step(self, name: str) -> StepOperation:
        """Return the step called ``name``."""
        return cast("StepOperation", self.get_operation_by_name(name))

    def get_wait(self, name: str) -> WaitOperation:
        """Return the wait called ``name``."""
        return cast("WaitOperation", self.get_operation_by_name(name))

    def get_context(self, name: str) -> ContextOperation:
        """Return the context called ``name``."""
        return cast("ContextOperation", self.get_operation_by_name(name))

    def get_callback(self, name: str) -> CallbackOperation:
        """Return the callback called ``name``."""
        return cast("CallbackOperation", self.get_operation_by_name(name))

    def get_invoke(self, name: str) -> InvokeOperation:
        """Return the chained invoke called ``name``."""
        return cast("InvokeOperation", self.get_operation_by_name(name))

    def get_execution(self, name: str) -> ExecutionOperation:
        """Return the operation called ``name`` as an execution operation."""
        return cast("ExecutionOperation", self.get_operation_by_name(name))


@dataclasses.dataclass(frozen=True)
class ContextOperation(_LookupByName, Operation):
    """A CONTEXT: a child context, a map or parallel, one of their branches.

    Attributes:
        child_operations: The operations recorded inside it, in start order.
        result: Its stored result (the serdes' string), once SUCCEEDED.
        error: Its error, once FAILED.
    """

    child_operations: list[Operation]
    result: OperationPayload | None = None
    error: ErrorObject | None = None

    @staticmethod
    def from_svc_operation(
        operation: SvcOperation, all_operations: list[SvcOperation] | None = None
    ) -> ContextOperation:
        """Build it from a recorded CONTEXT operation and the operations inside it."""
        _expect(operation, OperationType.CONTEXT)
        return ContextOperation(
            **_common(operation),
            child_operations=_children(operation, all_operations),
            result=operation.result,
            error=operation.error,
        )

    def get_operation_by_name(self, name: str) -> Operation:
        """Return the first child operation called ``name``.

        Raises:
            DurableFunctionsTestError: No child has that name.
        """
        for operation in self.child_operations:
            if operation.name == name:
                return operation
        msg = (
            f"{self.name!r} has no child operation named {name!r}; its children are "
            f"{[o.name for o in self.child_operations]}"
        )
        raise DurableFunctionsTestError(msg)


@dataclasses.dataclass(frozen=True)
class StepOperation(ContextOperation):
    """A STEP (also wait_for_condition's).

    Attributes:
        attempt: Attempts finished so far (RETRY, SUCCEED and FAIL each count one).
        next_attempt_timestamp: When a step waiting for its retry runs again.
        result: Its stored result, once SUCCEEDED.
        error: Its error, once FAILED (or the last attempt's, while retrying).
    """

    attempt: int = 0
    next_attempt_timestamp: datetime.datetime | None = None
    result: OperationPayload | None = None
    error: ErrorObject | None = None

    @staticmethod
    def from_svc_operation(
        operation: SvcOperation, all_operations: list[SvcOperation] | None = None
    ) -> StepOperation:
        """Build it from a recorded STEP operation."""
        _expect(operation, OperationType.STEP)
        return StepOperation(
            **_common(operation),
            child_operations=_children(operation, all_operations),
            attempt=operation.attempt or 0,
            next_attempt_timestamp=_when(operation.next_attempt_timestamp),
            result=operation.result,
            error=operation.error,
        )


@dataclasses.dataclass(frozen=True)
class WaitOperation(Operation):
    """A WAIT.

    Attributes:
        scheduled_end_timestamp: When the wait ends.
    """

    scheduled_end_timestamp: datetime.datetime | None = None

    @staticmethod
    def from_svc_operation(
        operation: SvcOperation,
        all_operations: list[SvcOperation] | None = None,  # noqa: ARG004 - the factory protocol
    ) -> WaitOperation:
        """Build it from a recorded WAIT operation."""
        _expect(operation, OperationType.WAIT)
        return WaitOperation(
            **_common(operation),
            scheduled_end_timestamp=_when(operation.scheduled_end_timestamp),
        )


@dataclasses.dataclass(frozen=True)
class CallbackOperation(ContextOperation):
    """A CALLBACK.

    Attributes:
        callback_id: The id to hand the external system.
        result: The result it sent (raw), once SUCCEEDED.
        error: The error it sent, or the timeout, once FAILED or TIMED_OUT.
    """

    callback_id: str | None = None
    result: OperationPayload | None = None
    error: ErrorObject | None = None

    @staticmethod
    def from_svc_operation(
        operation: SvcOperation, all_operations: list[SvcOperation] | None = None
    ) -> CallbackOperation:
        """Build it from a recorded CALLBACK operation."""
        _expect(operation, OperationType.CALLBACK)
        return CallbackOperation(
            **_common(operation),
            child_operations=_children(operation, all_operations),
            callback_id=operation.callback_id,
            result=operation.result,
            error=operation.error,
        )


@dataclasses.dataclass(frozen=True)
class InvokeOperation(Operation):
    """A CHAINED_INVOKE.

    Attributes:
        result: The invoked function's result, once SUCCEEDED.
        error: Its error, once FAILED, TIMED_OUT or STOPPED.
    """

    result: OperationPayload | None = None
    error: ErrorObject | None = None

    @staticmethod
    def from_svc_operation(
        operation: SvcOperation,
        all_operations: list[SvcOperation] | None = None,  # noqa: ARG004 - the factory protocol
    ) -> InvokeOperation:
        """Build it from a recorded CHAINED_INVOKE operation."""
        _expect(operation, OperationType.CHAINED_INVOKE)
        return InvokeOperation(**_common(operation), result=operation.result, error=operation.error)


OPERATION_FACTORIES: MutableMapping[OperationType, type[OperationFactory]] = {
    OperationType.EXECUTION: ExecutionOperation,
    OperationType.CONTEXT: ContextOperation,
    OperationType.STEP: StepOperation,
    OperationType.WAIT: WaitOperation,
    OperationType.CHAINED_INVOKE: InvokeOperation,
    OperationType.CALLBACK: CallbackOperation,
}
"""The operation class of each operation type."""


def create_operation(
    svc_operation: SvcOperation, all_operations: list[SvcOperation] | None = None
) -> Operation:
    """Build the operation object of ``svc_operation``'s type (with its children).

    Raises:
        DurableFunctionsTestError: The type has no operation class.
    """
    factory = OPERATION_FACTORIES.get(svc_operation.type)
    if factory is None:
        msg = f"Unknown operation type: {svc_operation.type}"
        raise DurableFunctionsTestError(msg)
    return factory.from_svc_operation(svc_operation, all_operations)


def _top_level(operations: list[SvcOperation]) -> list[Operation]:
    return [
        create_operation(op, operations)
        for op in operations
        if op.type is not OperationType.EXECUTION and op.parent_id is None
    ]


_INVOCATION_STATUS = {
    "SUCCEEDED": InvocationStatus.SUCCEEDED,
    "FAILED": InvocationStatus.FAILED,
    "TIMED_OUT": InvocationStatus.FAILED,
    "STOPPED": InvocationStatus.FAILED,
}


@dataclasses.dataclass(frozen=True)
class DurableFunctionTestResult(_LookupByName):
    """How a run ended.

    Attributes:
        status: SUCCEEDED, or FAILED (also when it timed out or was stopped).
        operations: The top-level operations (the EXECUTION one left out), each
            with its children.
        result: The handler's result as stored: a JSON string.
        error: The execution's error.
        execution_status: Where the execution ended (``TIMED_OUT``, ``STOPPED``...).
    """

    status: InvocationStatus
    operations: list[Operation]
    result: OperationPayload | None = None
    error: ErrorObject | None = None
    execution_status: ExecutionStatus | None = None

    @classmethod
    def create(cls, execution: TestResult) -> DurableFunctionTestResult:
        """Build the result of a finished run of durable_exec's ``DurableTestRunner``.

        Raises:
            DurableFunctionsTestError: The execution has not finished.
        """
        if execution.status not in _INVOCATION_STATUS:
            msg = f"Execution {execution.arn} has not finished (it is {execution.status})."
            raise DurableFunctionsTestError(msg)
        return cls(
            status=_INVOCATION_STATUS[execution.status],
            operations=_top_level(execution.operations),
            result=execution.result_payload,
            error=execution.error,
            execution_status=ExecutionStatus(execution.status),
        )

    @classmethod
    def from_execution_history(
        cls,
        execution_response: Mapping[str, Any],
        history_response: GetDurableExecutionHistoryResponse,
    ) -> DurableFunctionTestResult:
        """Build the result from ``GetDurableExecution`` and its history (the cloud runner's).

        Args:
            execution_response: The ``GetDurableExecution`` response (botocore's dict).
            history_response: Every event of the execution.
        """
        raw_status = str(execution_response.get("Status"))
        status = _INVOCATION_STATUS.get(raw_status)
        if status is None:
            logger.warning("status %r is unknown here: the result says FAILED", raw_status)
            status = InvocationStatus.FAILED
        try:
            execution_status = ExecutionStatus(raw_status)
        except ValueError:
            logger.warning("status %r has no ExecutionStatus: the result says FAILED", raw_status)
            execution_status = ExecutionStatus.FAILED
        error = execution_response.get("Error")
        return cls(
            status=status,
            operations=_top_level(events_to_operations(history_response.events)),
            result=execution_response.get("Result"),
            error=ErrorObject.from_wire(error) if isinstance(error, Mapping) else None,
            execution_status=execution_status,
        )

    def get_operation_by_name(self, name: str) -> Operation:
        """Return the first top-level operation called ``name``.

        Raises:
            DurableFunctionsTestError: None has that name.
        """
        for operation in self.operations:
            if operation.name == name:
                return operation
        msg = (
            f"no top-level operation is named {name!r}; the names are "
            f"{[o.name for o in self.operations]}"
        )
        raise DurableFunctionsTestError(msg)

    def get_all_operations(self) -> list[Operation]:
        """Return every operation, nested ones included (depth first, last child first)."""
        found: list[Operation] = []
        stack = list(self.operations)
        while stack:
            operation = stack.pop()
            found.append(operation)
            stack.extend(getattr(operation, "child_operations", None) or ())
        return found


# -- history ----------------------------------------------------------------------------


class EventType(enum.Enum):
    """The kinds of history event."""

    EXECUTION_STARTED = "ExecutionStarted"
    EXECUTION_SUCCEEDED = "ExecutionSucceeded"
    EXECUTION_FAILED = "ExecutionFailed"
    EXECUTION_TIMED_OUT = "ExecutionTimedOut"
    EXECUTION_STOPPED = "ExecutionStopped"
    CONTEXT_STARTED = "ContextStarted"
    CONTEXT_SUCCEEDED = "ContextSucceeded"
    CONTEXT_FAILED = "ContextFailed"
    WAIT_STARTED = "WaitStarted"
    WAIT_SUCCEEDED = "WaitSucceeded"
    WAIT_CANCELLED = "WaitCancelled"
    STEP_STARTED = "StepStarted"
    STEP_SUCCEEDED = "StepSucceeded"
    STEP_FAILED = "StepFailed"
    CHAINED_INVOKE_STARTED = "ChainedInvokeStarted"
    CHAINED_INVOKE_SUCCEEDED = "ChainedInvokeSucceeded"
    CHAINED_INVOKE_FAILED = "ChainedInvokeFailed"
    CHAINED_INVOKE_TIMED_OUT = "ChainedInvokeTimedOut"
    CHAINED_INVOKE_STOPPED = "ChainedInvokeStopped"
    CALLBACK_STARTED = "CallbackStarted"
    CALLBACK_SUCCEEDED = "CallbackSucceeded"
    CALLBACK_FAILED = "CallbackFailed"
    CALLBACK_TIMED_OUT = "CallbackTimedOut"
    INVOCATION_COMPLETED = "InvocationCompleted"


_SNAKE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _snake(name: str) -> str:
    return _SNAKE.sub("_", name).lower()


class _Record:
    """A details member of an event, read with snake_case attributes (absent ones are None)."""

    __slots__ = ("_raw",)

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = {_snake(key): value for key, value in raw.items()}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = self._raw.get(name)
        return _Record(value) if isinstance(value, Mapping) else value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Record) and self._raw == other._raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._raw!r})"


class Event:
    """One history event, read with the official model's attribute names.

    ``event_type``, ``event_id``, ``event_timestamp``, ``operation_id``, ``name``,
    ``sub_type`` and ``parent_id`` as attributes; each ``<EventType>Details``
    member as ``<event_type>_details`` (e.g. ``event.callback_started_details.callback_id``),
    ``None`` when the event has none.
    """

    __slots__ = ("_details", "_raw")

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self._raw = dict(raw)
        self._details = {
            _snake(key): _Record(value)
            for key, value in raw.items()
            if key.endswith("Details") and isinstance(value, Mapping)
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        """Read an event of a ``GetDurableExecutionHistory`` response."""
        return cls(data)

    def to_dict(self) -> dict[str, Any]:
        """Return the event as the API shapes it."""
        return dict(self._raw)

    @property
    def event_type(self) -> str:
        """The ``EventType`` (see :class:`EventType`)."""
        return str(self._raw.get("EventType"))

    @property
    def event_id(self) -> int:
        """The event's position in the history, from 1."""
        return int(self._raw.get("EventId", 0))

    @property
    def event_timestamp(self) -> datetime.datetime | None:
        """When it happened (aware UTC)."""
        return cast("datetime.datetime | None", self._raw.get("EventTimestamp"))

    @property
    def operation_id(self) -> str | None:
        """The operation it is about (``None`` for InvocationCompleted)."""
        return cast("str | None", self._raw.get("Id"))

    @property
    def name(self) -> str | None:
        """The operation's name."""
        return cast("str | None", self._raw.get("Name"))

    @property
    def sub_type(self) -> str | None:
        """The operation's SubType."""
        return cast("str | None", self._raw.get("SubType"))

    @property
    def parent_id(self) -> str | None:
        """The operation's parent."""
        return cast("str | None", self._raw.get("ParentId"))

    def __getattr__(self, name: str) -> Any:
        if name.endswith("_details"):
            return self._details.get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Event) and self._raw == other._raw

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Event({self.event_type}, id={self.operation_id!r}, name={self.name!r})"


@dataclasses.dataclass(frozen=True)
class GetDurableExecutionHistoryResponse:
    """An execution's history.

    Attributes:
        events: The events, oldest first.
        next_marker: Set when there are more pages.
    """

    events: list[Event]
    next_marker: str | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GetDurableExecutionHistoryResponse:
        """Read a ``GetDurableExecutionHistory`` response."""
        return cls(
            [Event.from_dict(event) for event in data.get("Events", [])],
            data.get("NextMarker") or None,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return the response as the API shapes it."""
        out: dict[str, Any] = {"Events": [event.to_dict() for event in self.events]}
        if self.next_marker is not None:
            out["NextMarker"] = self.next_marker
        return out


_KINDS = (
    ("ChainedInvoke", OperationType.CHAINED_INVOKE, "ChainedInvokeDetails"),
    ("Execution", OperationType.EXECUTION, "ExecutionDetails"),
    ("Context", OperationType.CONTEXT, "ContextDetails"),
    ("Callback", OperationType.CALLBACK, "CallbackDetails"),
    ("Wait", OperationType.WAIT, "WaitDetails"),
    ("Step", OperationType.STEP, "StepDetails"),
)
_OUTCOMES = {
    "Started": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Stopped": "STOPPED",
    "Cancelled": "CANCELLED",
}


def _payload(member: Any) -> Any:
    return member.get("Payload") if isinstance(member, Mapping) else None


def events_to_operations(events: Iterable[Event]) -> list[SvcOperation]:
    """Rebuild each operation's last known state from its history events.

    Raises:
        InvalidParameterValueException: An event has an unknown type, or no
            operation id where one is needed.
    """
    built: dict[str, dict[str, Any]] = {}
    for event in events:
        raw = event.to_dict()
        event_type = event.event_type
        if event_type == EventType.INVOCATION_COMPLETED.value:
            continue
        kind = next((k for k in _KINDS if event_type.startswith(k[0])), None)
        outcome = _OUTCOMES.get(event_type[len(kind[0]) :]) if kind else None
        if kind is None or outcome is None:
            msg = f"Unknown event type: {event_type}"
            raise InvalidParameterValueException(msg)
        if not event.operation_id:
            msg = f"history event {event.event_id} has no operation_id: it belongs to no operation"
            raise InvalidParameterValueException(msg)
        prefix, op_type, details_key = kind
        op = built.setdefault(event.operation_id, {"Id": event.operation_id, "Type": op_type.value})
        for key in ("Name", "SubType", "ParentId"):
            if raw.get(key) and not op.get(key):
                op[key] = raw[key]
        details = raw.get(f"{event_type}Details") or {}
        own = op.setdefault(details_key, {})
        op["Status"] = outcome
        if outcome == "STARTED":
            op["StartTimestamp"] = raw.get("EventTimestamp")
        retry = details.get("RetryDetails") or {}
        if prefix == "Step" and outcome != "STARTED":
            # Each StepSucceeded/StepFailed ends one attempt; RetryDetails, when
            # the service sends them, say which.
            own["Attempt"] = retry.get("CurrentAttempt") or own.get("Attempt", 0) + 1
        if retry.get("NextAttemptDelaySeconds") is not None and outcome in ("SUCCEEDED", "FAILED"):
            op["Status"] = "PENDING"
        elif outcome != "STARTED":
            op["EndTimestamp"] = raw.get("EventTimestamp")
        if "Result" in details:
            own["Result"] = _payload(details["Result"])
        if "Error" in details:
            own["Error"] = _payload(details["Error"])
        if prefix == "Execution" and "Input" in details:
            own["InputPayload"] = _payload(details["Input"])
        if prefix == "Callback" and details.get("CallbackId"):
            own["CallbackId"] = details["CallbackId"]
        if prefix == "Wait" and details.get("ScheduledEndTimestamp") is not None:
            own["ScheduledEndTimestamp"] = details["ScheduledEndTimestamp"]
    return [SvcOperation.from_wire(op) for op in built.values()]
