"""The local service's state machine: applying updates, timers, completions.

:class:`Engine` changes :class:`~durable_exec.testing._model.ExecutionRecord`
objects in place and keeps the cross-execution indexes (the timer wake-up heap
and the chained-invoke queue). It neither locks nor validates: the service
holds its lock around every call and validates each batch before applying it.
Each change records its history event and marks the operation as unseen by the
handler (and, when the service made it, as a reason to invoke the handler again).
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import os
import re
import secrets
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from durable_exec.testing._errors import (
    ALREADY_STARTED,
    CALLBACK_TIMEOUT,
    RESOURCE_NOT_FOUND,
    ServiceFault,
    invalid,
)
from durable_exec.testing._history import add_event, error_data, payload_data
from durable_exec.testing._model import (
    CALLBACK,
    CANCELLED,
    CHAINED_INVOKE,
    CONTEXT,
    EXECUTION,
    FAILED,
    PENDING,
    READY,
    RUNNING,
    STARTED,
    STEP,
    STOPPED,
    SUCCEEDED,
    TIMED_OUT,
    TIMER_CALLBACK,
    TIMER_EXECUTION,
    TIMER_HEARTBEAT,
    TIMER_RETRY,
    TIMER_WAIT,
    WAIT,
    ErrorObject,
    ExecutionRecord,
    OperationRecord,
    render_operation,
    to_datetime,
)
from durable_exec.testing._validation import (
    MAX_EXECUTION_RESULT_BYTES,
    RETRY,
    START,
    SUCCEED,
    Update,
    check_error_object,
    utf8_size_exceeds,
)

if TYPE_CHECKING:
    from durable_exec.testing._store import ExecutionStore

__all__ = ["ACCOUNT_ID", "REGION", "Engine"]

REGION: Final = "us-east-1"
ACCOUNT_ID: Final = "123456789012"

_FINISH_EVENTS: Final = {
    SUCCEEDED: "ExecutionSucceeded",
    FAILED: "ExecutionFailed",
    TIMED_OUT: "ExecutionTimedOut",
    STOPPED: "ExecutionStopped",
}
_CALLBACK_TIMEOUT_ERROR: Final = {
    "ErrorType": "Callback.Timeout",
    "ErrorMessage": "Callback timed out",
}
_HEARTBEAT_TIMEOUT_ERROR: Final = {
    "ErrorType": "Callback.Heartbeat",
    "ErrorMessage": "No heartbeat arrived within the callback's heartbeat timeout",
}
_CALLBACK_ID_RE: Final = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_OUTPUT_ERROR_TYPE: Final = "InvalidParameterValueException"
NOTHING_PENDING: Final = (
    "The invocation returned PENDING but nothing is pending: no STARTED WAIT, CALLBACK or "
    "CHAINED_INVOKE, no STEP awaiting a retry, and no settled operation left to report."
)


def _is_pending(op_type: str, status: str) -> bool:
    """Whether an operation in ``status`` keeps a suspended handler waiting."""
    if status == STARTED:
        return op_type in (WAIT, CALLBACK, CHAINED_INVOKE)
    return status == PENDING and op_type == STEP


def _seq(op: OperationRecord) -> int:
    return op.seq


class Engine:
    """Applies changes to executions and keeps the indexes that span them.

    Args:
        store: The execution store (for saving changed executions and looking
            executions up from the cross-execution indexes).
    """

    def __init__(self, store: ExecutionStore) -> None:
        self.store = store
        # (due, tie-breaker, arn) mirrors of every per-execution timer. An entry
        # goes stale when its timer fires or is superseded and is dropped once it
        # reaches the top of the heap.
        self.wakeups: list[tuple[float, int, str]] = []
        # Chained invokes started and not yet handed to a runner, in start order.
        self.invoke_queue: dict[tuple[str, str], None] = {}
        self._tie = itertools.count()

    # ------------------------------------------------------------ bookkeeping

    @staticmethod
    def rotate_token(execution: ExecutionRecord) -> str:
        """Issue the execution's next checkpoint token (the previous one stops working)."""
        execution.token_seq += 1
        raw = os.urandom(10) + execution.token_seq.to_bytes(8, "big")
        token = base64.b64encode(raw).decode("ascii")
        execution.token = token
        return token

    @staticmethod
    def take_unseen(execution: ExecutionRecord) -> list[dict[str, Any]]:
        """Render, in start order, and forget the operations the handler has not seen."""
        unseen = execution.unseen
        if not unseen:
            return []
        ops = execution.ops
        changed = [ops[op_id] for op_id in unseen]
        if len(changed) > 1:
            changed.sort(key=_seq)
        execution.unseen = {}
        execution.wake = False
        return [render_operation(op, to_datetime) for op in changed]

    @staticmethod
    def _set_status(execution: ExecutionRecord, op: OperationRecord, status: str) -> None:
        execution.pending_count += _is_pending(op.type, status) - _is_pending(op.type, op.status)
        op.status = status
        execution.dirty[op.id] = None

    @staticmethod
    def _touched(execution: ExecutionRecord, op: OperationRecord, *, by_service: bool) -> None:
        execution.unseen[op.id] = None
        execution.dirty[op.id] = None
        if by_service:
            execution.updated_since_invocation[op.id] = None
            execution.wake = True

    def complete(
        self, execution: ExecutionRecord, op: OperationRecord, status: str, when: float
    ) -> None:
        """Finish ``op`` on the service's side (callback, chained invoke, timer)."""
        self._set_status(execution, op, status)
        op.end_ts = when
        op.callback_due = op.heartbeat_due = None
        self.invoke_queue.pop((execution.arn, op.id), None)
        self._touched(execution, op, by_service=True)

    def adopt(self, execution: ExecutionRecord) -> None:
        """Index a record this engine has not seen (one read from a store), once.

        Its timers join the cross-execution wake-up heap, and its STARTED chained
        invokes not yet handed to a runner join the invoke queue.
        """
        if execution.adopted:
            return
        execution.adopted = True
        if execution.status != RUNNING:
            return
        arn = execution.arn
        for due, _, _, _ in execution.timers:
            heapq.heappush(self.wakeups, (due, next(self._tie), arn))
        for op in execution.order:
            if op.type == CHAINED_INVOKE and op.status == STARTED and not op.dispatched:
                self.invoke_queue[arn, op.id] = None

    # ------------------------------------------------------------------ timers

    def push_timer(self, execution: ExecutionRecord, due: float, kind: str, op_id: str) -> None:
        """Arm a timer of ``kind`` for ``op_id`` at ``due``."""
        tie = next(self._tie)
        execution.dirty[op_id] = None
        heapq.heappush(execution.timers, (due, tie, kind, op_id))
        heapq.heappush(self.wakeups, (due, tie, execution.arn))

    @staticmethod
    def _timer_live(execution: ExecutionRecord, due: float, kind: str, op_id: str) -> bool:
        if kind == TIMER_EXECUTION:
            return execution.timeout_due == due
        op = execution.ops.get(op_id)
        if op is None:
            return False
        if kind == TIMER_WAIT:
            return op.status == STARTED and op.scheduled_end_ts == due
        if kind == TIMER_RETRY:
            return op.status == PENDING and op.next_attempt_ts == due
        if kind == TIMER_CALLBACK:
            return op.status == STARTED and op.callback_due == due
        return op.status == STARTED and op.heartbeat_due == due

    def next_due(
        self, execution: ExecutionRecord, skip: frozenset[str] = frozenset()
    ) -> float | None:
        """Return the execution's earliest live timer, dropping superseded ones.

        Args:
            execution: The execution.
            skip: Timer kinds to ignore (e.g. the execution timeout).
        """
        if execution.status != RUNNING:
            return None
        timers = execution.timers
        while timers and not self._timer_live(execution, timers[0][0], timers[0][2], timers[0][3]):
            heapq.heappop(timers)
        if not skip:
            return timers[0][0] if timers else None
        live = [
            t[0]
            for t in timers
            if t[2] not in skip and self._timer_live(execution, t[0], t[2], t[3])
        ]
        return min(live, default=None)

    def fire_due(self, execution: ExecutionRecord, now: float) -> bool:
        """Fire the execution's timers due at ``now``, each at its own due time.

        Returns:
            Whether any timer changed the execution.
        """
        timers = execution.timers
        if not timers or timers[0][0] > now:
            return False
        changed = False
        with self.store.transaction():
            while timers and timers[0][0] <= now:
                due, _, kind, op_id = heapq.heappop(timers)
                if not self._timer_live(execution, due, kind, op_id):
                    continue
                changed = True
                if kind == TIMER_EXECUTION:
                    self.time_out(execution, due)
                    break
                op = execution.ops[op_id]
                if kind == TIMER_WAIT:
                    self.complete(execution, op, SUCCEEDED, due)
                    add_event(execution, "WaitSucceeded", due, op, {"Duration": op.wait_seconds})
                elif kind == TIMER_RETRY:
                    self._set_status(execution, op, READY)
                    op.next_attempt_ts = None
                    self._touched(execution, op, by_service=True)
                else:
                    error = (
                        _CALLBACK_TIMEOUT_ERROR
                        if kind == TIMER_CALLBACK
                        else _HEARTBEAT_TIMEOUT_ERROR
                    )
                    op.error = dict(error)
                    self.complete(execution, op, TIMED_OUT, due)
                    add_event(
                        execution, "CallbackTimedOut", due, op, {"Error": error_data(op.error)}
                    )
            if changed:
                self.store.save(execution)
        return changed

    # ------------------------------------------------------- execution lifecycle

    def start(
        self,
        now: float,
        function_name: str,
        name: str,
        qualifier: str,
        input_payload: str | None,
        execution_timeout: float,
        *,
        arm_timeout: bool = True,
    ) -> str:
        """Create an execution (or return the ARN of the same-named, same-input one).

        With ``arm_timeout`` false the execution's timeout is recorded but not
        armed: the caller enforces it (see :meth:`time_out`).
        """
        existing = self.store.find_by_name(function_name, name)
        if existing is not None:
            if existing.input_payload == input_payload and existing.qualifier == qualifier:
                return existing.arn
            msg = (
                f"Durable execution {name!r} of {function_name} already started, with other input."
            )
            raise ServiceFault(ALREADY_STARTED, msg)
        invocation_id = str(uuid.uuid4())
        arn = (
            f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}:{qualifier}"
            f"/durable-execution/{name}/{invocation_id}"
        )
        execution = ExecutionRecord(
            arn=arn,
            name=name,
            function_name=function_name,
            qualifier=qualifier,
            invocation_id=invocation_id,
            input_payload=input_payload,
            start_ts=now,
            execution_timeout=execution_timeout,
            adopted=True,
        )
        op = OperationRecord(
            id=invocation_id,
            type=EXECUTION,
            seq=0,
            start_ts=now,
            status=STARTED,
            name=name,
            input_payload=input_payload,
        )
        with self.store.transaction():
            execution.ops[op.id] = op
            execution.order.append(op)
            details = {
                "Input": payload_data(input_payload),
                "ExecutionTimeout": round(execution_timeout),
            }
            add_event(execution, "ExecutionStarted", now, op, details)
            if arm_timeout:
                execution.timeout_due = now + execution_timeout
                self.push_timer(execution, execution.timeout_due, TIMER_EXECUTION, op.id)
            self.store.save(execution)
        return arn

    def time_out(self, execution: ExecutionRecord, now: float) -> None:
        """End a running execution TIMED_OUT, as its timeout does."""
        message = f"Execution timed out after {execution.execution_timeout:g} seconds."
        self.finish(execution, TIMED_OUT, now, error={"ErrorMessage": message})

    def finish(
        self,
        execution: ExecutionRecord,
        status: str,
        when: float,
        *,
        result: str | None = None,
        error: ErrorObject | None = None,
    ) -> None:
        """End the execution in ``status`` and record the matching event."""
        execution.status = status
        execution.end_ts = when
        execution.result = result
        execution.error = error
        execution.token = None
        execution.wake = False
        execution.timeout_due = None
        execution.timers.clear()
        op = execution.ops[execution.invocation_id]
        op.status = status
        op.end_ts = when
        execution.unseen[op.id] = None
        execution.dirty[op.id] = None
        if status == SUCCEEDED:
            details = {"Result": payload_data(result)}
        else:
            details = {"Error": error_data(error)}
        add_event(execution, _FINISH_EVENTS[status], when, op, details)

    def apply_output(self, execution: ExecutionRecord, output: object, now: float) -> None:
        """Apply a handler's output envelope to a RUNNING execution."""

        def fail(message: str) -> None:
            error = {"ErrorType": _OUTPUT_ERROR_TYPE, "ErrorMessage": message}
            self.finish(execution, FAILED, now, error=error)

        if not isinstance(output, Mapping):
            fail(f"Invalid invocation output: expected a dict, got {type(output).__name__}.")
            return
        status = output.get("Status")
        result = output.get("Result")
        error = output.get("Error")
        if status == SUCCEEDED:
            if error is not None:
                fail("Invalid invocation output: a SUCCEEDED output cannot carry an Error.")
            elif result is not None and not isinstance(result, str):
                fail("Invalid invocation output: Result must be a string.")
            elif result is not None and utf8_size_exceeds(result, MAX_EXECUTION_RESULT_BYTES):
                limit = MAX_EXECUTION_RESULT_BYTES
                fail(
                    f"Invalid invocation output: Result exceeds the maximum size of {limit} bytes."
                )
            else:
                self.finish(execution, SUCCEEDED, now, result=result)
        elif status == FAILED:
            if result:
                fail("Invalid invocation output: a FAILED output cannot carry a Result.")
                return
            try:
                checked = check_error_object(error, "Error") if error is not None else {}
            except ServiceFault as fault:
                fail(f"Invalid invocation output: {fault.message}")
                return
            self.finish(execution, FAILED, now, error=checked)
        elif status == PENDING:
            if execution.pending_count == 0 and not execution.wake:
                fail(NOTHING_PENDING)
        else:
            fail(
                "Invalid invocation output: Status must be SUCCEEDED, FAILED or PENDING, "
                f"got {status!r}."
            )

    # -------------------------------------------------------------- callbacks

    def open_callback(
        self, callback_id: object, now: float
    ) -> tuple[ExecutionRecord, OperationRecord]:
        """Find the STARTED callback ``callback_id`` names, or raise the modelled error."""
        if (
            not isinstance(callback_id, str)
            or not 1 <= len(callback_id) <= 1024
            or _CALLBACK_ID_RE.fullmatch(callback_id) is None
        ):
            raise invalid("CallbackId must be 1-1024 characters of the base64 alphabet.")
        not_found = ServiceFault(RESOURCE_NOT_FOUND, f"Callback {callback_id} does not exist.")
        try:
            arn_bytes, op_bytes, _ = base64.b64decode(callback_id, validate=True).split(b"|", 2)
            arn, op_id = arn_bytes.decode(), op_bytes.decode()
        except (ValueError, binascii.Error):
            raise not_found from None
        execution = self.store.load(arn)
        op = execution.ops.get(op_id) if execution is not None else None
        if execution is None or op is None or op.callback_id != callback_id:
            raise not_found
        self.adopt(execution)
        self.fire_due(execution, now)
        if op.status != STARTED:
            state = "has timed out" if op.status == TIMED_OUT else f"is already {op.status}"
            raise ServiceFault(CALLBACK_TIMEOUT, f"Callback {callback_id} {state}.")
        if execution.status != RUNNING:
            msg = f"Callback {callback_id} is closed: its durable execution is {execution.status}."
            raise ServiceFault(CALLBACK_TIMEOUT, msg)
        return execution, op

    # ---------------------------------------------------------------- updates

    def apply(self, execution: ExecutionRecord, update: Update, now: float) -> None:
        """Apply one validated update (validation guarantees the transition is legal)."""
        kind, action = update.type, update.action
        if kind == EXECUTION:
            if action == SUCCEED:
                self.finish(execution, SUCCEEDED, now, result=update.payload)
            else:
                self.finish(execution, FAILED, now, error=update.error or {})
            return
        op = execution.ops.get(update.id)
        if op is None:
            op = OperationRecord(
                id=update.id,
                type=kind,
                seq=len(execution.order),
                start_ts=now,
                status=STARTED,
                name=update.name,
                sub_type=update.sub_type,
                parent_id=update.parent_id,
            )
            execution.ops[op.id] = op
            execution.order.append(op)
            execution.pending_count += _is_pending(kind, STARTED)
            self._started(execution, op, update, now)
        elif action == START:  # Only a READY STEP may start again.
            self._set_status(execution, op, STARTED)
            add_event(execution, "StepStarted", now, op, {})
        elif kind == STEP:
            self._step_outcome(execution, op, update, now)
        elif kind == CONTEXT:
            self._context_outcome(execution, op, update, now)
        else:  # WAIT CANCEL, the only other legal action on an existing operation.
            op.end_ts = now
            self._set_status(execution, op, CANCELLED)
            details = {"Error": error_data(update.error)} if update.error is not None else {}
            add_event(execution, "WaitCancelled", now, op, details)
        self._touched(execution, op, by_service=False)

    def _started(
        self, execution: ExecutionRecord, op: OperationRecord, update: Update, now: float
    ) -> None:
        """Record a new operation's START (and arm its timers)."""
        kind = op.type
        details: dict[str, Any] = {}
        if kind == STEP:
            add_event(execution, "StepStarted", now, op, details)
        elif kind == CONTEXT:
            op.replay_children = update.replay_children
            add_event(execution, "ContextStarted", now, op, details)
        elif kind == WAIT:
            assert update.wait_seconds is not None
            op.wait_seconds = update.wait_seconds
            op.scheduled_end_ts = now + update.wait_seconds
            self.push_timer(execution, op.scheduled_end_ts, TIMER_WAIT, op.id)
            details["Duration"] = op.wait_seconds
            details["ScheduledEndTimestamp"] = to_datetime(op.scheduled_end_ts)
            add_event(execution, "WaitStarted", now, op, details)
        elif kind == CALLBACK:
            # Self-describing (execution and operation) plus 120 random bits.
            raw = f"{execution.arn}|{op.id}|".encode() + secrets.token_bytes(15)
            op.callback_id = base64.b64encode(raw).decode("ascii")
            op.callback_timeout = update.callback_timeout or 0
            op.heartbeat_timeout = update.heartbeat_timeout or 0
            if op.callback_timeout:
                op.callback_due = now + op.callback_timeout
                self.push_timer(execution, op.callback_due, TIMER_CALLBACK, op.id)
            if op.heartbeat_timeout:
                op.heartbeat_due = now + op.heartbeat_timeout
                self.push_timer(execution, op.heartbeat_due, TIMER_HEARTBEAT, op.id)
            details["CallbackId"] = op.callback_id
            if update.heartbeat_timeout is not None:
                details["HeartbeatTimeout"] = update.heartbeat_timeout
            if update.callback_timeout is not None:
                details["Timeout"] = update.callback_timeout
            add_event(execution, "CallbackStarted", now, op, details)
        else:
            op.function_name = update.function_name
            op.tenant_id = update.tenant_id
            op.invoke_input = update.payload
            self.invoke_queue[execution.arn, op.id] = None
            details["FunctionName"] = op.function_name
            if op.tenant_id is not None:
                details["TenantId"] = op.tenant_id
            if op.invoke_input is not None:
                details["Input"] = payload_data(op.invoke_input)
            add_event(execution, "ChainedInvokeStarted", now, op, details)

    def _step_outcome(
        self, execution: ExecutionRecord, op: OperationRecord, update: Update, now: float
    ) -> None:
        """Record a STEP's RETRY, SUCCEED or FAIL (each finishes one attempt)."""
        op.attempt += 1
        retry_details: dict[str, Any] = {"CurrentAttempt": op.attempt}
        if update.action == RETRY:
            assert update.next_attempt_delay is not None
            op.result, op.error = update.payload, update.error
            op.next_attempt_ts = now + update.next_attempt_delay
            self._set_status(execution, op, PENDING)
            self.push_timer(execution, op.next_attempt_ts, TIMER_RETRY, op.id)
            retry_details["NextAttemptDelaySeconds"] = update.next_attempt_delay
            # As AWS's emulator (and the JS SDK): a retry with an error reads as
            # StepFailed, one carrying state (wait-for-condition) as StepSucceeded.
            if update.error is not None:
                details = {"Error": error_data(op.error), "RetryDetails": retry_details}
                add_event(execution, "StepFailed", now, op, details)
            else:
                details = {"Result": payload_data(op.result), "RetryDetails": retry_details}
                add_event(execution, "StepSucceeded", now, op, details)
            return
        op.end_ts = now
        op.next_attempt_ts = None
        if update.action == SUCCEED:
            op.result, op.error = update.payload, None
            self._set_status(execution, op, SUCCEEDED)
            details = {"Result": payload_data(op.result), "RetryDetails": retry_details}
            add_event(execution, "StepSucceeded", now, op, details)
        else:
            op.result, op.error = None, update.error or {}
            self._set_status(execution, op, FAILED)
            details = {"Error": error_data(op.error), "RetryDetails": retry_details}
            add_event(execution, "StepFailed", now, op, details)

    def _context_outcome(
        self, execution: ExecutionRecord, op: OperationRecord, update: Update, now: float
    ) -> None:
        """Record a CONTEXT's SUCCEED or FAIL."""
        if update.replay_children is not None:
            op.replay_children = update.replay_children
        op.end_ts = now
        if update.action == SUCCEED:
            op.result = update.payload
            self._set_status(execution, op, SUCCEEDED)
            add_event(execution, "ContextSucceeded", now, op, {"Result": payload_data(op.result)})
        else:
            op.error = update.error or {}
            self._set_status(execution, op, FAILED)
            add_event(execution, "ContextFailed", now, op, {"Error": error_data(op.error)})
