"""The wait operation: suspend for a duration without paying for compute."""

from __future__ import annotations

from durable_exec._durations import MAX_WAIT_SECONDS, DurationLike, to_seconds
from durable_exec._errors import ValidationError
from durable_exec._operations.base import ContextCore, observe, validate_identity
from durable_exec._signals import SuspendExecution
from durable_exec._wire import (
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
    OperationUpdate,
)

__all__ = ["run_wait", "wait_seconds"]


def wait_seconds(duration: DurationLike) -> int:
    """Validate a wait duration and return it in whole seconds (1 s to 366 days)."""
    seconds = to_seconds(duration, what="wait duration")
    if not 1 <= seconds <= MAX_WAIT_SECONDS:
        raise ValidationError(
            f"a wait must last from 1 to {MAX_WAIT_SECONDS} seconds, got {seconds}"
        )
    return seconds


def run_wait(core: ContextCore, duration: DurationLike, name: str | None) -> None:
    """Wait durably; see ``DurableContext.wait`` for the contract."""
    seconds = wait_seconds(duration)
    op_id = core.next_id()
    parent = core.record_parent
    state = core.invocation.state
    op = state.get(op_id)
    if op is None:
        core.checkpoint(
            OperationUpdate(
                id=op_id,
                type=OperationType.WAIT,
                action=OperationAction.START,
                parent_id=parent,
                name=name,
                sub_type=OperationSubType.WAIT.value,
                options={"WaitSeconds": seconds},
            )
        )
        op = state.get(op_id)
    else:
        validate_identity(
            op,
            op_type=OperationType.WAIT,
            sub_type=OperationSubType.WAIT.value,
            name=name,
            parent_id=parent,
        )
        observe(core, op)
    if op is not None and op.status in (OperationStatus.SUCCEEDED, OperationStatus.CANCELLED):
        return
    resume_at = op.scheduled_end_timestamp if op is not None else None
    if resume_at is None:
        resume_at = core.invocation.clock.now() + seconds
    raise SuspendExecution(f"wait {op_id} ends later", resume_at, op_id)
