"""History events: appended as things happen (O(1) each), rendered on read.

Events are stored already in the ``Event`` shape of botocore's model (with
``datetime`` timestamps); payload-bearing members (``Input``, ``Result``,
``Error``) hold ``{"Payload": ..., "Truncated": False}``. Reading renders copies,
replacing those members with ``{"Truncated": True}`` when the caller asks for
no execution data.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from durable_exec.testing._model import (
    ErrorObject,
    ExecutionRecord,
    OperationRecord,
    copy_error,
    to_datetime,
)

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["add_event", "error_data", "payload_data", "render_events"]

_DATA_MEMBERS: Final = frozenset({"Input", "Result", "Error"})
_TRUNCATED: Final = {"Truncated": True}


def payload_data(payload: str | None) -> dict[str, Any]:
    """Return an ``EventInput``/``EventResult`` holding ``payload``."""
    if payload is None:
        return {"Truncated": False}
    return {"Payload": payload, "Truncated": False}


def error_data(error: ErrorObject | None) -> dict[str, Any]:
    """Return an ``EventError`` holding ``error``."""
    if error is None:
        return {"Truncated": False}
    return {"Payload": copy_error(error), "Truncated": False}


def add_event(
    execution: ExecutionRecord,
    event_type: str,
    when: float,
    op: OperationRecord | None,
    details: dict[str, Any],
) -> None:
    """Append one event to ``execution``'s history.

    Args:
        execution: The execution whose history grows.
        event_type: The ``EventType``, e.g. ``StepSucceeded``.
        when: The event time, epoch seconds.
        op: The operation the event is about (``None`` for InvocationCompleted).
        details: The ``<EventType>Details`` member.
    """
    event: dict[str, Any] = {"EventType": event_type, "EventId": len(execution.events) + 1}
    if op is not None:
        event["Id"] = op.id
        if op.name is not None:
            event["Name"] = op.name
        if op.sub_type is not None:
            event["SubType"] = op.sub_type
        if op.parent_id is not None:
            event["ParentId"] = op.parent_id
    event["EventTimestamp"] = to_datetime(when)
    event[event_type + "Details"] = details
    execution.events.append(event)


def _render_details(details: dict[str, Any], include_data: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in details.items():
        if key in _DATA_MEMBERS:
            if not include_data:
                out[key] = dict(_TRUNCATED)
            elif isinstance(value.get("Payload"), dict):
                out[key] = {"Payload": copy_error(value["Payload"]), "Truncated": False}
            else:
                out[key] = dict(value)
        elif isinstance(value, dict):
            out[key] = dict(value)
        else:
            out[key] = value
    return out


def render_events(events: Iterable[dict[str, Any]], include_data: bool) -> list[dict[str, Any]]:
    """Return copies of ``events`` in the given order, shaped for a history response."""
    rendered: list[dict[str, Any]] = []
    for event in events:
        out = dict(event)
        key = event["EventType"] + "Details"
        out[key] = _render_details(event[key], include_data)
        rendered.append(out)
    return rendered
