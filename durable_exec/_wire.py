"""Models of the Lambda durable-execution API, and their wire codec.

Names follow botocore's ``lambda`` service model (2025-12-01 durable APIs).
The codec is written for the replay hot path: one dictionary pass per
operation, no reflection: about 3 µs per operation, where a generic
JSON-to-dataclass decoder (dataclasses-json) measured 134 times more (see
BENCHMARKS.md), so no generic decoder is on this path. Timestamps are kept as float
epoch seconds; they arrive as ``datetime`` from botocore and as epoch
milliseconds in the Lambda invocation envelope.
"""

from __future__ import annotations

import builtins
import dataclasses
import datetime
import enum
import math
import traceback
from collections.abc import Mapping
from typing import Any, NoReturn, TypeAlias

from durable_exec._errors import (
    DurableOperationError,
    SerDesError,
    class_for_wire_type,
    wire_type_name,
)

__all__ = [
    "TERMINAL_STATUSES",
    "CallbackTimeoutType",
    "ErrorObject",
    "InvocationStatus",
    "Operation",
    "OperationAction",
    "OperationPayload",
    "OperationStatus",
    "OperationSubType",
    "OperationType",
    "OperationUpdate",
    "ReplayChildren",
    "TimeoutSeconds",
    "WireFormatError",
]

OperationPayload: TypeAlias = str
"""A stored result or payload: the string a serdes produced."""
ReplayChildren: TypeAlias = bool
"""``ContextDetails.ReplayChildren``: the result is rebuilt from the children on replay."""
TimeoutSeconds: TypeAlias = int
"""A timeout in whole seconds, as the API takes it."""


class WireFormatError(ValueError):
    """The service (or the invocation envelope) sent something this SDK cannot read."""


class OperationType(enum.StrEnum):
    """The kind of a durable operation."""

    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


class OperationStatus(enum.StrEnum):
    """The service-side status of an operation."""

    STARTED = "STARTED"
    PENDING = "PENDING"
    READY = "READY"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    TIMED_OUT = "TIMED_OUT"
    STOPPED = "STOPPED"


TERMINAL_STATUSES = frozenset(
    {
        OperationStatus.SUCCEEDED,
        OperationStatus.FAILED,
        OperationStatus.CANCELLED,
        OperationStatus.TIMED_OUT,
        OperationStatus.STOPPED,
    }
)


class OperationAction(enum.StrEnum):
    """What an update asks the service to do."""

    START = "START"
    SUCCEED = "SUCCEED"
    FAIL = "FAIL"
    RETRY = "RETRY"
    CANCEL = "CANCEL"


class InvocationStatus(enum.Enum):
    """The ``Status`` of the envelope a durable handler returns to Lambda.

    ``RETRY`` is never returned: it names an invocation that raised so that
    Lambda invokes the function again.
    """

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"
    RETRY = "RETRY"


class CallbackTimeoutType(enum.Enum):
    """The ``ErrorType`` the service records when a callback times out."""

    TIMEOUT = "Callback.Timeout"
    HEARTBEAT = "Callback.Heartbeat"


class OperationSubType(enum.StrEnum):
    """The SubType strings the official SDKs record (the API takes any string)."""

    STEP = "Step"
    WAIT = "Wait"
    CALLBACK = "Callback"
    RUN_IN_CHILD_CONTEXT = "RunInChildContext"
    MAP = "Map"
    MAP_ITERATION = "MapIteration"
    PARALLEL = "Parallel"
    PARALLEL_BRANCH = "ParallelBranch"
    WAIT_FOR_CALLBACK = "WaitForCallback"
    WAIT_FOR_CONDITION = "WaitForCondition"
    CHAINED_INVOKE = "ChainedInvoke"


_TYPES = {t.value: t for t in OperationType}
_STATUSES = {s.value: s for s in OperationStatus}


def _timestamp(value: Any, *, field: str) -> float | None:
    """Read a timestamp: ``datetime`` (botocore), epoch ms (envelope) or None."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        stamp: float = value.timestamp()
        return stamp
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            seconds = float(value) / 1000.0
        except OverflowError:
            seconds = math.inf
        if math.isfinite(seconds):
            return seconds
    raise WireFormatError(
        f"{field} must be a datetime or epoch milliseconds, got {_preview(value)}"
    )


_CAPTURE_STACK_TRACES = False


def capture_stack_traces(*, enabled: bool) -> None:
    """Record tracebacks in the ``StackTrace`` of errors described from now on (process-wide).

    Off by default, as in the official SDK: a traceback can hold sensitive
    values and would leave the function in the checkpoint. The ``durable-exec``
    command line turns it on, since its store stays on the developer's machine.
    """
    global _CAPTURE_STACK_TRACES  # noqa: PLW0603 - one process-wide switch
    _CAPTURE_STACK_TRACES = enabled


@dataclasses.dataclass(slots=True)
class ErrorObject:
    """An error as the API stores it (``ErrorObject``).

    Attributes:
        message: ``ErrorMessage``.
        type: ``ErrorType``: the original exception's class name.
        data: ``ErrorData``: optional extra data.
        stack_trace: ``StackTrace``: optional list of lines.
    """

    message: str | None = None
    type: str | None = None
    data: str | None = None
    stack_trace: list[str] | None = None

    @classmethod
    def from_exception(cls, exception: BaseException) -> ErrorObject:
        """Describe ``exception`` as the official SDK does.

        The message is ``str(exception)`` (an operation error's ``message``); the type
        is the class name (builtins bare, the SDK's own errors under the official
        SDK's names, anything else ``module.QualName``). An operation error keeps its
        ``data`` and ``stack_trace``; no traceback is captured, since it could
        hold sensitive values, unless :func:`capture_stack_traces` turned it on.
        """
        if isinstance(exception, DurableOperationError | SerDesError):
            kind = SerDesError if isinstance(exception, SerDesError) else type(exception)
            return cls(
                message=exception.message,
                type=wire_type_name(kind),
                data=exception.data,
                stack_trace=exception.stack_trace,
            )
        trace = None
        if _CAPTURE_STACK_TRACES and exception.__traceback__ is not None:
            trace = traceback.format_exception(type(exception), exception, exception.__traceback__)
        return cls(message=str(exception), type=wire_type_name(type(exception)), stack_trace=trace)

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any] | None) -> ErrorObject | None:
        """Parse an ``ErrorObject`` dict (``None`` passes through)."""
        if raw is None:
            return None
        if not isinstance(raw, Mapping):
            raise WireFormatError(f"an error object must be a JSON object, got {raw!r}")
        stack = raw.get("StackTrace")
        if stack is not None and not (
            isinstance(stack, list) and all(isinstance(s, str) for s in stack)
        ):
            raise WireFormatError("ErrorObject.StackTrace must be a list of strings")
        return cls(
            message=_opt_str(raw, "ErrorMessage"),
            type=_opt_str(raw, "ErrorType"),
            data=_opt_str(raw, "ErrorData"),
            stack_trace=stack,
        )

    @classmethod
    def from_message(cls, message: str) -> ErrorObject:
        """Return an error carrying only ``message`` (e.g. to fail a callback)."""
        return cls(message=message)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ErrorObject:
        """Parse the API's ``ErrorObject`` dict (``ErrorMessage``, ``ErrorType``, ...).

        Raises:
            WireFormatError: A member has the wrong type.
        """
        parsed = cls.from_wire(data)
        assert parsed is not None
        return parsed

    def to_dict(self) -> dict[str, Any]:
        """Return the API's ``ErrorObject`` dict (absent members omitted)."""
        return self.to_wire()

    def to_durable_operation_error(self) -> DurableOperationError:
        """Rebuild the recorded error as the SDK error class its type names.

        A :class:`DurableOperationError` subclass the SDK knows (its own, or one
        registered with ``register_operation_error``) comes back as itself; any
        other type as a plain :class:`DurableOperationError` carrying the fields.
        """
        return DurableOperationError.from_error_fields(
            self.type, self.message, self.data, self.stack_trace
        )

    def as_operation_error(
        self, operation_error_cls: builtins.type[DurableOperationError]
    ) -> DurableOperationError | SerDesError:
        """Return the exception an operation raises for this recorded failure.

        ``operation_error_cls`` (``StepError``, ``ChildContextError``...) carrying
        this object's fields, whose ``__cause__`` is :meth:`to_durable_operation_error`;
        a recorded serdes failure is a :class:`SerDesError` whatever the operation.
        The first run and every replay build their errors here, so they raise the
        same thing.
        """
        cause = self.to_durable_operation_error()
        error: DurableOperationError | SerDesError
        if class_for_wire_type(self.type) is SerDesError:
            error = SerDesError(self.message, self.type, self.data, self.stack_trace)
            error.__cause__ = DurableOperationError(
                self.message, self.type, self.data, self.stack_trace
            )
            return error
        error = operation_error_cls(self.message, self.type, self.data, self.stack_trace)
        error.__cause__ = cause
        return error

    def raise_as_operation_error(
        self, operation_error_cls: builtins.type[DurableOperationError]
    ) -> NoReturn:
        """Raise :meth:`as_operation_error`, its cause attached."""
        error = self.as_operation_error(operation_error_cls)
        raise error from error.__cause__

    def to_wire(self) -> dict[str, Any]:
        """Return the API's ``ErrorObject`` dict (absent members omitted)."""
        out: dict[str, Any] = {}
        if self.message is not None:
            out["ErrorMessage"] = self.message
        if self.type is not None:
            out["ErrorType"] = self.type
        if self.data is not None:
            out["ErrorData"] = self.data
        if self.stack_trace is not None:
            out["StackTrace"] = list(self.stack_trace)
        return out

    def size(self) -> int:
        """Return the UTF-8 size of all fields together (the API caps it at 1 MiB)."""
        total = 0
        for part in (self.message, self.type, self.data):
            if part:
                total += len(part.encode())
        for line in self.stack_trace or ():
            total += len(line.encode())
        return total


def _opt_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is None or isinstance(value, str):
        return value
    raise WireFormatError(f"{key} must be a string, got {type(value).__name__}")


_DETAILS_KEYS = (
    "StepDetails",
    "ContextDetails",
    "CallbackDetails",
    "ChainedInvokeDetails",
    "WaitDetails",
    "ExecutionDetails",
)


@dataclasses.dataclass(slots=True)
class Operation:
    """One checkpointed operation (``Operation``), details flattened.

    Attributes:
        id: ``Id``.
        type: ``Type``.
        status: ``Status``.
        parent_id: ``ParentId``.
        name: ``Name``.
        sub_type: ``SubType``.
        start_timestamp: ``StartTimestamp`` (epoch seconds).
        end_timestamp: ``EndTimestamp`` (epoch seconds).
        result: ``*Details.Result`` of any details block.
        error: ``*Details.Error`` of any details block.
        attempt: ``StepDetails.Attempt``.
        next_attempt_timestamp: ``StepDetails.NextAttemptTimestamp`` (epoch seconds).
        scheduled_end_timestamp: ``WaitDetails.ScheduledEndTimestamp`` (epoch seconds).
        callback_id: ``CallbackDetails.CallbackId``.
        replay_children: ``ContextDetails.ReplayChildren``.
        input_payload: ``ExecutionDetails.InputPayload``.
    """

    id: str
    type: OperationType
    status: OperationStatus
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    start_timestamp: float | None = None
    end_timestamp: float | None = None
    result: str | None = None
    error: ErrorObject | None = None
    attempt: int | None = None
    next_attempt_timestamp: float | None = None
    scheduled_end_timestamp: float | None = None
    callback_id: str | None = None
    replay_children: bool | None = None
    input_payload: str | None = None

    @property
    def is_terminal(self) -> bool:
        """Whether the operation has reached a final status."""
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_wire(cls, raw: Mapping[str, Any]) -> Operation:
        """Parse one ``Operation`` dict from botocore or from the invocation envelope.

        Raises:
            WireFormatError: a required member is missing or a value has the wrong type.
        """
        if not isinstance(raw, Mapping):
            raise WireFormatError(f"an operation must be a JSON object, got {type(raw).__name__}")
        op_id = raw.get("Id")
        if not isinstance(op_id, str) or not op_id:
            # Never quote the operation: its Result or Error could be anything.
            raise WireFormatError(
                f"operation without a valid Id (Id is a {type(op_id).__name__}, "
                f"Type {_preview(raw.get('Type'))})"
            )
        raw_type, raw_status = raw.get("Type"), raw.get("Status")
        # Only strings are looked up: a list or dict here would be unhashable.
        op_type = _TYPES.get(raw_type) if isinstance(raw_type, str) else None
        if op_type is None:
            raise WireFormatError(f"operation {op_id} has unknown Type {_preview(raw_type)}")
        status = _STATUSES.get(raw_status) if isinstance(raw_status, str) else None
        if status is None:
            raise WireFormatError(f"operation {op_id} has unknown Status {_preview(raw_status)}")
        op = cls(
            id=op_id,
            type=op_type,
            status=status,
            parent_id=_opt_str(raw, "ParentId"),
            name=_opt_str(raw, "Name"),
            sub_type=_opt_str(raw, "SubType") or None,
            start_timestamp=_timestamp(raw.get("StartTimestamp"), field="StartTimestamp"),
            end_timestamp=_timestamp(raw.get("EndTimestamp"), field="EndTimestamp"),
        )
        for key in _DETAILS_KEYS:
            details = raw.get(key)
            if details is None:
                continue
            if not isinstance(details, Mapping):
                raise WireFormatError(f"operation {op_id}: {key} must be a JSON object")
            op._read_details(key, details)
        return op

    def _read_details(self, key: str, details: Mapping[str, Any]) -> None:
        if "Result" in details:
            self.result = _opt_str(details, "Result")
        if "Error" in details:
            self.error = ErrorObject.from_wire(details["Error"])
        if key == "StepDetails":
            attempt = details.get("Attempt")
            if attempt is not None and (not isinstance(attempt, int) or isinstance(attempt, bool)):
                raise WireFormatError(f"operation {self.id}: StepDetails.Attempt must be an int")
            self.attempt = attempt
            self.next_attempt_timestamp = _timestamp(
                details.get("NextAttemptTimestamp"), field="NextAttemptTimestamp"
            )
        elif key == "WaitDetails":
            self.scheduled_end_timestamp = _timestamp(
                details.get("ScheduledEndTimestamp"), field="ScheduledEndTimestamp"
            )
        elif key == "CallbackDetails":
            self.callback_id = _opt_str(details, "CallbackId")
        elif key == "ContextDetails":
            replay = details.get("ReplayChildren")
            self.replay_children = bool(replay) if replay is not None else None
        elif key == "ExecutionDetails":
            self.input_payload = _opt_str(details, "InputPayload")


def _preview(raw: Any) -> str:
    text = repr(raw)
    return text if len(text) <= 200 else text[:200] + "..."


_OPTIONS_KEY = {
    OperationType.CONTEXT: "ContextOptions",
    OperationType.STEP: "StepOptions",
    OperationType.WAIT: "WaitOptions",
    OperationType.CALLBACK: "CallbackOptions",
    OperationType.CHAINED_INVOKE: "ChainedInvokeOptions",
}


@dataclasses.dataclass(slots=True)
class OperationUpdate:
    """One element of ``CheckpointDurableExecution.Updates``.

    ``options`` holds the type-specific options block (``StepOptions``,
    ``WaitOptions``, ...) in wire form; it is sent under the member that
    matches ``type``.
    """

    id: str
    type: OperationType
    action: OperationAction
    parent_id: str | None = None
    name: str | None = None
    sub_type: str | None = None
    payload: str | None = None
    error: ErrorObject | None = None
    options: dict[str, Any] | None = None

    def to_wire(self) -> dict[str, Any]:
        """Return the API's ``OperationUpdate`` dict (absent members omitted)."""
        out: dict[str, Any] = {"Id": self.id, "Type": self.type.value, "Action": self.action.value}
        # Empty strings are omitted, as the official SDK does (the API wants 1+ characters).
        if self.parent_id:
            out["ParentId"] = self.parent_id
        if self.name:
            out["Name"] = self.name
        if self.sub_type:
            out["SubType"] = self.sub_type
        if self.payload is not None:
            out["Payload"] = self.payload
        if self.error is not None:
            out["Error"] = self.error.to_wire()
        if self.options:
            out[_OPTIONS_KEY[self.type]] = self.options
        return out

    def size(self) -> int:
        """Return an estimate of the update's size on the wire, in bytes."""
        size = 120 + len(self.id) + len(self.parent_id or "") + len(self.name or "")
        if self.payload is not None:
            size += len(self.payload) if self.payload.isascii() else len(self.payload.encode())
        if self.error is not None:
            size += self.error.size()
        return size
