"""The instrumentation plugin API: the hooks a plugin overrides and what they receive.

A plugin observes executions without taking part in them: OpenTelemetry
tracing, metrics, audit logs. Register *factories* with
``@durable_execution(plugins=[MyFactory()])`` (or name installed ones in
``DURABLE_EXECUTION_PLUGINS``); each factory's ``create_plugin(info)`` builds
one plugin instance per invocation, which then receives:

* ``on_invocation_start`` / ``on_invocation_end``: on the handler's thread,
  before the handler runs and after every other hook of the invocation;
* ``on_operation_start``: before an operation's START is checkpointed, or when
  replay reaches an operation still in progress (``is_replayed``);
* ``on_user_function_start`` / ``on_user_function_end``: around the user code
  of a step attempt, a child context (map and parallel included) and a
  ``wait_for_condition`` check, on the thread that runs it;
* ``on_operation_end``: once an operation is terminal, on the thread that
  observes its result, before that result reaches user code (once per
  operation per invocation; an operation replayed from an earlier invocation's
  terminal checkpoint is not reported again, except a child context whose body
  runs again because it has no stored result);
* ``on_operation_change``: after each checkpoint response that changed
  operation statuses, on a per-invocation thread (several responses may be
  merged into one call);
* ``provide_propagation_metadata``: before a chained invoke's START, to pass a
  trace header to the invoked function.

Plugins never decide an execution's outcome: whatever a hook raises goes to
the ``durable_exec.plugins`` log and is dropped. Stop signals are the one
exception (``KeyboardInterrupt``, ``SystemExit``, ``GeneratorExit``).

The types mirror the official SDK's ``plugin`` module field for field; plugins
written against the official module (such as the official OpenTelemetry
plugin) are handed the official module's types.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from collections.abc import Mapping
from typing import Any, Protocol

from durable_exec._clock import SYSTEM_CLOCK
from durable_exec._wire import ErrorObject, Operation, OperationStatus

__all__ = [
    "DurableInstrumentationPlugin",
    "DurableInstrumentationPluginFactory",
    "InvocationEndInfo",
    "InvocationInfo",
    "InvocationStartInfo",
    "InvocationStatus",
    "OperationChangeInfo",
    "OperationEndInfo",
    "OperationInfo",
    "OperationStartInfo",
    "OperationType",
    "PropagationInput",
    "PropagationMetadata",
    "UserFunctionEndInfo",
    "UserFunctionOutcome",
    "UserFunctionStartInfo",
    "to_datetime",
]


class InvocationStatus(enum.Enum):
    """How an invocation ended, as plugins see it (``RETRY``: it raised; Lambda retries)."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    PENDING = "PENDING"
    RETRY = "RETRY"


class OperationType(enum.Enum):
    """The kind of an operation, as plugins see it."""

    EXECUTION = "EXECUTION"
    CONTEXT = "CONTEXT"
    STEP = "STEP"
    WAIT = "WAIT"
    CALLBACK = "CALLBACK"
    CHAINED_INVOKE = "CHAINED_INVOKE"


def to_datetime(timestamp: float | None) -> datetime.datetime | None:
    """Epoch seconds to an aware UTC datetime (``None`` stays ``None``)."""
    if timestamp is None:
        return None
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC)


def _error_snapshot(error: ErrorObject | None) -> ErrorObject | None:
    """``error`` with a stack-trace list of its own: the checkpointed error stays as stored."""
    if error is None:
        return None
    trace = error.stack_trace
    return dataclasses.replace(error, stack_trace=None if trace is None else [*trace])


@dataclasses.dataclass(frozen=True)
class OperationInfo:
    """One operation, as a hook reports it.

    Attributes:
        operation_id: The operation's id.
        operation_type: Its kind.
        sub_type: The recorded SubType (``"Step"``, ``"Map"``...), ``None`` for the
            execution itself. A plain ``str``: compare it with ``==``.
        name: Its name, if any.
        parent_id: The enclosing context's operation id, if any.
        start_time: When it started, if known.
        is_replayed: Whether it was recorded by an earlier invocation.
        status: Its status.
        end_time: When it ended, if it has.
        result: The serialised result, when there is one.
        error: The error, when there is one (a copy).
        attempt: A step's finished attempts (or the attempt running, for user functions).
    """

    operation_id: str
    operation_type: OperationType
    sub_type: str | None
    name: str | None
    parent_id: str | None
    start_time: datetime.datetime | None
    is_replayed: bool
    status: OperationStatus
    end_time: datetime.datetime | None = dataclasses.field(default=None, kw_only=True)
    result: str | None = dataclasses.field(default=None, kw_only=True)
    error: ErrorObject | None = dataclasses.field(default=None, kw_only=True)
    attempt: int | None = dataclasses.field(default=None, kw_only=True)

    @staticmethod
    def from_operation(operation: Operation, *, is_replayed: bool = False) -> OperationInfo:
        """Describe a checkpointed operation."""
        return OperationInfo(**_fields_of(operation, is_replayed=is_replayed))


def _fields_of(operation: Operation, *, is_replayed: bool) -> dict[str, Any]:
    return {
        "operation_id": operation.id,
        "operation_type": OperationType(operation.type.value),
        "sub_type": operation.sub_type,
        "name": operation.name,
        "parent_id": operation.parent_id,
        "start_time": to_datetime(operation.start_timestamp),
        "end_time": to_datetime(operation.end_timestamp),
        "result": operation.result,
        "error": _error_snapshot(operation.error),
        "attempt": operation.attempt if operation.type.value == "STEP" else None,
        "is_replayed": is_replayed,
        "status": operation.status,
    }


def operation_infos(
    operations: Mapping[str, Operation] | list[Operation],
) -> dict[str, OperationInfo]:
    """Describe a set of operations, keyed by id (stored state: ``is_replayed`` False)."""
    values = operations.values() if isinstance(operations, Mapping) else operations
    return {op.id: OperationInfo.from_operation(op) for op in values}


@dataclasses.dataclass(frozen=True)
class OperationStartInfo(OperationInfo):
    """An operation starts (or replay reaches one still in progress)."""


@dataclasses.dataclass(frozen=True)
class OperationEndInfo(OperationInfo):
    """An operation reached a terminal status."""

    @staticmethod
    def from_terminal(operation: Operation) -> OperationEndInfo:
        """Describe a terminal checkpointed operation for ``on_operation_end``."""
        return OperationEndInfo(**_fields_of(operation, is_replayed=False))


@dataclasses.dataclass(frozen=True)
class OperationChangeInfo:
    """Operations a checkpoint response changed.

    Attributes:
        execution_arn: The execution.
        updated_operations: The newest state of each operation whose status changed.
        operations: Every known operation, after the change.
    """

    execution_arn: str | None
    updated_operations: dict[str, OperationInfo]
    operations: dict[str, OperationInfo]


class UserFunctionOutcome(enum.Enum):
    """How user code ended: returned, raised, or was stopped (suspension, orphaned branch)."""

    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    INCOMPLETE = "INCOMPLETE"

    @classmethod
    def from_error(cls, error: ErrorObject | None) -> UserFunctionOutcome:
        """``SUCCEEDED`` without an error, ``FAILED`` with one."""
        return cls.SUCCEEDED if error is None else cls.FAILED


@dataclasses.dataclass(frozen=True)
class UserFunctionStartInfo(OperationInfo):
    """User code of an operation starts.

    Attributes:
        is_replay_children: The code runs again to rebuild a result that was not
            stored (a large child context, map or parallel result).
    """

    is_replay_children: bool = False


@dataclasses.dataclass(frozen=True)
class UserFunctionEndInfo(OperationInfo):
    """User code of an operation ended.

    Attributes:
        is_replay_children: As in :class:`UserFunctionStartInfo`.
        outcome: Returned, raised, or stopped.
    """

    is_replay_children: bool
    outcome: UserFunctionOutcome

    @classmethod
    def from_start_info(
        cls,
        start_info: UserFunctionStartInfo,
        error: ErrorObject | None,
        *,
        outcome: UserFunctionOutcome | None = None,
        end_time: datetime.datetime | None = None,
    ) -> UserFunctionEndInfo:
        """The end matching ``start_info`` (outcome from ``error`` unless given)."""
        return cls(
            operation_id=start_info.operation_id,
            operation_type=start_info.operation_type,
            sub_type=start_info.sub_type,
            name=start_info.name,
            parent_id=start_info.parent_id,
            start_time=start_info.start_time,
            is_replayed=start_info.is_replayed,
            status=start_info.status,
            is_replay_children=start_info.is_replay_children,
            attempt=start_info.attempt,
            outcome=outcome if outcome is not None else UserFunctionOutcome.from_error(error),
            end_time=end_time if end_time is not None else to_datetime(SYSTEM_CLOCK.now()),
            error=error,
        )


@dataclasses.dataclass(frozen=True)
class InvocationInfo:
    """One invocation of the handler.

    ``execution_input`` and ``operations`` hold user data, so they are left out
    of ``repr`` (plugins often log infos whole) and of equality.

    Attributes:
        request_id: Lambda's request id, if known.
        execution_arn: The execution.
        is_first_invocation: Whether nothing but the execution itself was recorded before.
        execution_start_time: When the execution started.
        execution_input: The handler's input (a copy).
        operations: Every known operation (at start, or at end for the end hook).
    """

    request_id: str | None
    execution_arn: str | None
    is_first_invocation: bool
    execution_start_time: datetime.datetime | None = None
    execution_input: Any = dataclasses.field(
        default=None, kw_only=True, repr=False, compare=False, hash=False
    )
    operations: dict[str, OperationInfo] = dataclasses.field(
        default_factory=dict, kw_only=True, repr=False, compare=False, hash=False
    )


@dataclasses.dataclass(frozen=True)
class InvocationStartInfo(InvocationInfo):
    """An invocation starts.

    Attributes:
        updated_operations: The operations that changed while the execution was
            suspended (a wait that elapsed, a callback answered, an invoke that
            finished): ``UpdatedOperationIds`` of the invocation.
    """

    updated_operations: dict[str, OperationInfo] = dataclasses.field(
        default_factory=dict, kw_only=True, repr=False, compare=False, hash=False
    )


@dataclasses.dataclass(frozen=True)
class InvocationEndInfo(InvocationInfo):
    """An invocation ended.

    Attributes:
        status: How it ended.
        error: The error it ended with, if any.
        execution_result: The serialised result (``""`` when it was checkpointed
            because it was too large), for a SUCCEEDED invocation.
    """

    status: InvocationStatus = dataclasses.field(kw_only=True)
    error: ErrorObject | None = None
    execution_result: str | None = dataclasses.field(
        default=None, kw_only=True, repr=False, compare=False, hash=False
    )

    @classmethod
    def from_durable_execution_invocation_output(
        cls,
        invocation_start_info: InvocationStartInfo,
        output: Any,
        operations: dict[str, OperationInfo] | None = None,
    ) -> InvocationEndInfo:
        """The end of the invocation ``invocation_start_info`` began.

        Args:
            invocation_start_info: What the start hook received.
            output: The output envelope (``{"Status": ..., "Result": ..., "Error": ...}``)
                or an object with ``status``, ``result`` and ``error``.
            operations: The operations as the invocation ends (default: as it started).
        """
        if isinstance(output, Mapping):
            status = str(output.get("Status"))
            result = output.get("Result")
            error = ErrorObject.from_wire(output.get("Error"))
        else:
            raw_status = output.status
            status = str(getattr(raw_status, "value", raw_status))
            result = output.result
            raw_error = output.error
            error = (
                ErrorObject(
                    raw_error.message, raw_error.type, raw_error.data, raw_error.stack_trace
                )
                if raw_error is not None
                else None
            )
        return cls(
            request_id=invocation_start_info.request_id,
            execution_arn=invocation_start_info.execution_arn,
            is_first_invocation=invocation_start_info.is_first_invocation,
            execution_start_time=invocation_start_info.execution_start_time,
            execution_input=invocation_start_info.execution_input,
            operations=operations if operations is not None else invocation_start_info.operations,
            status=InvocationStatus(status),
            error=error,
            execution_result=result,
        )


@dataclasses.dataclass(frozen=True)
class PropagationInput:
    """A chained invoke about to start, for ``provide_propagation_metadata``.

    Attributes:
        execution_arn: The calling execution.
        operation_id: The invoke operation's id.
        target_function_name: The function being invoked.
        parent_operation_id: The enclosing context's operation id, if any.
    """

    execution_arn: str
    operation_id: str
    target_function_name: str
    parent_operation_id: str | None = None


@dataclasses.dataclass(frozen=True)
class PropagationMetadata:
    """What a plugin passes to an invoked function.

    Attributes:
        x_amzn_trace_id: An X-Ray trace header (``Root=...;Parent=...;Sampled=...``),
            sent as ``ChainedInvokeOptions.XAmznTraceId``.
    """

    x_amzn_trace_id: str | None = None


class DurableInstrumentationPlugin:
    """Subclass this and override only the hooks your plugin is interested in; the rest are no-ops.

    One instance serves one invocation (see the module docstring for when and
    on which thread each hook runs). Hooks run synchronously on the SDK's
    threads; hooks of map/parallel branches run concurrently, so guard shared
    state with a lock. Do slow work (exports) on your own thread and finish it
    in :meth:`on_invocation_end`. Never call durable operations from a hook.
    """

    def provide_propagation_metadata(self, info: PropagationInput) -> PropagationMetadata | None:
        """Return a trace header for a chained invoke about to start (first non-blank wins)."""
        return None

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        """The invocation starts (handler thread, before the handler)."""

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        """The invocation ended (handler thread, after every other hook)."""

    def on_operation_start(self, info: OperationStartInfo) -> None:
        """An operation starts, or replay reaches one still in progress."""

    def on_operation_end(self, info: OperationEndInfo) -> None:
        """An operation is terminal (before its result reaches user code)."""

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        """A checkpoint response changed operations (on the plugin change thread)."""

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        """User code of an operation starts (on the thread that runs it)."""

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        """User code of an operation ended (on the thread that ran it)."""


class DurableInstrumentationPluginFactory(Protocol):
    """What ``plugins=[...]`` takes: an object that makes a fresh plugin for every invocation.

    Keep what outlives an invocation (an exporter, configuration) on the
    factory, and per-invocation state on the plugin::

        class AuditFactory:
            def __init__(self, sink):
                self.sink = sink

            def create_plugin(self, info):
                return AuditPlugin(self.sink)

    A factory class may declare ``__durable_registration_api__ = 1`` with an
    ``exclusive_group`` (two factories of one group cannot be registered
    together) and an ``on_registration_result(registered: bool)`` callback.
    """

    def create_plugin(self, info: InvocationStartInfo, /) -> DurableInstrumentationPlugin:
        """Make the plugin that watches the invocation ``info`` starts (raise or ``None``: none)."""
        ...
