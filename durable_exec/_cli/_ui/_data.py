"""What the console's JSON API answers: executions, operations and payloads as plain dicts.

Everything here reads through :class:`~durable_exec._cli._workspace.Workspace`
and returns JSON-ready values. Payloads are decoded for display
(:func:`~durable_exec._cli._view.display_value`: JSON, the SDK's typed
envelope, or the text itself), pretty-printed, and cut to a preview; the full
text is a separate request (:func:`payload_text`), so an execution with
thousands of operations stays a small answer. Nothing is escaped here: the
page puts every value into the DOM as text, never as markup.
"""

from __future__ import annotations

import json
from typing import Any, Final, Literal

from durable_exec._cli._errors import CliError
from durable_exec._cli._ui._timeline import Scale, build_timeline
from durable_exec._cli._view import ExecutionView, OperationView, display_value
from durable_exec._cli._workspace import TERMINAL, StoredExecution, Workspace

__all__ = [
    "PREVIEW_CHARS",
    "PREVIEW_LINES",
    "ROW_PREVIEW_CHARS",
    "Field",
    "error_json",
    "execution_detail",
    "execution_page",
    "operation_detail",
    "payload_block",
    "payload_text",
    "pretty",
    "summary_json",
]

PREVIEW_CHARS: Final = 4000
"""A payload longer than this (pretty-printed) is cut, with a control to expand it."""
PREVIEW_LINES: Final = 80
"""... as is one of more lines than this."""
ROW_PREVIEW_CHARS: Final = 120
"""The one-line result preview beside each operation of the tree."""

Field = Literal["input", "result", "error"]


def pretty(payload: str | None) -> tuple[str, bool]:
    """Return (text to show, whether it is JSON) for a stored payload."""
    if payload is None:
        return "", False
    value = display_value(payload)
    if isinstance(value, str) and value == payload:
        try:
            json.loads(payload)
        except ValueError:
            return payload, False
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False), True


def _one_line(payload: str | None) -> str | None:
    if payload is None:
        return None
    value = display_value(payload)
    text = value if isinstance(value, str) and value == payload else json.dumps(value)
    text = " ".join(text.split())
    return text if len(text) <= ROW_PREVIEW_CHARS else text[: ROW_PREVIEW_CHARS - 1] + "…"


def payload_block(payload: str | None) -> dict[str, Any] | None:
    """Return a payload as ``{"text", "json", "size", "truncated"}``, cut to a preview.

    ``size`` is the pretty-printed length in characters; ``truncated`` says the
    text was cut (fetch it whole with :func:`payload_text`).
    """
    if payload is None:
        return None
    text, is_json = pretty(payload)
    preview = text
    lines = preview.split("\n")
    if len(lines) > PREVIEW_LINES:
        preview = "\n".join(lines[:PREVIEW_LINES])
    if len(preview) > PREVIEW_CHARS:
        preview = preview[:PREVIEW_CHARS]
    return {
        "text": preview,
        "json": is_json,
        "size": len(text),
        "truncated": len(preview) < len(text),
    }


def error_json(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """Return an ErrorObject as ``{"type", "message", "data", "stack_trace"}`` (text members)."""
    if not isinstance(error, dict):
        return None
    trace = error.get("StackTrace")
    stack: str | None
    if isinstance(trace, list):
        stack = "".join(line if line.endswith("\n") else f"{line}\n" for line in map(str, trace))
    else:
        stack = str(trace) if trace else None
    data = error.get("ErrorData")
    return {
        "type": None if error.get("ErrorType") is None else str(error["ErrorType"]),
        "message": None if error.get("ErrorMessage") is None else str(error["ErrorMessage"]),
        "data": payload_block(str(data)) if data is not None else None,
        "stack_trace": stack.rstrip("\n") if stack else None,
    }


def summary_json(item: StoredExecution) -> dict[str, Any]:
    """Return one row of the executions list."""
    return {
        "arn": item.arn,
        "name": item.name,
        "function_name": item.function_name,
        "status": item.status,
        "start": item.start_ts,
        "end": item.end_ts,
        "invocations": item.invocation_count,
        "operations": max(0, item.operation_count - 1),
        "error_type": item.error_type,
        "error_message": item.error_message,
        "in_flight": item.invocation_owner is not None,
        "updated_seq": item.updated_seq,
    }


def execution_page(
    workspace: Workspace,
    *,
    status: list[str] | None = None,
    name: str | None = None,
    function_name: str | None = None,
    search: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    newest_first: bool = True,
) -> dict[str, Any]:
    """Return one page of the executions list, with the store's change sequence.

    Raises:
        CliError: A bad limit or cursor, or an unusable store.
    """
    page = workspace.list_executions(
        status=status or None,
        name=name or None,
        function_name=function_name or None,
        search=search or None,
        limit=limit,
        cursor=cursor or None,
        newest_first=newest_first,
    )
    return {
        "executions": [summary_json(item) for item in page.items],
        "next_cursor": page.next_cursor,
        "total": page.total,
        "seq": workspace.change_sequence(),
    }


def _operation_row(
    op: OperationView, view: ExecutionView, child_arns: dict[str, str]
) -> dict[str, Any]:
    error = op.error or {}
    return {
        "id": op.id,
        "parent_id": op.parent_id,
        "label": op.label,
        "name": op.name,
        "type": op.type,
        "sub_type": op.sub_type,
        "status": op.status,
        "start": op.start,
        "end": op.end,
        "attempts": op.attempts,
        "preview": _one_line(op.result),
        "has_result": op.result is not None,
        "error_type": error.get("ErrorType"),
        "error_message": _clip(error.get("ErrorMessage")),
        "callback_id": op.callback_id,
        "callback_label": view.callback_label(op) if op.type == "CALLBACK" else None,
        "function_name": op.function_name,
        "child_arn": child_arns.get(op.id),
        "children": [child.id for child in op.children],
    }


def _clip(text: object, limit: int = 300) -> str | None:
    if text is None:
        return None
    string = str(text)
    return string if len(string) <= limit else string[: limit - 1] + "…"


def _short(arn: str) -> str:
    parts = arn.rsplit("/", 2)
    return parts[-2] if len(parts) == 3 else arn


def execution_detail(workspace: Workspace, arn: str, *, scale: Scale = "compact") -> dict[str, Any]:
    """Return everything the execution page draws: summary, tree, timeline, callbacks.

    Raises:
        CliError: No such execution (``not_found``), or an unusable store.
    """
    summary = workspace.summary(arn)
    view = workspace.view(arn)
    running = view.status not in TERMINAL
    now = workspace.clock_for(arn).now() if running else (view.end or view.start or 0.0)
    children = workspace.children_of(arn)
    child_arns = {operation: child for child, operation in children}
    parent = workspace.parent_of(arn)
    callbacks = [
        {
            "callback_id": callback.callback_id,
            "name": callback.name,
            "ref": workspace.callback_ref(callback),
            "operation_id": callback.operation_id,
            "started": callback.started_ts,
        }
        for callback in workspace.open_callbacks(arn)
    ]
    try:
        resumable = workspace.run_record(arn) is not None
    except CliError:
        resumable = False
    child_summaries = []
    for child, operation in children:
        try:
            child_summary = workspace.summary(child)
        except CliError:
            continue
        child_summaries.append(
            {
                "arn": child,
                "name": child_summary.name,
                "status": child_summary.status,
                "operation_id": operation,
            }
        )
    return {
        "execution": {
            **summary_json(summary),
            "function_arn": view.function_arn,
            "input": payload_block(view.input),
            "result": payload_block(view.result),
            "error": error_json(view.error),
            "now": now,
            "driver": workspace.driver_of(arn) if running else None,
            "resumable": resumable and running,
            "parent": None
            if parent is None
            else {"arn": parent[0], "name": _short(parent[0]), "operation_id": parent[1]},
            "children": child_summaries,
        },
        "operations": [_operation_row(op, view, child_arns) for op in view.operations],
        "roots": [op.id for op in view.roots],
        "callbacks": callbacks,
        "invocation_errors": [error_json(error) for error in view.invocation_errors],
        "timeline": build_timeline(
            view, now, scale=scale, running_invocation=summary.invocation_owner is not None
        ),
        "event_count": len(view.events),
    }


def _find(view: ExecutionView, op_id: str, workspace: Workspace) -> OperationView:
    for op in view.operations:
        if op.id == op_id:
            return op
    raise CliError(
        f"execution {view.name} has no operation {op_id!r} in {workspace.where}",
        kind="not_found",
    )


def _invoke_input(view: ExecutionView, op_id: str) -> str | None:
    for event in view.events:
        if event.get("Id") == op_id and event.get("EventType") == "ChainedInvokeStarted":
            member = (event.get("ChainedInvokeStartedDetails") or {}).get("Input")
            if isinstance(member, dict) and isinstance(member.get("Payload"), str):
                return str(member["Payload"])
    return None


def operation_detail(workspace: Workspace, arn: str, op_id: str) -> dict[str, Any]:
    """Return one operation: its row, result and input previews, error with stack trace, events.

    Raises:
        CliError: No such execution or operation (``not_found``).
    """
    view = workspace.view(arn)
    op = _find(view, op_id, workspace)
    child_arns = {operation: child for child, operation in workspace.children_of(arn)}
    events = [event for event in view.events if event.get("Id") == op_id]
    return {
        **_operation_row(op, view, child_arns),
        "result": payload_block(op.result),
        "input": payload_block(_invoke_input(view, op_id)),
        "error": error_json(op.error),
        "events": json.loads(json.dumps(events, default=str)),
    }


def payload_text(workspace: Workspace, arn: str, op_id: str | None, field: Field) -> str:
    """Return a whole payload, pretty-printed: of the execution (``op_id`` None) or an operation.

    Raises:
        CliError: No such execution, operation or payload (``not_found``).
    """
    view = workspace.view(arn)
    payload: str | None
    if op_id is None:
        if field == "error":
            error = error_json(view.error)
            payload = (
                None
                if error is None or error["data"] is None
                else str((view.error or {}).get("ErrorData"))
            )
        else:
            payload = view.input if field == "input" else view.result
    else:
        op = _find(view, op_id, workspace)
        if field == "input":
            payload = _invoke_input(view, op_id)
        elif field == "result":
            payload = op.result
        else:
            data = (op.error or {}).get("ErrorData")
            payload = None if data is None else str(data)
    if payload is None:
        raise CliError(f"there is no {field} payload there in {workspace.where}", kind="not_found")
    return pretty(payload)[0]
