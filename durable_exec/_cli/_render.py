"""Text and JSON renderings: the operation tree, the timeline, tables, history.

Every function here is pure (values in, text or JSON-able dicts out), so the
layout is tested without running anything. Text is drawn with box-drawing
characters when the output stream can encode them, else with ASCII.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shlex
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from durable_exec._cli._view import ExecutionView, OperationView, display_value, epoch_of

__all__ = [
    "Glyphs",
    "callback_hint",
    "clean",
    "execution_json",
    "format_duration",
    "format_time",
    "glyphs_for",
    "history_json",
    "preview",
    "render_execution",
    "render_history",
    "render_list",
    "render_timeline",
    "stored_list_json",
    "to_json",
    "waiting_json",
]

PREVIEW_CHARS: Final = 72
"""Longest result preview in the tree."""
SIZE_ONLY_BYTES: Final = 4096
"""Payloads larger than this show only their size in the tree."""
COLLAPSE_AFTER: Final = 12
"""Siblings shown before the rest are summarised (unless --all)."""
TIMELINE_WIDTH: Final = 48


@dataclasses.dataclass(frozen=True, slots=True)
class Glyphs:
    """The characters a rendering draws with."""

    tee: str
    last: str
    pipe: str
    blank: str
    ok: str
    failed: str
    running: str
    other: str
    bar: str
    idle: str
    tick: str
    arrow: str
    ellipsis: str


UNICODE: Final = Glyphs("├─ ", "└─ ", "│  ", "   ", "✓", "✗", "…", "•", "█", "░", "▏", "→", "…")
ASCII: Final = Glyphs("|- ", "`- ", "|  ", "   ", "+", "x", ".", "*", "#", "-", "|", "->", "...")


# C0 and C1 control characters, DEL, and the bidirectional overrides and isolates:
# anything that can move the cursor, retitle the window or reorder what is shown.
_CONTROL_RE: Final = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_NO_NEWLINE_RE: Final = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"
)
_JSON_UNSAFE_RE: Final = re.compile("[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _visible(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def clean(text: object, *, keep_newlines: bool = False) -> str:
    r"""Return ``text`` with control characters shown as escapes (``\\x1b``), never raw.

    Names, payloads, error messages and ids come from handlers and from
    whoever answers a callback; printed raw, an escape sequence could retitle
    the terminal, clear it or fake output. ``keep_newlines`` leaves line
    breaks alone (for multi-line text such as a stack trace).
    """
    string = text if isinstance(text, str) else str(text)
    pattern = _CONTROL_NO_NEWLINE_RE if keep_newlines else _CONTROL_RE
    return pattern.sub(_visible, string)


def glyphs_for(encoding: str | None) -> Glyphs:
    """Return the Unicode glyphs if ``encoding`` can encode them, else ASCII."""
    try:
        "".join(dataclasses.astuple(UNICODE)).encode(encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return ASCII
    return UNICODE


# ------------------------------------------------------------------ values


def format_duration(seconds: float | None) -> str:
    """Return ``seconds`` as ``350ms``, ``2s``, ``5m 2s``, ``3h 10m`` or ``2d 4h``."""
    if seconds is None:
        return ""
    if seconds < 0:
        seconds = 0.0
    if 0 < seconds < 1:
        return f"{round(seconds * 1000)}ms"
    whole = round(seconds)
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h" if hours else f"{days}d"
    if hours:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    if minutes:
        return f"{minutes}m {secs}s" if secs else f"{minutes}m"
    return f"{secs}s"


def format_time(seconds: float | None) -> str:
    """Return epoch ``seconds`` as ``2026-01-01 00:05:02Z`` (UTC), or empty."""
    if seconds is None:
        return ""
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def iso(seconds: float | None) -> str | None:
    """Return epoch ``seconds`` as an ISO 8601 UTC string (JSON output), or None."""
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)


def preview(payload: str | None, glyphs: Glyphs = UNICODE, limit: int = PREVIEW_CHARS) -> str:
    """Return a one-line preview of a payload: decoded, truncated, or just its size."""
    if payload is None:
        return ""
    size = len(payload.encode("utf-8", "surrogatepass"))
    if size > SIZE_ONLY_BYTES:
        return f"<{_size(size)}>"
    value = display_value(payload)
    text = value if isinstance(value, str) and value == payload else _compact(value)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - len(glyphs.ellipsis)] + glyphs.ellipsis
    return text


def _size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size / (1024 * 1024):.1f} MiB"


def error_line(error: dict[str, Any] | None) -> str:
    """Return ``Type: message`` for an ErrorObject."""
    if not error:
        return ""
    kind = str(error.get("ErrorType") or "Error").rsplit(".", 1)[-1]
    message = " ".join(str(error.get("ErrorMessage") or "").split())
    return f"{kind}: {message}" if message else kind


# ------------------------------------------------------------------ the tree


def _symbol(status: str, glyphs: Glyphs) -> str:
    if status == "SUCCEEDED":
        return glyphs.ok
    if status in {"FAILED", "TIMED_OUT", "STOPPED"}:
        return glyphs.failed
    if status in {"STARTED", "PENDING", "READY", "RUNNING"}:
        return glyphs.running
    return glyphs.other


_SUB_TYPES: Final = {"RunInChildContext": "context", "ChainedInvoke": "invoke"}


def _op_type(op: OperationView) -> str:
    """Return a short kind: the subtype in kebab case (``map-iteration``), else the type."""
    sub_type = op.sub_type
    if not sub_type or sub_type.lower() == op.type.lower():
        return op.type.lower().replace("_", "-")
    if sub_type in _SUB_TYPES:
        return _SUB_TYPES[sub_type]
    return re.sub(r"(?<!^)(?=[A-Z])", "-", sub_type).lower()


def _rows(
    ops: Sequence[OperationView],
    prefix: str,
    glyphs: Glyphs,
    origin: float | None,
    show_all: bool,
) -> Iterable[list[str]]:
    shown = ops if show_all or len(ops) <= COLLAPSE_AFTER + 1 else ops[:COLLAPSE_AFTER]
    hidden = ops[len(shown) :]
    for index, op in enumerate(shown):
        last = index == len(shown) - 1 and not hidden
        branch = glyphs.last if last else glyphs.tee
        attempts = ""
        if op.type == "STEP" and op.attempts > 1:
            attempts = f"{op.attempts} attempts"
        outcome = ""
        if op.error is not None:
            outcome = error_line(op.error)
        elif op.result is not None:
            outcome = f"{glyphs.arrow} {preview(op.result, glyphs)}"
        elif op.result_truncated:
            outcome = f"{glyphs.arrow} (not included)"
        elif op.type == "CALLBACK" and op.status == "STARTED":
            outcome = "waiting for an answer"
        elif op.type == "STEP" and op.status == "PENDING":
            outcome = "retrying"
        offset = (
            "" if op.start is None or origin is None else f"+{format_duration(op.start - origin)}"
        )
        took = format_duration(op.end - op.start) if op.end is not None and op.start else ""
        yield [
            f"{prefix}{branch}{_symbol(op.status, glyphs)} {op.label}",
            _op_type(op),
            op.status,
            offset,
            took,
            attempts,
            outcome,
        ]
        if op.children:
            child_prefix = prefix + (glyphs.blank if last else glyphs.pipe)
            yield from _rows(op.children, child_prefix, glyphs, origin, show_all)
    if hidden:
        counts: dict[str, int] = {}
        for op in hidden:
            counts[op.status] = counts.get(op.status, 0) + 1
        summary = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
        more = f"{glyphs.ellipsis} {len(hidden)} more ({summary}); --all shows them"
        yield [f"{prefix}{glyphs.last}{more}", "", "", "", "", "", ""]


def _table(rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    rows = [[clean(cell) for cell in row] for row in rows]
    # A row with only a first cell (a "... N more" summary) is printed as it is,
    # so it does not widen the column.
    tabular = [row for row in rows if any(row[1:])] or rows
    widths = [max(len(row[i]) for row in tabular) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        if not any(row[1:]):
            lines.append(row[0])
            continue
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    return lines


def render_execution(view: ExecutionView, glyphs: Glyphs = UNICODE, show_all: bool = False) -> str:
    """Render an execution's header, operation tree and outcome as text."""
    took = ""
    if view.start is not None and view.end is not None:
        took = f" in {format_duration(view.end - view.start)}"
    count = len(view.invocations)
    invocations = f", {count} invocation{'s' if count != 1 else ''}" if count else ""
    lines = [
        (
            f"{_symbol(view.status, glyphs)} {clean(view.name)}  {clean(view.status)}"
            f"{took}{invocations}"
        ),
        f"  function  {clean(view.function_name)}",
        f"  arn       {clean(view.arn)}",
        f"  started   {format_time(view.start)}",
    ]
    if view.input is not None:
        lines.append(f"  input     {clean(preview(view.input, glyphs))}")
    if view.roots:
        lines.append("")
        header = ["operation", "type", "status", "start", "took", "", "result"]
        body = list(_rows(view.roots, "", glyphs, view.start, show_all))
        table = _table([header, *body])
        lines.extend(table)
    else:
        lines.extend(["", "(no operations yet)"])
    lines.append("")
    if view.status == "SUCCEEDED":
        lines.append(f"result: {clean(preview(view.result, glyphs, limit=400)) or 'null'}")
    elif view.error is not None:
        lines.append(f"error: {clean(error_line(view.error))}")
        lines.extend(stack_trace_lines(view.error))
    if view.invocation_errors:
        last = view.invocation_errors[-1]
        errors = len(view.invocation_errors)
        lines.append(f"{errors} invocation(s) raised; the last: {clean(error_line(last))}")
    return "\n".join(lines)


def stack_trace_lines(error: dict[str, Any] | None, indent: str = "  ") -> list[str]:
    """Return an ErrorObject's ``StackTrace`` as indented lines (control characters escaped)."""
    trace = (error or {}).get("StackTrace")
    if not isinstance(trace, list) or not trace:
        return []
    text = "".join(str(chunk) if str(chunk).endswith("\n") else f"{chunk}\n" for chunk in trace)
    return [f"{indent}{line}" for line in clean(text, keep_newlines=True).rstrip("\n").split("\n")]


def callback_hint(
    view: ExecutionView,
    command: str,
    options: str = "",
    refs: dict[str, str] | None = None,
) -> list[str]:
    """Return lines telling how to answer each open callback of ``view``.

    Args:
        view: The execution.
        command: The program name to print (``durable-exec``).
        options: Options to append to each command (``--store PATH``...).
        refs: Short ``EXECUTION/NAME`` forms by callback id, used instead of the id.
    """
    lines: list[str] = []
    for op in view.waiting_callbacks:
        label = clean(view.callback_label(op))
        ref = (refs or {}).get(op.callback_id or "") or op.callback_id or ""
        quoted = clean(shlex.quote(ref))
        lines.append(f"waiting for callback {label!r} of {clean(view.name)}; answer it with:")
        lines.append(f"  {command} callback succeed {quoted} 'RESULT'{options}")
        lines.append(f"  {command} callback fail {quoted} 'MESSAGE'{options}")
    return lines


# ------------------------------------------------------------------ timeline


def render_timeline(
    view: ExecutionView,
    glyphs: Glyphs = UNICODE,
    now: float | None = None,
    show_all: bool = False,
) -> str:
    """Render a Gantt-style timeline: one bar per operation, on one time axis.

    Args:
        view: The execution.
        glyphs: The characters to draw with.
        now: Where running operations' bars end (the execution's end if it has one).
        show_all: Draw every operation (long sibling lists are summarised otherwise).
    """
    origin = view.start
    if origin is None:
        return "(no timeline: the execution has no start time)"
    ends = [op.end or op.start or origin for op in view.operations]
    finish = view.end or max([now or origin, *ends])
    span = max(finish - origin, 1e-9)

    def column(when: float) -> int:
        return min(TIMELINE_WIDTH - 1, max(0, math.floor((when - origin) / span * TIMELINE_WIDTH)))

    labels: list[tuple[str, OperationView | None]] = []

    def walk(ops: Sequence[OperationView], depth: int) -> None:
        shown = ops if show_all or len(ops) <= COLLAPSE_AFTER + 1 else ops[:COLLAPSE_AFTER]
        for op in shown:
            labels.append(("  " * depth + clean(op.label), op))
            walk(op.children, depth + 1)
        if len(shown) < len(ops):
            labels.append(("  " * depth + f"{glyphs.ellipsis} {len(ops) - len(shown)} more", None))

    walk(view.roots, 0)
    width = max([len(label) for label, _ in labels] + [len("invocations")])
    axis = f"0s {'-' * (TIMELINE_WIDTH - 4)} {format_duration(finish - origin)}"
    lines = [f"{'timeline'.ljust(width)}  {axis}"]
    for label, op in labels:
        if op is None:
            lines.append(label)
            continue
        cells = [" "] * TIMELINE_WIDTH
        start = op.start or origin
        end = op.end if op.end is not None else finish
        first, last = column(start), column(end)
        fill = glyphs.bar if op.end is not None else glyphs.idle
        if last <= first:
            cells[first] = glyphs.tick if op.end is not None else fill
        else:
            for i in range(first, last + 1):
                cells[i] = fill
        took = format_duration(end - start) if op.end is not None else op.status.lower()
        lines.append(f"{label.ljust(width)}  {''.join(cells)}  {took}")
    marks = [" "] * TIMELINE_WIDTH
    for when in view.invocations:
        marks[column(when)] = "^"
    lines.append(f"{'invocations'.ljust(width)}  {''.join(marks)}  {len(view.invocations)}")
    return "\n".join(lines)


# ------------------------------------------------------------------ tables


def render_list(executions: Sequence[dict[str, Any]], glyphs: Glyphs = UNICODE) -> str:
    """Render ``ListDurableExecutionsByFunction`` items as a table."""
    if not executions:
        return "no executions"
    rows = [["name", "function", "status", "started", "took"]]
    for item in executions:
        start = epoch_of(item.get("StartTimestamp"))
        end = epoch_of(item.get("EndTimestamp"))
        function = str(item.get("FunctionArn", "")).split(":function:", 1)[-1].split(":", 1)[0]
        status = str(item.get("Status", ""))
        rows.append(
            [
                f"{_symbol(status, glyphs)} {item.get('DurableExecutionName', '')}",
                function,
                status,
                format_time(start),
                format_duration(end - start) if start is not None and end is not None else "",
            ]
        )
    return "\n".join(_table(rows))


def _event_summary(event: dict[str, Any]) -> str:
    details = event.get(f"{event.get('EventType')}Details") or {}
    parts: list[str] = []
    for key in ("Result", "Input"):
        member = details.get(key)
        if isinstance(member, dict) and member.get("Payload") is not None:
            parts.append(f"{key.lower()}={preview(member['Payload'], limit=48)}")
    error = details.get("Error")
    if isinstance(error, dict) and isinstance(error.get("Payload"), dict):
        parts.append(error_line(error["Payload"]))
    retry = details.get("RetryDetails")
    if isinstance(retry, dict) and retry.get("CurrentAttempt") is not None:
        parts.append(f"attempt {retry['CurrentAttempt']}")
        if retry.get("NextAttemptDelaySeconds") is not None:
            parts.append(f"retry in {format_duration(retry['NextAttemptDelaySeconds'])}")
    for key, label in (
        ("Duration", "for"),
        ("Timeout", "timeout"),
        ("HeartbeatTimeout", "heartbeat"),
    ):
        if details.get(key):
            parts.append(f"{label} {format_duration(details[key])}")
    if details.get("FunctionName"):
        parts.append(f"function {details['FunctionName']}")
    return "  ".join(parts)


def render_history(events: Sequence[dict[str, Any]]) -> str:
    """Render history events, one a line: number, offset, type, operation, details."""
    if not events:
        return "no events"
    origin = epoch_of(events[0].get("EventTimestamp"))
    rows = [["#", "at", "event", "operation", "details"]]
    for event in events:
        when = epoch_of(event.get("EventTimestamp"))
        offset = "" if when is None or origin is None else f"+{format_duration(when - origin)}"
        rows.append(
            [
                str(event.get("EventId", "")),
                offset,
                str(event.get("EventType", "")),
                str(event.get("Name") or event.get("SubType") or ""),
                _event_summary(event),
            ]
        )
    return "\n".join(_table(rows))


# ------------------------------------------------------------------ JSON


def _json_default(item: object) -> object:
    if isinstance(item, datetime):
        return item.isoformat().replace("+00:00", "Z")
    if isinstance(item, bytes | bytearray):
        return bytes(item).decode("utf-8", "replace")
    return str(item)


LONG_LIST: Final = 20
"""Lists of objects longer than this print one compact object a line (fast to write and read)."""


def _dumps(value: object, level: int) -> str:
    """Indented JSON for ``value`` at nesting ``level``; long lists of objects one a line."""
    pad = "  " * level
    if isinstance(value, dict) and value:
        items = [
            f"{pad}  {json.dumps(str(key), ensure_ascii=False)}: {_dumps(item, level + 1)}"
            for key, item in value.items()
        ]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if (
        isinstance(value, list)
        and len(value) > LONG_LIST
        and all(isinstance(item, dict) for item in value)
    ):
        compact = [
            json.dumps(item, ensure_ascii=False, default=_json_default, separators=(", ", ": "))
            for item in value
        ]
        return "[\n" + ",\n".join(f"{pad}  {line}" for line in compact) + f"\n{pad}]"
    text = json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
    return text.replace("\n", "\n" + pad) if level else text


def to_json(value: object) -> str:
    """Return ``value`` as indented JSON, datetimes as ISO 8601 and bytes as text.

    Long lists of objects (operations, events, executions) print one object a
    line: the C encoder writes those, so a 5,000-operation execution is quick.
    """
    text = _dumps(value, 0)
    # json escapes C0 controls itself; escape C1, DEL and bidi controls too (still valid JSON).
    return _JSON_UNSAFE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _error_json(error: dict[str, Any] | None) -> dict[str, Any] | None:
    if error is None:
        return None
    out: dict[str, Any] = {
        "type": error.get("ErrorType"),
        "message": error.get("ErrorMessage"),
        "data": error.get("ErrorData"),
    }
    if error.get("StackTrace"):
        out["stack_trace"] = list(error["StackTrace"])
    return out


def _duration(start: float | None, end: float | None) -> float | None:
    return None if start is None or end is None else round(end - start, 3)


def operation_json(op: OperationView) -> dict[str, Any]:
    """Return one operation as a JSON-able dict with stable snake_case keys."""
    return {
        "id": op.id,
        "parent_id": op.parent_id,
        "name": op.name,
        "type": op.type,
        "sub_type": op.sub_type,
        "status": op.status,
        "attempts": op.attempts,
        "start": iso(op.start),
        "end": iso(op.end),
        "duration_seconds": _duration(op.start, op.end),
        "result": display_value(op.result),
        "result_bytes": None if op.result is None else len(op.result.encode("utf-8", "replace")),
        "error": _error_json(op.error),
        "callback_id": op.callback_id,
        "function_name": op.function_name,
    }


def execution_json(view: ExecutionView) -> dict[str, Any]:
    """Return an execution (description, operations, open callbacks) as a JSON-able dict."""
    return {
        "execution": {
            "arn": view.arn,
            "name": view.name,
            "function_name": view.function_name,
            "function_arn": view.function_arn,
            "status": view.status,
            "start": iso(view.start),
            "end": iso(view.end),
            "duration_seconds": _duration(view.start, view.end),
            "input": display_value(view.input),
            "result": display_value(view.result),
            "error": _error_json(view.error),
            "invocations": len(view.invocations),
        },
        "operations": [operation_json(op) for op in view.operations],
        "waiting_for": waiting_json(view),
    }


def waiting_json(view: ExecutionView) -> list[dict[str, Any]]:
    """Return the open callbacks of ``view`` as ``{"callback_id", "name", "execution_arn"}``."""
    return [
        {
            "callback_id": op.callback_id,
            "name": view.callback_label(op),
            "execution_arn": view.arn,
        }
        for op in view.waiting_callbacks
    ]


def history_json(arn: str, events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return raw history events under stable top-level keys."""
    return {"execution_arn": arn, "events": list(events)}


def stored_list_json(page: Any) -> dict[str, Any]:
    """Return one page of the local store's listing with stable snake_case keys."""
    prefix_of: dict[str, str] = {}
    items = []
    for entry in page.items:
        prefix = prefix_of.setdefault(entry.arn, entry.arn.split(":function:", 1)[0])
        items.append(
            {
                "arn": entry.arn,
                "name": entry.name,
                "function_name": entry.function_name,
                "function_arn": f"{prefix}:function:{entry.function_name}:{entry.qualifier}",
                "status": entry.status,
                "start": iso(entry.start_ts),
                "end": iso(entry.end_ts),
                "invocations": entry.invocation_count,
                "operations": entry.operation_count,
                "error": None
                if entry.error_type is None and entry.error_message is None
                else {"type": entry.error_type, "message": entry.error_message},
            }
        )
    return {"executions": items, "total": page.total, "next_cursor": page.next_cursor}


def list_json(executions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Return listed executions with stable snake_case keys."""
    return {
        "executions": [
            {
                "arn": item.get("DurableExecutionArn"),
                "name": item.get("DurableExecutionName"),
                "function_arn": item.get("FunctionArn"),
                "status": item.get("Status"),
                "start": iso(epoch_of(item.get("StartTimestamp"))),
                "end": iso(epoch_of(item.get("EndTimestamp"))),
            }
            for item in executions
        ]
    }
