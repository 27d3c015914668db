"""Replay a recorded history against the current code, without running any step.

:func:`replay_history` feeds a history (from a :class:`DurableTestRunner`
result, the local store, ``GetDurableExecutionHistory``, a JSON file, or the
official SDK) to a handler in one in-process invocation and watches what the
code asks for:

* every operation the code asks for must match the history at its position
  (type, subtype, name, parent), else :class:`NonDeterministicExecutionError`
  names the first divergent operation: expected vs actual type, name and position;
* nothing new runs: the replay stops where the code asks for an operation the
  history does not hold (or waits for the service). For a recorded execution that
  had ended, asking for a new operation is itself a divergence;
* a handler that finishes must have asked for every operation the history holds
  in the contexts it ran.

Step bodies never run: completed steps return their recorded results, and a step
the history shows in progress counts as the end of the history.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import os
import pathlib
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from durable_exec._clock import Clock
from durable_exec._context import root_context
from durable_exec._errors import NonDeterministicExecutionError, ValidationError
from durable_exec._handler import DurableHandler
from durable_exec._ids import operation_id
from durable_exec._logging import DEFAULT_LOGGER, DurableLogger
from durable_exec._operations.base import Invocation
from durable_exec._signals import BranchOrphaned, DeadlineApproaching, SuspendExecution
from durable_exec._state import ExecutionState
from durable_exec._wire import (
    Operation,
    OperationStatus,
    OperationType,
    OperationUpdate,
    WireFormatError,
)
from durable_exec.testing._clock import VirtualClock

__all__ = [
    "RecordedHistory",
    "ReplayResult",
    "load_history",
    "replay_histories_test",
    "replay_history",
]

_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
_ARN = "arn:aws:lambda:us-east-1:000000000000:function:replay:$LATEST/durable-execution/replay/{}"


# -- histories ----------------------------------------------------------------------


@dataclasses.dataclass
class RecordedHistory:
    """A recorded execution, as the replayer reads it.

    Attributes:
        operations: Every operation (the EXECUTION operation included), in history order.
        status: The execution's status when recorded (``RUNNING`` if it had not ended).
        arn: The execution's ARN (a made-up one when the source has none).
        source: Where it came from, for messages.
    """

    operations: list[Operation]
    status: str
    arn: str
    source: str = "history"

    @property
    def ended(self) -> bool:
        """Whether the recorded execution had ended (SUCCEEDED, FAILED, TIMED_OUT, STOPPED)."""
        return self.status in _TERMINAL


def load_history(history: Any) -> RecordedHistory:
    """Read a history from any of the shapes :func:`replay_history` accepts.

    Accepted: a :class:`~durable_exec.testing.TestResult`; a path (``str`` or
    ``os.PathLike``) to a JSON file holding one of the shapes below; a
    ``GetDurableExecutionHistory`` response (``{"Events": [...]}``) or the local
    store's export (``durable-exec history --json``: ``{"events": [...]}``); a
    ``GetDurableExecutionState`` response or invocation envelope
    (``{"Operations": [...]}``, ``{"InitialExecutionState": ...}``); a history
    recorded with the official SDK (``{"operations": [...]}``); a list of
    operations; a stored execution record of the local service.

    Raises:
        ValidationError: The value is none of these, or holds no payloads
            (histories read without execution data cannot be replayed).
    """
    from durable_exec.testing._runner import TestResult

    if isinstance(history, RecordedHistory):
        return history
    if isinstance(history, TestResult):
        return RecordedHistory(list(history.operations), history.status, history.arn, "TestResult")
    if isinstance(history, str | os.PathLike):
        path = pathlib.Path(history)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ValidationError(f"cannot read history file {path}: {exc}") from exc
        except ValueError as exc:
            raise ValidationError(f"history file {path} is not JSON: {exc}") from exc
        return _from_data(data, str(path))
    ops = getattr(history, "ops", None)
    if isinstance(ops, dict) and hasattr(history, "order"):  # a local store's ExecutionRecord
        from durable_exec.testing._model import render_operation, to_millis

        wire = [render_operation(op, to_millis) for op in history.order]
        return _from_operations(wire, getattr(history, "status", None), history.arn, "store")
    return _from_data(history, type(history).__name__)


def _from_data(data: Any, source: str) -> RecordedHistory:
    if isinstance(data, list):
        return _from_operations(data, None, None, source)
    if not isinstance(data, Mapping):
        raise ValidationError(
            f"cannot read a history from {source}: expected a TestResult, a JSON file, a "
            "GetDurableExecutionHistory/GetDurableExecutionState response, the output of "
            "`durable-exec history --json`, or a list of operations"
        )
    arn = data.get("DurableExecutionArn") or data.get("execution_arn") or data.get("arn")
    for key in ("Events", "events"):
        if isinstance(data.get(key), list):
            return _from_events(data[key], arn, source)
    initial = data.get("InitialExecutionState")
    if isinstance(initial, Mapping):
        return _from_operations(initial.get("Operations") or [], None, arn, source)
    for key in ("Operations", "operations"):
        value = data.get(key)
        if isinstance(value, list):
            if value and isinstance(value[0], Mapping) and "Id" not in value[0]:
                raise ValidationError(
                    f"{source} looks like `durable-exec show --json` output, whose values are "
                    "for display; export the raw history with `durable-exec history --json`"
                )
            return _from_operations(value, data.get("status"), arn, source)
    raise ValidationError(f"{source} holds no operations or events to replay")


def _iso(value: Any) -> Any:
    """JSON files hold timestamps as ISO text; the wire codec takes datetimes."""
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _times(raw: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(raw)
    for key in ("StartTimestamp", "EndTimestamp"):
        if key in out:
            out[key] = _iso(out[key])
    for details in ("StepDetails", "WaitDetails"):
        if isinstance(out.get(details), Mapping):
            inner = dict(out[details])
            for key in ("NextAttemptTimestamp", "ScheduledEndTimestamp"):
                if key in inner:
                    inner[key] = _iso(inner[key])
            out[details] = inner
    return out


def _from_operations(raw_ops: Iterable[Any], status: Any, arn: Any, source: str) -> RecordedHistory:
    operations: list[Operation] = []
    for raw in raw_ops:
        if isinstance(raw, Operation):
            operations.append(raw)
            continue
        if not isinstance(raw, Mapping):
            raise ValidationError(f"{source}: an operation must be an object, got {raw!r:.60}")
        try:
            operations.append(Operation.from_wire(_times(raw)))
        except WireFormatError as exc:
            raise ValidationError(f"{source}: {exc}") from exc
    execution = next((op for op in operations if op.type is OperationType.EXECUTION), None)
    if execution is None:
        raise ValidationError(f"{source} holds no EXECUTION operation (the execution's input)")
    recorded = status if isinstance(status, str) and status else execution.status.value
    name = arn if isinstance(arn, str) and arn else _ARN.format(execution.id)
    return RecordedHistory(operations, recorded, name, source)


_EVENT_TYPES = {
    "Execution": OperationType.EXECUTION,
    "Context": OperationType.CONTEXT,
    "Step": OperationType.STEP,
    "Wait": OperationType.WAIT,
    "Callback": OperationType.CALLBACK,
    "ChainedInvoke": OperationType.CHAINED_INVOKE,
}
_EVENT_OUTCOMES = {
    "Started": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Stopped": "STOPPED",
    "Cancelled": "CANCELLED",
}
_DETAILS = {
    OperationType.STEP: "StepDetails",
    OperationType.CONTEXT: "ContextDetails",
    OperationType.CALLBACK: "CallbackDetails",
    OperationType.CHAINED_INVOKE: "ChainedInvokeDetails",
    OperationType.WAIT: "WaitDetails",
    OperationType.EXECUTION: "ExecutionDetails",
}


def _payload(member: Any, source: str, event: Mapping[str, Any]) -> Any:
    if not isinstance(member, Mapping):
        return None
    if member.get("Truncated") and "Payload" not in member:
        raise ValidationError(
            f"{source}: event {event.get('EventId')} ({event.get('EventType')}) has no payload: "
            "fetch the history with IncludeExecutionData=True to replay it"
        )
    return member.get("Payload")


def _split_event_type(event_type: str) -> tuple[OperationType, str] | None:
    for prefix, op_type in _EVENT_TYPES.items():
        if event_type.startswith(prefix):
            outcome = _EVENT_OUTCOMES.get(event_type[len(prefix) :])
            if outcome is not None:
                return op_type, outcome
    return None


def _from_events(events: list[Any], arn: Any, source: str) -> RecordedHistory:
    """Rebuild operations from history events (the last event of each operation wins)."""
    ops: dict[str, dict[str, Any]] = {}
    status = "RUNNING"
    for event in events:
        if not isinstance(event, Mapping):
            continue
        kind = _split_event_type(str(event.get("EventType", "")))
        op_id = event.get("Id")
        if kind is None or not isinstance(op_id, str):
            continue
        op_type, outcome = kind
        details = event.get(f"{event['EventType']}Details") or {}
        when = _iso(event.get("EventTimestamp"))
        op = ops.setdefault(
            op_id,
            {"Id": op_id, "Type": op_type.value, "StartTimestamp": when},
        )
        for key in ("Name", "SubType", "ParentId"):
            if event.get(key) is not None:
                op[key] = event[key]
        inner = op.setdefault(_DETAILS[op_type], {})
        retry = details.get("RetryDetails") if isinstance(details, Mapping) else None
        if op_type is OperationType.EXECUTION:
            if outcome == "STARTED":
                inner["InputPayload"] = _payload(details.get("Input"), source, event)
            else:
                status = outcome
        if op_type is OperationType.STEP and isinstance(retry, Mapping):
            inner["Attempt"] = retry.get("CurrentAttempt")
            if retry.get("NextAttemptDelaySeconds") is not None and outcome != "STARTED":
                outcome = "PENDING"  # a retry: the step is not over
        if op_type is OperationType.CALLBACK and details.get("CallbackId"):
            inner["CallbackId"] = details["CallbackId"]
        if op_type is OperationType.WAIT and details.get("ScheduledEndTimestamp") is not None:
            inner["ScheduledEndTimestamp"] = _iso(details["ScheduledEndTimestamp"])
        if isinstance(details, Mapping):
            if "Result" in details:
                inner["Result"] = _payload(details["Result"], source, event)
            if "Error" in details:
                inner["Error"] = _payload(details["Error"], source, event)
        op["Status"] = outcome
        if outcome not in ("STARTED", "PENDING"):
            op["EndTimestamp"] = when
    return _from_operations(list(ops.values()), status, arn, source)


# -- the replay ---------------------------------------------------------------------


class _Frontier(BaseException):
    """The code went past the recorded history; the replay ends here."""

    def __init__(self, reason: str, update: OperationUpdate | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.update = update


class _ReplayState(ExecutionState):
    """The recorded operations; remembers what the code asked for, never lets a step re-run."""

    def __init__(self, arn: str, operations: list[Operation]) -> None:
        super().__init__(arn, [copy.copy(op) for op in operations])
        self.recorded = {op.id for op in operations}
        self.asked: set[str] = set()  # guarded by _asked_lock
        self._asked_lock = threading.Lock()

    def get(self, op_id: str) -> Operation | None:
        op = super().get(op_id)
        if op is None:
            return None
        with self._asked_lock:
            self.asked.add(op_id)
        if op.type is OperationType.STEP and op.status in (
            OperationStatus.STARTED,
            OperationStatus.READY,
        ):
            # An attempt in progress: it would run the body. Make it wait instead.
            pending = copy.copy(op)
            pending.status = OperationStatus.PENDING
            pending.next_attempt_timestamp = None
            return pending
        return op


class _ReplayCheckpointer:
    """Stands in for the checkpoint thread: accepts updates to recorded operations only."""

    def __init__(self, state: _ReplayState, clock: Clock) -> None:
        self._state = state
        self._clock = clock
        self.revoked = False
        self.failure: BaseException | None = None

    def _accept(self, update: OperationUpdate) -> None:
        if update.id not in self._state.recorded:
            raise _Frontier("asks for an operation the history does not hold", update)
        self._state.apply([update], self._clock.now())

    def enqueue(self, update: OperationUpdate, scope: Any = None) -> None:
        if scope is not None and scope.cancelled:
            raise BranchOrphaned
        self._accept(update)

    def checkpoint(self, update: OperationUpdate, scope: Any = None) -> None:
        self.enqueue(update, scope)

    def complete_scope(self, scope: Any, update: OperationUpdate) -> None:
        scope.cancel()
        self._accept(update)

    def refresh(self, scope: Any = None) -> None:
        raise _Frontier("waits for the service (a timer or another operation)")

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


@dataclasses.dataclass
class ReplayResult:
    """How a replay ended (returned only when the code matched the history).

    Attributes:
        outcome: ``"returned"`` (the handler returned), ``"raised"`` (it raised),
            ``"waiting"`` (it suspended where the recorded execution was waiting),
            or ``"end-of-history"`` (it asked for an operation the recording of a
            still running execution does not hold yet).
        result: What the handler returned.
        error: What the handler raised (``"raised"`` only).
        operations_replayed: How many recorded operations the code asked for.
        history: The history replayed.
    """

    outcome: str
    result: Any
    error: BaseException | None
    operations_replayed: int
    history: RecordedHistory


def _identity(op: Operation | OperationUpdate) -> str:
    sub = f" ({op.sub_type})" if op.sub_type else ""
    name = repr(op.name) if op.name else "(unnamed)"
    return f"{op.type.value}{sub} {name}"


def _position(op_id: str, parent_id: str | None) -> int | None:
    """The position of ``op_id`` in its context (1-based; map/parallel branches 0-based)."""
    for position in range(100_001):
        if operation_id(parent_id, position) == op_id:
            return position
    return None


def _where(history: RecordedHistory, op_id: str, parent_id: str | None) -> str:
    position = _position(op_id, parent_id)
    at = f"position {position}" if position is not None else f"id {op_id}"
    if parent_id is None:
        return f"{at} of the root context"
    parent = next((op for op in history.operations if op.id == parent_id), None)
    label = _identity(parent) if parent is not None else parent_id
    return f"{at} inside {label}"


def _divergence(
    history: RecordedHistory,
    *,
    op_id: str,
    parent_id: str | None,
    expected: str,
    actual: str,
    recorded: dict[str, str | None] | None,
    requested: dict[str, str | None] | None,
) -> NonDeterministicExecutionError:
    where = _where(history, op_id, parent_id)
    error = NonDeterministicExecutionError(
        f"{history.source}: the code diverges from the history at {where} "
        f"(operation {op_id}): expected {expected}, actual {actual}.",
        step_id=op_id,
    )
    error.recorded = recorded
    error.requested = requested
    return error


def _shape(op: Operation | OperationUpdate) -> dict[str, str | None]:
    return {
        "type": op.type.value,
        "sub_type": op.sub_type,
        "name": op.name,
        "parent_id": op.parent_id,
    }


def _describe(shape: Mapping[str, str | None]) -> str:
    sub = f" ({shape['sub_type']})" if shape.get("sub_type") else ""
    name = repr(shape["name"]) if shape.get("name") else "(unnamed)"
    return f"{shape['type']}{sub} {name}"


def replay_history(handler: DurableHandler[Any], history: Any) -> ReplayResult:
    """Replay ``history`` against ``handler``'s current code; raise if they diverge.

    Args:
        handler: A ``@durable_execution`` handler.
        history: A recorded history: a :class:`~durable_exec.testing.TestResult`, a
            JSON file path, a ``GetDurableExecutionHistory`` or
            ``GetDurableExecutionState`` response, ``durable-exec history --json``
            output, an official-SDK recording, or a list of operations
            (see :func:`load_history`).

    Returns:
        How the replay ended, when the code is deterministic with respect to the history.

    Raises:
        NonDeterministicExecutionError: The code asks for another operation than the
            history holds (the message names the first divergent one: expected and
            actual type, name and position), asks for a new operation although the
            recorded execution had ended, or finishes without asking for an
            operation the history holds.
        ValidationError: ``handler`` is not a durable handler, or the history
            cannot be read.
    """
    if not isinstance(handler, DurableHandler):
        raise ValidationError(
            f"replay_history needs a handler decorated with @durable_execution, got {handler!r}"
        )
    recorded = load_history(history)
    start = max(
        (op.end_timestamp or op.start_timestamp or 0.0 for op in recorded.operations),
        default=0.0,
    )
    clock = VirtualClock(start) if start > 0 else VirtualClock()
    state = _ReplayState(recorded.arn, recorded.operations)
    checkpointer = _ReplayCheckpointer(state, clock)
    invocation = Invocation(
        arn=recorded.arn,
        state=state,
        checkpointer=checkpointer,  # type: ignore[arg-type]
        clock=clock,
        lambda_context=None,
        logger=DurableLogger(DEFAULT_LOGGER, {"executionArn": recorded.arn}, lambda: True),
    )
    execution = state.execution
    payload = execution.input_payload if execution is not None else None
    user_input = json.loads(payload) if payload and payload.strip() else {}
    outcome, result, error = "returned", None, None
    try:
        try:
            result = handler.func(user_input, root_context(invocation))
        finally:
            invocation.join_executors()
    except NonDeterministicExecutionError as nde:
        raise _explain(recorded, nde) from None
    except _Frontier as frontier:
        update = frontier.update
        if recorded.ended and update is not None:
            raise _divergence(
                recorded,
                op_id=update.id,
                parent_id=update.parent_id,
                expected=f"nothing: the recorded execution ended ({recorded.status})",
                actual=f"{_identity(update)} (the code {frontier.reason})",
                recorded=None,
                requested=_shape(update),
            ) from None
        return ReplayResult("end-of-history", None, None, len(state.asked), recorded)
    except SuspendExecution:
        return ReplayResult("waiting", None, None, len(state.asked), recorded)
    except (BranchOrphaned, DeadlineApproaching):
        return ReplayResult("waiting", None, None, len(state.asked), recorded)
    except Exception as raised:
        outcome, error = "raised", raised
    _check_nothing_skipped(recorded, state, error)
    return ReplayResult(outcome, result, error, len(state.asked), recorded)


def _explain(
    history: RecordedHistory, nde: NonDeterministicExecutionError
) -> NonDeterministicExecutionError:
    """Turn the SDK's mismatch error into one naming expected/actual type, name and position."""
    op_id = nde.step_id
    op = next((o for o in history.operations if o.id == op_id), None) if op_id else None
    if op is None or nde.recorded is None or nde.requested is None:
        return nde
    return _divergence(
        history,
        op_id=op.id,
        parent_id=op.parent_id,
        expected=_describe(nde.recorded),
        actual=_describe(nde.requested),
        recorded=nde.recorded,
        requested=nde.requested,
    )


def _entered(op: Operation) -> bool:
    """Whether replaying ``op`` runs its body (so its children are asked for too)."""
    if op.type is not OperationType.CONTEXT:
        return False
    return not op.is_terminal or bool(op.replay_children)


def _check_nothing_skipped(
    history: RecordedHistory, state: _ReplayState, error: BaseException | None
) -> None:
    """A finished handler must have asked for every operation of the contexts it ran."""
    ended = (
        "the code finished without asking for it"
        if error is None
        else f"the code raised {type(error).__name__}: {error} before asking for it"
    )
    by_id = {op.id: op for op in history.operations}
    for op in history.operations:
        if op.type is OperationType.EXECUTION or op.id in state.asked:
            continue
        parent = by_id.get(op.parent_id) if op.parent_id else None
        if op.parent_id is None or (
            parent is not None and parent.id in state.asked and _entered(parent)
        ):
            raise _divergence(
                history,
                op_id=op.id,
                parent_id=op.parent_id,
                expected=_identity(op),
                actual=f"nothing ({ended})",
                recorded=_shape(op),
                requested=None,
            )


def replay_histories_test(
    handler: DurableHandler[Any] | Callable[[], DurableHandler[Any]],
    *paths: str | os.PathLike[str],
    pattern: str = "*.json",
) -> Callable[..., None]:
    """Return a pytest test that replays every recorded history file against ``handler``.

    One line in a test module makes "last month's histories still replay" a test::

        test_histories_replay = replay_histories_test(handler, "tests/histories")

    Each file (or each ``pattern`` match in each directory) becomes one
    parametrised case, named after the file.

    Args:
        handler: The durable handler (or a function returning it).
        paths: History files or directories of them.
        pattern: Which files of a directory are histories.

    Raises:
        ValidationError: No history file was found.
    """
    import pytest

    files: list[pathlib.Path] = []
    for path in map(pathlib.Path, paths):
        files.extend(sorted(path.glob(pattern)) if path.is_dir() else [path])
    if not files:
        raise ValidationError(f"no history files found in {', '.join(map(str, paths))}")

    @pytest.mark.parametrize("history_file", files, ids=[f.name for f in files])
    def test_history_replays(history_file: pathlib.Path) -> None:
        target = handler if isinstance(handler, DurableHandler) else handler()
        replay_history(target, history_file)

    return test_history_replays
