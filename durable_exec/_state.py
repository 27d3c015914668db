"""ExecutionState: the operations of one execution as this invocation knows them.

It starts from the invocation envelope (plus any pages fetched), learns from
every checkpoint response, and applies this invocation's own updates once they
are durable, so an operation replayed later in the same invocation (a map
branch resumed after a timer) sees its own earlier results. No I/O, no user
code, one lock.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable
from typing import Any

from durable_exec._wire import (
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)

__all__ = ["ExecutionState"]

_ACTION_STATUS = {
    OperationAction.START: OperationStatus.STARTED,
    OperationAction.SUCCEED: OperationStatus.SUCCEEDED,
    OperationAction.FAIL: OperationStatus.FAILED,
    OperationAction.RETRY: OperationStatus.PENDING,
    OperationAction.CANCEL: OperationStatus.CANCELLED,
}


class ExecutionState:
    """The known operations of one execution, keyed by id.

    Reads are lock-free (a single ``dict.get`` is atomic); writes hold the lock and
    never change an :class:`Operation` in place: an update replaces the whole
    object, so a reader never sees one half applied.

    Args:
        arn: The durable execution ARN.
        operations: Operations loaded from the envelope and state pages.
    """

    def __init__(self, arn: str, operations: Iterable[Operation] = ()) -> None:
        self.arn = arn
        self._lock = threading.Lock()
        self._ops: dict[str, Operation] = {}  # guarded by _lock (writes)
        self.execution: Operation | None = None  # the EXECUTION operation, set once
        for op in operations:
            self._ops[op.id] = op
            if op.type is OperationType.EXECUTION and self.execution is None:
                self.execution = op

    def get(self, op_id: str) -> Operation | None:
        """Return the operation with ``op_id``, if known."""
        return self._ops.get(op_id)

    def __contains__(self, op_id: object) -> bool:
        return op_id in self._ops

    def __len__(self) -> int:
        return len(self._ops)

    def operations(self) -> list[Operation]:
        """Return a snapshot of every known operation."""
        with self._lock:
            return list(self._ops.values())

    def merge(self, operations: Iterable[Operation]) -> None:
        """Take the service's view of ``operations`` (it is authoritative)."""
        with self._lock:
            for op in operations:
                self._ops[op.id] = op

    def apply(self, updates: Iterable[OperationUpdate], now: float) -> None:
        """Record this invocation's updates once the service has accepted them.

        Args:
            updates: The updates of a successful checkpoint batch.
            now: Wall-clock time of the response, for synthesised timestamps.
        """
        with self._lock:
            for update in updates:
                self._apply_one(update, now)

    def _apply_one(self, update: OperationUpdate, now: float) -> None:
        # The new operation is built aside and swapped in whole: a lock-free reader
        # sees the old operation or the new one, never a status without its result.
        status = _ACTION_STATUS[update.action]
        old = self._ops.get(update.id)
        changes: dict[str, Any] = {"status": status}
        options = update.options or {}
        action = update.action
        if action is OperationAction.START:
            if update.type is OperationType.WAIT:
                changes["scheduled_end_timestamp"] = now + float(options.get("WaitSeconds", 0))
        elif action is OperationAction.SUCCEED:
            changes["result"] = update.payload
            changes["end_timestamp"] = now
        elif action is OperationAction.FAIL:
            changes["error"] = update.error
            changes["end_timestamp"] = now
        elif action is OperationAction.RETRY:
            changes["error"] = update.error
            if update.payload is not None:
                changes["result"] = update.payload
            changes["next_attempt_timestamp"] = now + float(
                options.get("NextAttemptDelaySeconds", 0)
            )
        if update.type is OperationType.STEP and action is not OperationAction.START:
            # StepDetails.Attempt counts finished attempts (RETRY, SUCCEED or FAIL).
            changes["attempt"] = ((old.attempt if old is not None else None) or 0) + 1
        if update.type is OperationType.CONTEXT and "ReplayChildren" in options:
            changes["replay_children"] = bool(options["ReplayChildren"])
        if old is None:
            new = Operation(
                id=update.id,
                type=update.type,
                parent_id=update.parent_id,
                name=update.name,
                sub_type=update.sub_type,
                start_timestamp=now,
                **changes,
            )
        else:
            new = dataclasses.replace(old, **changes)
        self._ops[update.id] = new
