"""Values recorded once in the history: deterministic helpers and patch markers.

Both are ordinary STEP operations, so any history holding them is one the
service, AWS's emulator and the official SDK accept (the official SDK reads a
SubType as a plain string and compares it only when its own code asks for an
operation at that position):

* ``context.now()``, ``context.random()``, ``context.uuid4()`` record a STEP
  with SubType ``Now``, ``Random`` or ``Uuid`` whose result is the value, in the
  extended-type encoding (a ``datetime``, a float, a ``UUID``);
* ``context.patched(change_id)`` records a STEP with SubType ``Patch``, named
  after the change, whose result is ``true``.

Recording costs no round trip of its own: START and SUCCEED are queued in the
background and travel with the next checkpoint (several values share one call).
Everything durable that used the value is checkpointed after it, in order, so
nothing that depends on it can be durable without it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from durable_exec._errors import StepError
from durable_exec._operations.base import ContextCore, rebuild_error, validate_identity
from durable_exec._serde import deserialize, serialize
from durable_exec._wire import OperationAction, OperationStatus, OperationType, OperationUpdate

__all__ = ["NOW", "PATCH", "RANDOM", "UUID", "find_patch", "record_patch", "run_recorded"]

NOW = "Now"
"""SubType of the STEP ``context.now()`` records."""
RANDOM = "Random"
"""SubType of the STEP ``context.random()`` records."""
UUID = "Uuid"
"""SubType of the STEP ``context.uuid4()`` records."""
PATCH = "Patch"
"""SubType of the STEP ``context.patched()`` records (named after the change)."""


def _record(core: ContextCore, op_id: str, sub_type: str, name: str | None, payload: Any) -> None:
    """Queue START (unless the history has it) and SUCCEED for ``op_id``; no waiting."""
    parent = core.record_parent
    op = core.invocation.state.get(op_id)
    if op is None:
        core.enqueue(
            OperationUpdate(
                id=op_id,
                type=OperationType.STEP,
                action=OperationAction.START,
                parent_id=parent,
                name=name,
                sub_type=sub_type,
            )
        )
    core.enqueue(
        OperationUpdate(
            id=op_id,
            type=OperationType.STEP,
            action=OperationAction.SUCCEED,
            parent_id=parent,
            name=name,
            sub_type=sub_type,
            payload=payload,
        )
    )


def run_recorded(
    core: ContextCore, sub_type: str, name: str | None, produce: Callable[[], Any]
) -> Any:
    """Return the value recorded at the next position, or record ``produce()`` there.

    The first run returns the value as it reads back from its payload, so the
    first run and every replay return equal values.
    """
    op_id = core.next_id()
    invocation = core.invocation
    op = invocation.state.get(op_id)
    if op is not None:
        validate_identity(
            op,
            op_type=OperationType.STEP,
            sub_type=sub_type,
            name=name,
            parent_id=core.record_parent,
        )
        if op.status is OperationStatus.SUCCEEDED:
            return deserialize(None, op.result, op_id, invocation.arn)
        if op.is_terminal:
            raise rebuild_error(op.error, StepError)
    payload = serialize(None, produce(), op_id, invocation.arn)
    value = deserialize(None, payload, op_id, invocation.arn)
    _record(core, op_id, sub_type, name, payload)
    return value


def find_patch(core: ContextCore, change_id: str) -> bool | None:
    """Look at the next position of the context for the marker of ``change_id``.

    Returns:
        ``True`` when the marker is there (it is consumed: the position is taken);
        ``False`` when the history holds another operation there (the execution
        reached this point under code without the change; nothing is consumed);
        ``None`` when the history holds nothing there yet.
    """
    op = core.invocation.state.get(core.ids.peek())
    if op is None:
        return None
    if op.type is not OperationType.STEP or op.sub_type != PATCH or op.name != change_id:
        return False
    op_id = core.next_id()
    validate_identity(
        op, op_type=OperationType.STEP, sub_type=PATCH, name=change_id, parent_id=core.record_parent
    )
    assert op_id == op.id
    return True


def record_patch(core: ContextCore, change_id: str) -> None:
    """Record the marker of ``change_id`` at the next position."""
    op_id = core.next_id()
    _record(core, op_id, PATCH, change_id, "true")
