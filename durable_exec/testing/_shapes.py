"""Request-member parsing and small response shapes shared by the service's methods."""

from __future__ import annotations

import traceback
from datetime import UTC, datetime
from typing import Any, Final

from durable_exec.testing._errors import invalid
from durable_exec.testing._model import ErrorObject, ExecutionRecord, to_datetime

__all__ = [
    "MAX_PAGE",
    "deep_copy",
    "epoch",
    "error_from_exception",
    "marker_index",
    "page_size",
    "summary",
]

MAX_PAGE: Final = 1000
"""The largest MaxItems any paginated API accepts."""


def epoch(value: object, member: str) -> float:
    """Return a timestamp member (datetime, epoch number or ISO string) as epoch seconds."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    raise invalid(f"{member} must be a timestamp, got {value!r}.")


def page_size(max_items: object, default: int) -> int:
    """Return the page size for ``MaxItems`` (None or 0 means ``default``)."""
    if max_items is None or max_items == 0:
        return default
    if (
        isinstance(max_items, bool)
        or not isinstance(max_items, int)
        or not 0 <= max_items <= MAX_PAGE
    ):
        raise invalid(f"MaxItems must be an integer between 0 and {MAX_PAGE}, got {max_items!r}.")
    return max_items


def marker_index(marker: object, prefix: str, limit: int) -> int | None:
    """Decode a paging marker made by this service, or ``None`` for no marker."""
    if marker is None or marker == "":
        return None
    if isinstance(marker, str) and marker.startswith(prefix):
        digits = marker[len(prefix) :]
        if digits.isdigit() and int(digits) <= limit:
            return int(digits)
    raise invalid(f"Invalid marker {marker!r}.")


def summary(execution: ExecutionRecord) -> dict[str, Any]:
    """Return the ``Execution`` shape ListDurableExecutionsByFunction lists."""
    summary: dict[str, Any] = {
        "DurableExecutionArn": execution.arn,
        "DurableExecutionName": execution.name,
        "FunctionArn": execution.function_arn,
        "Status": execution.status,
        "StartTimestamp": to_datetime(execution.start_ts),
    }
    if execution.end_ts is not None:
        summary["EndTimestamp"] = to_datetime(execution.end_ts)
    return summary


def error_from_exception(error: BaseException) -> ErrorObject:
    """Return the ErrorObject Lambda records for a handler that raised ``error``."""
    return {
        "ErrorType": type(error).__name__,
        "ErrorMessage": str(error),
        "StackTrace": traceback.format_tb(error.__traceback__),
    }


def deep_copy(value: object) -> object:
    """Copy nested dicts and lists (the leaves of response shapes are immutable)."""
    if isinstance(value, dict):
        return {key: deep_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [deep_copy(item) for item in value]
    return value
