"""An execution as the commands show it, rebuilt from the public API's history events.

``GetDurableExecutionHistory`` is the one read both the local service and AWS
answer for any execution, so the operation tree comes from events: each
event's ``Id`` names its operation, the first event gives its start, type,
name, subtype and parent, the last its status, and ``RetryDetails`` its
attempts. Payloads stay strings here; :func:`display_value` decodes them.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import datetime
from typing import Any, Final

__all__ = [
    "ExecutionView",
    "OperationView",
    "build_view",
    "display_value",
    "epoch_of",
    "split_event_type",
]

# Event-type prefixes, longest first so "ChainedInvoke" wins over shorter ones.
_PREFIXES: Final = (
    ("ChainedInvoke", "CHAINED_INVOKE"),
    ("Invocation", "INVOCATION"),
    ("Execution", "EXECUTION"),
    ("Callback", "CALLBACK"),
    ("Context", "CONTEXT"),
    ("Step", "STEP"),
    ("Wait", "WAIT"),
)
_SUFFIX_STATUS: Final = {
    "Started": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Stopped": "STOPPED",
    "Cancelled": "CANCELLED",
}


def epoch_of(value: object) -> float | None:
    """Return a timestamp member (datetime, epoch number or ISO text) as epoch seconds."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except ValueError:
            return None
    return None


@dataclasses.dataclass(slots=True)
class OperationView:
    """One operation, folded from its events.

    Attributes:
        id: The operation id.
        type: STEP, WAIT, CALLBACK, CONTEXT or CHAINED_INVOKE.
        name: Its name, if any.
        sub_type: Its subtype (``Step``, ``Map``, ``WaitForCallback``...), if any.
        parent_id: The enclosing CONTEXT, if any.
        status: The latest status (PENDING for a step awaiting a retry).
        start: First event time, epoch seconds.
        end: Time it finished, if it has.
        attempts: Finished attempts (steps).
        result: The result payload, if any.
        result_truncated: The history left the result out.
        error: The ErrorObject, if any.
        callback_id: The CallbackId (callbacks).
        function_name: The invoked function (chained invokes).
        children: Operations whose parent this is, in start order.
    """

    id: str
    type: str
    name: str | None = None
    sub_type: str | None = None
    parent_id: str | None = None
    status: str = "STARTED"
    start: float | None = None
    end: float | None = None
    attempts: int = 0
    result: str | None = None
    result_truncated: bool = False
    error: dict[str, Any] | None = None
    callback_id: str | None = None
    function_name: str | None = None
    children: list[OperationView] = dataclasses.field(default_factory=list)

    @property
    def label(self) -> str:
        """The name, or the subtype, or the type: what a person recognises it by."""
        return self.name or self.sub_type or self.type.lower()


@dataclasses.dataclass(slots=True)
class ExecutionView:
    """An execution: its description, its operations (flat and as a tree), its invocations.

    Attributes:
        arn: The execution ARN.
        name: The execution name.
        function_arn: The function (qualified) ARN.
        status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, STOPPED (or AWS's others).
        start: Start time, epoch seconds.
        end: End time, if finished.
        input: The input payload.
        result: The result payload (SUCCEEDED).
        error: The ErrorObject (FAILED and the like).
        operations: Every operation, in start order.
        roots: The top-level operations, in start order (children hang below).
        invocations: Start times of completed invocations.
        invocation_errors: Errors of invocations that raised (Lambda retried them).
        events: The raw history events.
        by_id: Every operation by id.
    """

    arn: str
    name: str
    function_arn: str | None
    status: str
    start: float | None
    end: float | None
    input: str | None
    result: str | None
    error: dict[str, Any] | None
    operations: list[OperationView]
    roots: list[OperationView]
    invocations: list[float]
    invocation_errors: list[dict[str, Any]]
    events: list[dict[str, Any]]
    by_id: dict[str, OperationView] = dataclasses.field(default_factory=dict)

    @property
    def function_name(self) -> str:
        """The function's name (from ``function_arn`` or the execution ARN)."""
        source = self.function_arn or self.arn
        return source.split(":function:", 1)[-1].split(":", 1)[0].split("/", 1)[0]

    @property
    def waiting_callbacks(self) -> list[OperationView]:
        """Callbacks still open (STARTED), in start order."""
        return [op for op in self.operations if op.type == "CALLBACK" and op.status == "STARTED"]

    def callback_label(self, op: OperationView) -> str:
        """Name a callback by itself or, inside ``wait_for_callback``, by its context."""
        parent = self.by_id.get(op.parent_id) if op.parent_id else None
        if parent is not None and (parent.sub_type == "WaitForCallback" or not op.name):
            return parent.label
        return op.label


def split_event_type(event_type: str) -> tuple[str, str]:
    """Split a history event type into operation type and suffix.

    ``"ChainedInvokeStarted"`` gives ``("CHAINED_INVOKE", "Started")``; an unknown
    type gives ``("", event_type)``.
    """
    for prefix, op_type in _PREFIXES:
        if event_type.startswith(prefix):
            return op_type, event_type[len(prefix) :]
    return "", event_type


def _payload(member: object) -> tuple[Any, bool]:
    """Return (payload, truncated) of an EventResult/EventError member."""
    if not isinstance(member, dict):
        return None, False
    return member.get("Payload"), bool(member.get("Truncated"))


def _apply(op: OperationView, suffix: str, event: dict[str, Any], when: float | None) -> None:
    details = event.get(f"{event['EventType']}Details") or {}
    if op.start is None:
        op.start = when
    op.name = op.name or event.get("Name")
    op.sub_type = op.sub_type or event.get("SubType")
    op.parent_id = op.parent_id or event.get("ParentId")
    status = _SUFFIX_STATUS.get(suffix, op.status)
    retry = details.get("RetryDetails") or {}
    if isinstance(retry, dict) and retry.get("CurrentAttempt") is not None:
        op.attempts = int(retry["CurrentAttempt"])
        if retry.get("NextAttemptDelaySeconds") is not None:
            status = "PENDING"
    result, truncated = _payload(details.get("Result"))
    if result is not None or truncated:
        op.result, op.result_truncated = result, truncated
    error, _ = _payload(details.get("Error"))
    if isinstance(error, dict):
        op.error = error
    elif suffix == "Started":
        op.error = None
    if details.get("CallbackId"):
        op.callback_id = details["CallbackId"]
    if details.get("FunctionName"):
        op.function_name = details["FunctionName"]
    op.status = status
    op.end = None if status in {"STARTED", "PENDING"} else when


def build_view(description: dict[str, Any], events: list[dict[str, Any]]) -> ExecutionView:
    """Fold ``GetDurableExecution`` and the history events into an :class:`ExecutionView`."""
    ops: dict[str, OperationView] = {}
    order: list[OperationView] = []
    invocations: list[float] = []
    invocation_errors: list[dict[str, Any]] = []
    for event in events:
        event_type = str(event.get("EventType", ""))
        op_type, suffix = split_event_type(event_type)
        when = epoch_of(event.get("EventTimestamp"))
        if op_type == "INVOCATION":
            details = event.get(f"{event_type}Details") or {}
            started = epoch_of(details.get("StartTimestamp"))
            invocations.append(started if started is not None else when or 0.0)
            error, _ = _payload(details.get("Error"))
            if isinstance(error, dict):
                invocation_errors.append(error)
            continue
        op_id = event.get("Id")
        if op_type in {"", "EXECUTION"} or not isinstance(op_id, str):
            continue
        op = ops.get(op_id)
        if op is None:
            op = ops[op_id] = OperationView(id=op_id, type=op_type)
            order.append(op)
        _apply(op, suffix, event, when)
    roots: list[OperationView] = []
    for op in order:
        parent = ops.get(op.parent_id) if op.parent_id else None
        (parent.children if parent is not None else roots).append(op)
    error = description.get("Error")
    return ExecutionView(
        arn=str(description.get("DurableExecutionArn", "")),
        name=str(description.get("DurableExecutionName", "")),
        function_arn=description.get("FunctionArn"),
        status=str(description.get("Status", "UNKNOWN")),
        start=epoch_of(description.get("StartTimestamp")),
        end=epoch_of(description.get("EndTimestamp")),
        input=description.get("InputPayload"),
        result=description.get("Result"),
        error=error if isinstance(error, dict) else None,
        operations=order,
        roots=roots,
        invocations=invocations,
        invocation_errors=invocation_errors,
        events=events,
        by_id=ops,
    )


# ------------------------------------------------------------------ payloads


def _plain(node: Any) -> Any:
    """Turn an extended-serdes envelope into plain JSON values (never Python objects)."""
    if not (isinstance(node, dict) and "t" in node and "v" in node and len(node) == 2):
        return node
    tag, value = node["t"], node["v"]
    if tag in {"n", "s", "b", "i", "f", "u", "d", "dt", "D"}:
        return value
    if tag in {"l", "t"} and isinstance(value, list):
        return [_plain(item) for item in value]
    if tag == "B" and isinstance(value, str):
        try:
            return f"<{len(base64.b64decode(value))} bytes>"
        except ValueError:
            return value
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def display_value(payload: str | None) -> Any:
    """Decode a stored payload for display: JSON (and the SDK's typed envelope) or the text.

    Returns:
        Plain JSON values; the payload text itself when it is not JSON.
    """
    if payload is None:
        return None
    try:
        node = json.loads(payload)
    except ValueError:
        return payload
    return _plain(node)
