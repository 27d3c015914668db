"""Validation of a checkpoint's ``Updates``, before anything is applied.

:func:`validate_updates` checks each ``OperationUpdate`` (member names, types,
lengths, patterns, enums, sizes, options) and then the batch as a whole against
the execution's current operations (legal transitions, consistent metadata,
parents, duplicates, EXECUTION placement). It costs O(batch x nesting depth): it
looks operations up by id and never scans the history. Every failure raises an
``InvalidParameterValueException`` fault whose message names the update, the
operation id and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from durable_exec.testing._errors import invalid
from durable_exec.testing._model import (
    CALLBACK,
    CHAINED_INVOKE,
    CONTEXT,
    EXECUTION,
    FAILED,
    PENDING,
    READY,
    STARTED,
    STEP,
    SUCCEEDED,
    WAIT,
    ErrorObject,
    OperationRecord,
)

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "MAX_ERROR_BYTES",
    "MAX_EXECUTION_RESULT_BYTES",
    "MAX_PAYLOAD_BYTES",
    "Update",
    "check_error_object",
    "check_payload_size",
    "utf8_size_exceeds",
    "validate_updates",
]

MAX_PAYLOAD_BYTES: Final = 1_048_576
"""Per-operation Payload cap (1 MiB, UTF-8 bytes)."""
MAX_EXECUTION_RESULT_BYTES: Final = 6_291_456
"""Cap on an EXECUTION SUCCEED payload (6 MiB)."""
MAX_ERROR_BYTES: Final = 32_768  # as AWS's emulator enforces
"""Cap on an ErrorObject, all fields together (1 MiB)."""
MAX_DURATION_SECONDS: Final = 31_622_400
MAX_CALLBACK_SECONDS: Final = 99_999_999

START: Final = "START"
SUCCEED: Final = "SUCCEED"
FAIL: Final = "FAIL"
RETRY: Final = "RETRY"
CANCEL: Final = "CANCEL"

_ACTIONS: Final = frozenset({START, SUCCEED, FAIL, RETRY, CANCEL})
_ALLOWED_ACTIONS: Final[dict[str, frozenset[str]]] = {
    EXECUTION: frozenset({SUCCEED, FAIL}),
    CONTEXT: frozenset({START, SUCCEED, FAIL}),
    STEP: frozenset({START, SUCCEED, FAIL, RETRY}),
    WAIT: frozenset({START, CANCEL}),
    CALLBACK: frozenset({START}),
    CHAINED_INVOKE: frozenset({START}),
}
# (type, action) -> statuses the operation may be in (None: absent) -> new status.
_FROM: Final[dict[tuple[str, str], frozenset[str | None]]] = {
    (STEP, START): frozenset({None, READY}),
    (STEP, SUCCEED): frozenset({STARTED, READY}),
    (STEP, FAIL): frozenset({STARTED, READY}),
    (STEP, RETRY): frozenset({STARTED, READY}),
    (CONTEXT, START): frozenset({None}),
    (CONTEXT, SUCCEED): frozenset({STARTED}),
    (CONTEXT, FAIL): frozenset({STARTED}),
    (WAIT, START): frozenset({None}),
    (WAIT, CANCEL): frozenset({STARTED}),
    (CALLBACK, START): frozenset({None}),
    (CHAINED_INVOKE, START): frozenset({None}),
}
_TO: Final[dict[str, str]] = {
    START: STARTED,
    SUCCEED: SUCCEEDED,
    FAIL: FAILED,
    RETRY: PENDING,
    CANCEL: "CANCELLED",
}

_ID_RE: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_SUB_TYPE_RE: Final = re.compile(r"[a-zA-Z0-9_-]{1,32}")
_NAME_RE: Final = re.compile(r"[\x20-\x7E]{1,256}")
_FUNCTION_NAME_RE: Final = re.compile(
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
_TENANT_RE: Final = re.compile(r"[a-zA-Z0-9\._:\/=+\-@ ]{1,256}")

_UPDATE_MEMBERS: Final = frozenset(
    {
        "Id",
        "ParentId",
        "Name",
        "Type",
        "SubType",
        "Action",
        "Payload",
        "Error",
        "ContextOptions",
        "StepOptions",
        "WaitOptions",
        "CallbackOptions",
        "ChainedInvokeOptions",
    }
)
_ERROR_MEMBERS: Final = frozenset({"ErrorMessage", "ErrorType", "ErrorData", "StackTrace"})
_OPTION_MEMBERS: Final[dict[str, frozenset[str]]] = {
    "ContextOptions": frozenset({"ReplayChildren"}),
    "StepOptions": frozenset({"NextAttemptDelaySeconds"}),
    "WaitOptions": frozenset({"WaitSeconds"}),
    "CallbackOptions": frozenset({"TimeoutSeconds", "HeartbeatTimeoutSeconds"}),
    "ChainedInvokeOptions": frozenset({"FunctionName", "TenantId", "XAmznTraceId"}),
}


@dataclass(slots=True, eq=False)
class Update:
    """One validated ``OperationUpdate``, with its options flattened."""

    id: str
    type: str
    action: str
    name: str | None = None
    sub_type: str | None = None
    parent_id: str | None = None
    payload: str | None = None
    error: ErrorObject | None = None
    replay_children: bool | None = None
    next_attempt_delay: int | None = None
    wait_seconds: int | None = None
    callback_timeout: int | None = None
    heartbeat_timeout: int | None = None
    function_name: str | None = None
    tenant_id: str | None = None


def utf8_size_exceeds(text: str, limit: int) -> bool:
    """Return whether ``text`` encodes to more than ``limit`` UTF-8 bytes (cheaply)."""
    length = len(text)
    if length > limit:
        return True
    if length * 4 <= limit:
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


def check_payload_size(payload: str, limit: int, where: str) -> None:
    """Raise an InvalidParameterValue fault if ``payload`` is over ``limit`` bytes."""
    if utf8_size_exceeds(payload, limit):
        msg = f"{where}: Payload exceeds the maximum size of {limit} bytes (UTF-8)."
        raise invalid(msg)


def check_error_object(error: object, where: str) -> ErrorObject:
    """Validate an ``ErrorObject`` and return a private copy of it.

    Args:
        error: The candidate ErrorObject.
        where: Context for the message, e.g. ``"Updates[0] (operation 'a')"``.

    Raises:
        ServiceFault: If a member is unknown or mistyped, or the fields together
            exceed 1 MiB.
    """
    if not isinstance(error, Mapping):
        raise invalid(f"{where}: Error must be an ErrorObject structure.")
    unknown = set(error) - _ERROR_MEMBERS
    if unknown:
        raise invalid(f"{where}: unknown ErrorObject member(s) {sorted(unknown)}.")
    copied: ErrorObject = {}
    size = 0
    for key in ("ErrorMessage", "ErrorType", "ErrorData"):
        value = error.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise invalid(f"{where}: Error.{key} must be a string.")
        size += len(value.encode("utf-8", "surrogatepass"))
        copied[key] = value
    trace = error.get("StackTrace")
    if trace is not None:
        if isinstance(trace, str) or not isinstance(trace, Sequence):
            raise invalid(f"{where}: Error.StackTrace must be a list of strings.")
        for entry in trace:
            if not isinstance(entry, str):
                raise invalid(f"{where}: Error.StackTrace must be a list of strings.")
            size += len(entry.encode("utf-8", "surrogatepass"))
        copied["StackTrace"] = list(trace)
    if size > MAX_ERROR_BYTES:
        msg = f"{where}: Error exceeds the maximum size of {MAX_ERROR_BYTES} bytes (all fields)."
        raise invalid(msg)
    return copied


def _int_option(
    options: Mapping[str, Any], key: str, low: int, high: int, where: str
) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid(f"{where}: {key} must be an integer.")
    if not low <= value <= high:
        raise invalid(f"{where}: {key} must be between {low} and {high}, got {value}.")
    return value


def _options(raw: Mapping[str, Any], member: str, where: str) -> Mapping[str, Any] | None:
    options = raw.get(member)
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise invalid(f"{where}: {member} must be a structure.")
    unknown = set(options) - _OPTION_MEMBERS[member]
    if unknown:
        raise invalid(f"{where}: unknown {member} member(s) {sorted(unknown)}.")
    return options


def _parse_update(index: int, raw: object) -> Update:
    """Check one update's own members and return it normalized."""
    if not isinstance(raw, Mapping):
        raise invalid(f"Updates[{index}] must be an OperationUpdate structure.")
    op_id = raw.get("Id")
    if not isinstance(op_id, str) or _ID_RE.fullmatch(op_id) is None:
        msg = f"Updates[{index}]: Id must be 1-64 characters of [a-zA-Z0-9-_], got {op_id!r}."
        raise invalid(msg)
    where = f"Updates[{index}] (operation {op_id!r})"
    if not _UPDATE_MEMBERS.issuperset(raw):
        unknown = sorted(set(raw) - _UPDATE_MEMBERS)
        raise invalid(f"{where}: unknown OperationUpdate member(s) {unknown}.")
    op_type = raw.get("Type")
    allowed = _ALLOWED_ACTIONS.get(op_type) if isinstance(op_type, str) else None
    if allowed is None:
        raise invalid(f"{where}: Type must be one of {sorted(_ALLOWED_ACTIONS)}, got {op_type!r}.")
    action = raw.get("Action")
    if action not in _ACTIONS:
        raise invalid(f"{where}: Action must be one of {sorted(_ACTIONS)}, got {action!r}.")
    assert isinstance(op_type, str)
    assert isinstance(action, str)
    if action not in allowed:
        raise invalid(
            f"{where}: action {action} is not valid for a {op_type} operation "
            f"(allowed: {', '.join(sorted(allowed))})."
        )
    update = Update(op_id, op_type, action)

    name = raw.get("Name")
    if name is not None:
        if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
            raise invalid(f"{where}: Name must be 1-256 printable ASCII characters.")
        update.name = name
    sub_type = raw.get("SubType")
    if sub_type is not None:
        if not isinstance(sub_type, str) or _SUB_TYPE_RE.fullmatch(sub_type) is None:
            raise invalid(f"{where}: SubType must be 1-32 characters of [a-zA-Z0-9-_].")
        update.sub_type = sub_type
    parent_id = raw.get("ParentId")
    if parent_id is not None:
        if not isinstance(parent_id, str) or _ID_RE.fullmatch(parent_id) is None:
            raise invalid(f"{where}: ParentId must be 1-64 characters of [a-zA-Z0-9-_].")
        update.parent_id = parent_id

    payload = raw.get("Payload")
    if payload is not None:
        if not isinstance(payload, str):
            raise invalid(f"{where}: Payload must be a string.")
        limit = (
            MAX_EXECUTION_RESULT_BYTES
            if op_type == EXECUTION and action == SUCCEED
            else MAX_PAYLOAD_BYTES
        )
        check_payload_size(payload, limit, where)
        update.payload = payload
    error = raw.get("Error")
    if error is not None:
        update.error = check_error_object(error, where)
    if action == SUCCEED and update.error is not None:
        raise invalid(f"{where}: a SUCCEED update cannot carry an Error.")
    if action == FAIL and update.payload is not None:
        raise invalid(f"{where}: a FAIL update cannot carry a Payload.")
    if action == RETRY and update.payload is not None and update.error is not None:
        raise invalid(f"{where}: a RETRY update carries either an Error or a Payload, not both.")

    _parse_options(raw, update, where)
    return update


def _parse_options(raw: Mapping[str, Any], update: Update, where: str) -> None:
    op_type, action = update.type, update.action
    context = _options(raw, "ContextOptions", where)
    if context is not None:
        replay = context.get("ReplayChildren")
        if replay is not None and not isinstance(replay, bool):
            raise invalid(f"{where}: ContextOptions.ReplayChildren must be a boolean.")
        update.replay_children = replay
    step = _options(raw, "StepOptions", where)
    if step is not None:
        update.next_attempt_delay = _int_option(
            step, "NextAttemptDelaySeconds", 1, MAX_DURATION_SECONDS, where
        )
    wait = _options(raw, "WaitOptions", where)
    if wait is not None:
        update.wait_seconds = _int_option(wait, "WaitSeconds", 1, MAX_DURATION_SECONDS, where)
    callback = _options(raw, "CallbackOptions", where)
    if callback is not None:
        update.callback_timeout = _int_option(
            callback, "TimeoutSeconds", 0, MAX_CALLBACK_SECONDS, where
        )
        update.heartbeat_timeout = _int_option(
            callback, "HeartbeatTimeoutSeconds", 0, MAX_CALLBACK_SECONDS, where
        )
    invoke = _options(raw, "ChainedInvokeOptions", where)
    if invoke is not None:
        function_name = invoke.get("FunctionName")
        if (
            not isinstance(function_name, str)
            or not 1 <= len(function_name) <= 256
            or _FUNCTION_NAME_RE.fullmatch(function_name) is None
        ):
            msg = (
                f"{where}: ChainedInvokeOptions.FunctionName must be a function name or ARN "
                "of 1-256 characters."
            )
            raise invalid(msg)
        update.function_name = function_name
        tenant_id = invoke.get("TenantId")
        if tenant_id is not None:
            if not isinstance(tenant_id, str) or _TENANT_RE.fullmatch(tenant_id) is None:
                msg = (
                    f"{where}: ChainedInvokeOptions.TenantId must be 1-256 characters "
                    "of [a-zA-Z0-9._:/=+-@ ]."
                )
                raise invalid(msg)
            update.tenant_id = tenant_id

    if op_type == WAIT and action == START and update.wait_seconds is None:
        raise invalid(f"{where}: a WAIT START requires WaitOptions.WaitSeconds.")
    if op_type == STEP and action == RETRY and update.next_attempt_delay is None:
        raise invalid(f"{where}: a STEP RETRY requires StepOptions.NextAttemptDelaySeconds.")
    if op_type == CHAINED_INVOKE and update.function_name is None:
        raise invalid(
            f"{where}: a CHAINED_INVOKE START requires ChainedInvokeOptions.FunctionName."
        )


# What the batch check needs to know about an operation: type, status, name,
# sub-type, parent.
_Sim = tuple[str, str, str | None, str | None, str | None]


def validate_updates(
    updates: object, lookup: Callable[[str], OperationRecord | None]
) -> list[Update]:
    """Validate a checkpoint's ``Updates`` against the execution's operations.

    Args:
        updates: The ``Updates`` request member (a list of OperationUpdate dicts).
        lookup: Returns the execution's current operation for an id (``dict.get``).

    Returns:
        The updates, normalized, in request order.

    Raises:
        ServiceFault: ``InvalidParameterValueException`` naming the first broken rule.
    """
    if isinstance(updates, (str, bytes)) or not isinstance(updates, Sequence):
        raise invalid("Updates must be a list of OperationUpdate structures.")
    parsed = [_parse_update(index, raw) for index, raw in enumerate(updates)]
    last = len(parsed) - 1
    executions = [index for index, update in enumerate(parsed) if update.type == EXECUTION]
    if len(executions) > 1:
        raise invalid("At most one EXECUTION update is allowed per checkpoint.")
    if executions and executions[0] != last:
        index = executions[0]
        msg = (
            f"Updates[{index}] (operation {parsed[index].id!r}): the EXECUTION update must "
            "be the last update of its checkpoint."
        )
        raise invalid(msg)

    overlay: dict[str, _Sim] = {}
    last_action: dict[str, str] = {}

    def current(op_id: str) -> _Sim | None:
        sim = overlay.get(op_id)
        if sim is not None:
            return sim
        record = lookup(op_id)
        if record is None:
            return None
        return (record.type, record.status, record.name, record.sub_type, record.parent_id)

    for index, update in enumerate(parsed):
        if update.type == EXECUTION:
            continue
        where = f"Updates[{index}] (operation {update.id!r})"
        previous = last_action.get(update.id)
        if previous is not None and not (
            update.type in (STEP, CONTEXT) and previous == START and update.action != START
        ):
            msg = (
                f"{where}: only one update per operation per checkpoint; a STEP or CONTEXT "
                "START may be followed by one SUCCEED, FAIL or RETRY."
            )
            raise invalid(msg)
        last_action[update.id] = update.action
        state = current(update.id)
        parent_id = update.parent_id
        if state is not None:
            _check_metadata(update, state, where)
            if parent_id is None:
                parent_id = state[4]
        if parent_id is not None:
            _check_parent(parent_id, current, where)
        status = state[1] if state is not None else None
        if status not in _FROM[update.type, update.action]:
            shown = status if status is not None else "absent (never started)"
            msg = f"{where}: cannot {update.action} a {update.type} operation in status {shown}."
            raise invalid(msg)
        overlay[update.id] = (
            update.type,
            _TO[update.action],
            update.name if state is None else state[2],
            update.sub_type if state is None else state[3],
            parent_id,
        )
    return parsed


def _check_metadata(update: Update, state: _Sim, where: str) -> None:
    """Reject a re-checkpoint that changes Type, SubType, Name or ParentId."""
    checks = (
        ("Type", update.type, state[0]),
        ("SubType", update.sub_type, state[3]),
        ("Name", update.name, state[2]),
        ("ParentId", update.parent_id, state[4]),
    )
    for member, sent, stored in checks:
        if sent is not None and sent != stored:
            msg = f"{where}: {member} {sent!r} differs from the stored {member} {stored!r}."
            raise invalid(msg)


def _check_parent(parent_id: str, current: Callable[[str], _Sim | None], where: str) -> None:
    parent = current(parent_id)
    if parent is None:
        msg = (
            f"{where}: ParentId {parent_id!r} names no existing operation and none started "
            "earlier in this checkpoint."
        )
        raise invalid(msg)
    if parent[0] != CONTEXT:
        raise invalid(f"{where}: ParentId {parent_id!r} is a {parent[0]}, not a CONTEXT.")
    ancestor_id: str | None = parent_id
    ancestor: _Sim | None = parent
    while ancestor_id is not None and ancestor is not None:
        if ancestor[1] != STARTED:
            msg = (
                f"{where}: parent CONTEXT {ancestor_id!r} is already {ancestor[1]}; "
                "operations under a completed context can no longer checkpoint."
            )
            raise invalid(msg)
        ancestor_id = ancestor[4]
        ancestor = current(ancestor_id) if ancestor_id is not None else None
