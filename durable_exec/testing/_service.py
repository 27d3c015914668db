"""An in-process, in-memory implementation of the Lambda durable-execution API.

:class:`LocalDurableService` is shaped like a botocore ``lambda`` client: the
durable-execution methods take the same keyword arguments, return the same
response dicts (timestamps as aware UTC ``datetime``), and raise
``botocore.exceptions.ClientError`` with the modelled ``Error.Code``, message and
HTTP status, so the SDK's normal botocore adapter runs against it unchanged.
Local-only methods (``start_execution``, ``invocation_event``,
``record_invocation``, timers, chained invokes, accessors) let a test runner
play the part of Lambda.

Semantics follow AWS's own emulator (aws-durable-execution-sdk-python-testing)
where the wire spec is silent. Every checkpoint costs O(batch): operations are
indexed by id, changed operations are tracked in an ordered set, state and
history pages are list slices, and timers live in heaps.
"""

from __future__ import annotations

import heapq
import itertools
import re
import threading
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, cast

from durable_exec.testing._clock import VirtualClock
from durable_exec.testing._engine import Engine
from durable_exec.testing._errors import (
    RESOURCE_NOT_FOUND,
    ServiceFault,
    api_operation,
    client_error,
    invalid,
)
from durable_exec.testing._history import add_event, error_data, payload_data, render_events
from durable_exec.testing._model import (
    CALLBACK,
    CHAINED_INVOKE,
    CONTEXT,
    FAILED,
    RUNNING,
    STARTED,
    STOPPED,
    SUCCEEDED,
    TERMINAL_EXECUTION,
    TIMED_OUT,
    TIMER_CALLBACK,
    TIMER_EXECUTION,
    TIMER_HEARTBEAT,
    ChainedInvokeRequest,
    ExecutionRecord,
    IdempotencyRecord,
    copy_error,
    render_operation,
    to_datetime,
    to_millis,
)
from durable_exec.testing._shapes import (
    MAX_PAGE,
    deep_copy,
    epoch,
    error_from_exception,
    marker_index,
    page_size,
    summary,
)
from durable_exec.testing._store import ExecutionStore, MemoryStore
from durable_exec.testing._validation import (
    MAX_EXECUTION_RESULT_BYTES,
    MAX_PAYLOAD_BYTES,
    check_error_object,
    utf8_size_exceeds,
    validate_updates,
)

if TYPE_CHECKING:
    from durable_exec._clock import Clock

__all__ = ["ChainedInvokeRequest", "LocalDurableService"]

IDEMPOTENCY_WINDOW_SECONDS: Final = 900.0
"""How long a ClientToken replays its checkpoint's response (15 minutes)."""
DEFAULT_PAGE: Final = 100
MAX_EXECUTION_TIMEOUT: Final = 31_622_400

_NAME_RE: Final = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_QUALIFIER_RE: Final = re.compile(r"\$LATEST(\.PUBLISHED)?|[0-9]+")
_FUNCTION_RE: Final = re.compile(
    r"(?:arn:[a-zA-Z0-9-]+:lambda:[a-z0-9-]+:)?(?:\d{12}:)?(?:function:)?"
    r"([a-zA-Z0-9_.-]+)(?::([a-zA-Z0-9$._-]+))?"
)
_CLIENT_TOKEN_RE: Final = re.compile(r"[\x21-\x7E]{1,64}")
_EXECUTION_STATUSES: Final = frozenset({RUNNING, *TERMINAL_EXECUTION})
_INVOKE_OUTCOMES: Final = {
    SUCCEEDED: "ChainedInvokeSucceeded",
    FAILED: "ChainedInvokeFailed",
    TIMED_OUT: "ChainedInvokeTimedOut",
    STOPPED: "ChainedInvokeStopped",
}
_STALE_MESSAGE: Final = "Invalid checkpoint token: it is stale, consumed or unknown."


class LocalDurableService:
    """The Lambda durable-execution API, in process and in memory, botocore-client-shaped.

    Decisions an SDK must know about:

    * ``StepDetails.Attempt`` counts *finished* attempts: RETRY, SUCCEED and FAIL
      each add one, START does not. A step running its first attempt shows
      ``Attempt`` 0; the attempt now running is ``Attempt + 1`` (as in AWS's
      emulator and the official SDK). History ``RetryDetails.CurrentAttempt`` is
      the attempt that just finished (1-based).
    * A STEP may START when absent or READY (not when STARTED); RETRY, SUCCEED
      and FAIL are accepted from STARTED or READY, as in AWS's emulator. START
      keeps the previous attempt's Result and Error, so a wait-for-condition's
      state survives a crash between START and the next RETRY.
    * ``NewExecutionState.Operations`` lists each operation updated after the
      last checkpoint response or invocation envelope was sent, by this batch or by
      the service (timers, callbacks, chained invokes), in start order, in one
      page (no ``NextMarker``).
    * A batch that ends the execution (EXECUTION SUCCEED/FAIL) is answered
      without ``CheckpointToken``. Once the execution has finished, checkpoints
      and state reads fail with InvalidParameterValueException "Invalid
      checkpoint token: ...".
    * A callback success with an empty Result leaves ``CallbackDetails.Result``
      absent (as AWS's emulator does).
    * ``get_durable_execution_state`` treats ``MaxItems`` None or 0 as
      ``state_page_size`` (1000 unless set); the real service defaults to 100.
    * Wrong member types, missing required members and too-short values are
      InvalidParameterValueException here; a real botocore client would raise
      ``ParamValidationError`` before sending.

    One lock guards all state; no method blocks or calls out while holding it.
    A method that changes an execution reads it inside the store's transaction,
    so with a store shared by processes (:class:`SqliteStore`) a change another
    process commits meanwhile is read first, never overwritten or refused.
    Responses are fresh dicts, except that a ClientToken replay returns a copy
    of the cached first response.

    Args:
        clock: Time source; a fresh :class:`VirtualClock` by default.
        store: Where executions live; a fresh :class:`MemoryStore` by default.
        envelope_max_operations: Cap on operations in an invocation envelope; the
            rest must be paged with ``get_durable_execution_state``.
        state_page_size: Page size of ``get_durable_execution_state`` when
            ``MaxItems`` is None or 0.

    Example:
        >>> service = LocalDurableService()
        >>> arn = service.start_execution("orders", '{"id": 1}')
        >>> event = service.invocation_event(arn)
        >>> service.record_invocation(arn, {"Status": "SUCCEEDED", "Result": "1"})
        >>> service.execution_status(arn)
        'SUCCEEDED'
    """

    def __init__(
        self,
        clock: Clock | None = None,
        store: ExecutionStore | None = None,
        *,
        envelope_max_operations: int | None = None,
        state_page_size: int = 1000,
    ) -> None:
        if envelope_max_operations is not None and envelope_max_operations < 1:
            raise ValueError("envelope_max_operations must be at least 1")
        if not 1 <= state_page_size <= MAX_PAGE:
            raise ValueError(f"state_page_size must be between 1 and {MAX_PAGE}")
        self._clock: Clock = clock if clock is not None else VirtualClock()
        self._store: ExecutionStore = store if store is not None else MemoryStore()
        self._engine = Engine(self._store)
        self._envelope_max = envelope_max_operations
        self._state_page_size = state_page_size
        self._lock = threading.Lock()
        self._request_ids = itertools.count(1)
        prefix = uuid.uuid4().hex
        self._request_prefix = f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-"

    @property
    def clock(self) -> Clock:
        """The service's clock."""
        return self._clock

    # ------------------------------------------------------------------ AWS API

    @api_operation("CheckpointDurableExecution")
    def checkpoint_durable_execution(
        self,
        *,
        DurableExecutionArn: str,  # noqa: N803
        CheckpointToken: str,  # noqa: N803
        Updates: Sequence[Mapping[str, Any]] = (),  # noqa: N803
        ClientToken: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """Apply a batch of operation updates atomically and return the changed state.

        Args:
            DurableExecutionArn: The execution.
            CheckpointToken: The current token (from the envelope or the last response).
            Updates: OperationUpdate dicts, applied in order; empty polls for changes.
            ClientToken: Idempotency token: a retry with the same ClientToken and
                CheckpointToken within 15 minutes gets the first response again.

        Returns:
            ``{"CheckpointToken"?, "NewExecutionState": {"Operations": [...]}}``;
            the token is absent once the batch ended the execution.

        Raises:
            ClientError: InvalidParameterValueException for a stale token (message
                "Invalid checkpoint token..."), a finished execution, or any
                invalid update (nothing is applied then).
        """
        with self._lock, self._store.transaction():
            now = self._clock.now()
            execution = self._checkpointed(DurableExecutionArn, now)
            if ClientToken is not None:
                if not isinstance(ClientToken, str) or not _CLIENT_TOKEN_RE.fullmatch(ClientToken):
                    raise invalid("ClientToken must be 1-64 printable characters.")
                cached = execution.last_checkpoint
                if (
                    cached is not None
                    and cached.client_token == ClientToken
                    and cached.checkpoint_token == CheckpointToken
                    and now - cached.accepted_at <= IDEMPOTENCY_WINDOW_SECONDS
                ):
                    return cast("dict[str, Any]", deep_copy(cached.response))
            if execution.status != RUNNING:
                msg = (
                    f"Invalid checkpoint token: the durable execution is {execution.status} "
                    "and accepts no more checkpoints."
                )
                raise invalid(msg)
            if not isinstance(CheckpointToken, str) or CheckpointToken != execution.token:
                raise invalid(_STALE_MESSAGE)
            updates = validate_updates(Updates, execution.ops.get)
            with self._store.transaction():
                for update in updates:
                    self._engine.apply(execution, update, now)
                response: dict[str, Any] = {}
                if execution.status == RUNNING:
                    response["CheckpointToken"] = self._engine.rotate_token(execution)
                response["NewExecutionState"] = {"Operations": self._engine.take_unseen(execution)}
                response["ResponseMetadata"] = self._metadata()
                if ClientToken is not None:
                    # Cache a copy: the caller owns (and may mutate) the one returned.
                    cached_response = cast("dict[str, Any]", deep_copy(response))
                    execution.last_checkpoint = IdempotencyRecord(
                        ClientToken, CheckpointToken, cached_response, now
                    )
                self._store.save(execution)
            return response

    @api_operation("GetDurableExecutionState")
    def get_durable_execution_state(
        self,
        *,
        DurableExecutionArn: str,  # noqa: N803
        CheckpointToken: str,  # noqa: N803
        Marker: str | None = None,  # noqa: N803
        MaxItems: int | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """Return one page of the execution's operations, in start order.

        Args:
            DurableExecutionArn: The execution.
            CheckpointToken: The current checkpoint token.
            Marker: ``NextMarker`` from the previous page or the envelope.
            MaxItems: Page size, 0..1000; None or 0 means ``state_page_size``.

        Returns:
            ``{"Operations": [...], "NextMarker"?: str}``.

        Raises:
            ClientError: InvalidParameterValueException for an invalid token,
                marker or MaxItems.
        """
        with self._lock:
            execution = self._checkpointed(DurableExecutionArn, self._clock.now())
            if execution.token is None or CheckpointToken != execution.token:
                raise invalid(_STALE_MESSAGE)
            size = page_size(MaxItems, self._state_page_size)
            order = execution.order
            start = marker_index(Marker, "", len(order)) or 0
            end = min(len(order), start + size)
            response: dict[str, Any] = {
                "Operations": [render_operation(op, to_datetime) for op in order[start:end]]
            }
            if end < len(order):
                response["NextMarker"] = str(end)
            response["ResponseMetadata"] = self._metadata()
            return response

    @api_operation("GetDurableExecution")
    def get_durable_execution(
        self,
        *,
        DurableExecutionArn: str,  # noqa: N803
        IncludeExecutionData: bool = True,  # noqa: N803
    ) -> dict[str, Any]:
        """Describe an execution: status, input, result or error, times.

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN.
        """
        with self._lock:
            execution = self._load(DurableExecutionArn)
            response: dict[str, Any] = {
                "DurableExecutionArn": execution.arn,
                "DurableExecutionName": execution.name,
                "FunctionArn": execution.function_arn,
            }
            if IncludeExecutionData:
                if execution.input_payload is not None:
                    response["InputPayload"] = execution.input_payload
                if execution.status == SUCCEEDED and execution.result is not None:
                    response["Result"] = execution.result
                if execution.status != SUCCEEDED and execution.error is not None:
                    response["Error"] = copy_error(execution.error)
            response["StartTimestamp"] = to_datetime(execution.start_ts)
            response["Status"] = execution.status
            if execution.end_ts is not None:
                response["EndTimestamp"] = to_datetime(execution.end_ts)
            response["Version"] = execution.qualifier
            response["ResponseMetadata"] = self._metadata()
            return response

    @api_operation("GetDurableExecutionHistory")
    def get_durable_execution_history(
        self,
        *,
        DurableExecutionArn: str,  # noqa: N803
        IncludeExecutionData: bool = True,  # noqa: N803
        MaxItems: int | None = None,  # noqa: N803
        Marker: str | None = None,  # noqa: N803
        ReverseOrder: bool = False,  # noqa: N803
    ) -> dict[str, Any]:
        """Return one page of history events (oldest first unless ReverseOrder).

        Without execution data, payload members read ``{"Truncated": True}``.

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN;
                InvalidParameterValueException for a bad marker or MaxItems.
        """
        with self._lock:
            execution = self._load(DurableExecutionArn)
            size = page_size(MaxItems, DEFAULT_PAGE)
            events = execution.events
            count = len(events)
            response: dict[str, Any]
            if not ReverseOrder:
                start = marker_index(Marker, "f", count) or 0
                end = min(count, start + size)
                response = {"Events": render_events(events[start:end], IncludeExecutionData)}
                if end < count:
                    response["NextMarker"] = f"f{end}"
            else:
                marker = marker_index(Marker, "r", count)
                top = count if marker is None else marker
                bottom = max(0, top - size)
                page = reversed(events[bottom:top])
                response = {"Events": render_events(page, IncludeExecutionData)}
                if bottom > 0:
                    response["NextMarker"] = f"r{bottom}"
            response["ResponseMetadata"] = self._metadata()
            return response

    @api_operation("ListDurableExecutionsByFunction")
    def list_durable_executions_by_function(
        self,
        *,
        FunctionName: str,  # noqa: N803
        Qualifier: str | None = None,  # noqa: N803
        DurableExecutionName: str | None = None,  # noqa: N803
        Statuses: Sequence[str] | None = None,  # noqa: N803
        StartedAfter: datetime | float | str | None = None,  # noqa: N803
        StartedBefore: datetime | float | str | None = None,  # noqa: N803
        ReverseOrder: bool = False,  # noqa: N803
        Marker: str | None = None,  # noqa: N803
        MaxItems: int | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """List a function's executions in start order (newest first with ReverseOrder).

        ``FunctionName`` may be a name, a partial ARN or a full ARN; a qualifier
        in it filters like ``Qualifier``. An unknown function lists nothing.

        Raises:
            ClientError: InvalidParameterValueException for a bad filter or marker.
        """
        match = _FUNCTION_RE.fullmatch(FunctionName) if isinstance(FunctionName, str) else None
        if match is None:
            raise invalid(f"FunctionName {FunctionName!r} is not a function name or ARN.")
        function_name, qualifier = match.group(1), Qualifier or match.group(2)
        statuses = None if Statuses is None else frozenset(Statuses)
        if statuses is not None and not statuses <= _EXECUTION_STATUSES:
            raise invalid(f"Statuses must be drawn from {sorted(_EXECUTION_STATUSES)}.")
        after = None if StartedAfter is None else epoch(StartedAfter, "StartedAfter")
        before = None if StartedBefore is None else epoch(StartedBefore, "StartedBefore")
        size = page_size(MaxItems, DEFAULT_PAGE)
        prefix = "r" if ReverseOrder else "f"
        with self._lock:
            now = self._clock.now()
            candidates = self._store.list_by_function(function_name)
            count = len(candidates)
            position = marker_index(Marker, prefix, count)
            index = (count if ReverseOrder else 0) if position is None else position
            found: list[dict[str, Any]] = []
            while len(found) < size and (index > 0 if ReverseOrder else index < count):
                if ReverseOrder:
                    index -= 1
                execution = candidates[index]
                if not ReverseOrder:
                    index += 1
                self._engine.fire_due(execution, now)
                if (
                    (qualifier is None or execution.qualifier == qualifier)
                    and (DurableExecutionName is None or execution.name == DurableExecutionName)
                    and (statuses is None or execution.status in statuses)
                    and (after is None or execution.start_ts > after)
                    and (before is None or execution.start_ts < before)
                ):
                    found.append(summary(execution))
            response: dict[str, Any] = {"DurableExecutions": found}
            if index > 0 if ReverseOrder else index < count:
                response["NextMarker"] = f"{prefix}{index}"
            response["ResponseMetadata"] = self._metadata()
            return response

    @api_operation("SendDurableExecutionCallbackSuccess")
    def send_durable_execution_callback_success(
        self,
        *,
        CallbackId: str,  # noqa: N803
        Result: bytes | bytearray | str = b"",  # noqa: N803
    ) -> dict[str, Any]:
        """Complete a callback successfully with ``Result`` (raw bytes holding UTF-8).

        Raises:
            ClientError: ResourceNotFoundException for an unknown callback;
                CallbackTimeoutException if it already completed or timed out;
                InvalidParameterValueException for a non-UTF-8 or over-1-MiB result.
        """
        if isinstance(Result, str):
            data = Result.encode()
        elif isinstance(Result, (bytes, bytearray)):
            data = bytes(Result)
        else:
            raise invalid("Result must be bytes.")
        if len(data) > MAX_PAYLOAD_BYTES:
            raise invalid(f"Result exceeds the maximum size of {MAX_PAYLOAD_BYTES} bytes.")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise invalid(f"Result must be UTF-8 encoded: {exc.reason}.") from exc
        with self._lock, self._store.transaction():
            now = self._clock.now()
            execution, op = self._engine.open_callback(CallbackId, now)
            with self._store.transaction():
                op.result = text or None
                self._engine.complete(execution, op, SUCCEEDED, now)
                details = {"Result": payload_data(op.result)}
                add_event(execution, "CallbackSucceeded", now, op, details)
                self._store.save(execution)
            return {"ResponseMetadata": self._metadata()}

    @api_operation("SendDurableExecutionCallbackFailure")
    def send_durable_execution_callback_failure(
        self,
        *,
        CallbackId: str,  # noqa: N803
        Error: Mapping[str, Any] | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """Fail a callback with ``Error`` (an ErrorObject).

        Raises:
            ClientError: ResourceNotFoundException for an unknown callback;
                CallbackTimeoutException if it already completed or timed out;
                InvalidParameterValueException for an invalid error.
        """
        error = check_error_object(Error, "Error") if Error is not None else {}
        with self._lock, self._store.transaction():
            now = self._clock.now()
            execution, op = self._engine.open_callback(CallbackId, now)
            with self._store.transaction():
                op.error = error
                self._engine.complete(execution, op, FAILED, now)
                add_event(execution, "CallbackFailed", now, op, {"Error": error_data(error)})
                self._store.save(execution)
            return {"ResponseMetadata": self._metadata()}

    @api_operation("SendDurableExecutionCallbackHeartbeat")
    def send_durable_execution_callback_heartbeat(
        self,
        *,
        CallbackId: str,  # noqa: N803
    ) -> dict[str, Any]:
        """Push a callback's heartbeat deadline to now + its heartbeat timeout.

        Raises:
            ClientError: ResourceNotFoundException for an unknown callback;
                CallbackTimeoutException if it already completed or timed out.
        """
        with self._lock, self._store.transaction():
            now = self._clock.now()
            execution, op = self._engine.open_callback(CallbackId, now)
            if op.heartbeat_timeout > 0:
                with self._store.transaction():
                    op.heartbeat_due = now + op.heartbeat_timeout
                    self._engine.push_timer(execution, op.heartbeat_due, TIMER_HEARTBEAT, op.id)
                    self._store.save(execution)
            return {"ResponseMetadata": self._metadata()}

    @api_operation("StopDurableExecution")
    def stop_durable_execution(
        self,
        *,
        DurableExecutionArn: str,  # noqa: N803
        Error: Mapping[str, Any] | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """Stop a running execution (STOPPED); later checkpoints are rejected.

        In-progress operations stay as they are. Stopping a finished execution
        changes nothing and returns its end time.

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN.
        """
        error = (
            check_error_object(Error, "Error")
            if Error is not None
            else {"ErrorMessage": "StopDurableExecution was called without an Error"}
        )
        with self._lock, self._store.transaction():
            now = self._clock.now()
            execution = self._load(DurableExecutionArn)
            if execution.status == RUNNING:
                with self._store.transaction():
                    self._engine.finish(execution, STOPPED, now, error=error)
                    self._store.save(execution)
            assert execution.end_ts is not None
            return {
                "StopTimestamp": to_datetime(execution.end_ts),
                "ResponseMetadata": self._metadata(),
            }

    # --------------------------------------------------------------- local API

    def start_execution(
        self,
        function_name: str,
        input_payload: str | None = None,
        *,
        execution_name: str | None = None,
        qualifier: str = "$LATEST",
        execution_timeout: float = MAX_EXECUTION_TIMEOUT,
        arm_timeout: bool = True,
    ) -> str:
        """Start a durable execution (what ``Invoke`` with a durable name does).

        The EXECUTION operation (Name = execution name, Status STARTED) has the
        ARN's last segment as Id and ``input_payload`` as
        ``ExecutionDetails.InputPayload``.

        Args:
            function_name: The function's name (1-64 of ``[a-zA-Z0-9-_]``).
            input_payload: The user input as a (JSON) string, or None.
            execution_name: Unique per function; a uuid4 hex by default.
            qualifier: ``$LATEST``, ``$LATEST.PUBLISHED`` or a version number.
            execution_timeout: Seconds until the execution times out.
            arm_timeout: Whether the service times the execution out by its clock;
                when false the caller does it with :meth:`time_out_execution`.

        Returns:
            ``arn:aws:lambda:us-east-1:123456789012:function:{function_name}:{qualifier}``
            ``/durable-execution/{execution_name}/{invocation_id}``. Starting an
            existing name again with the same input and qualifier returns its ARN.

        Raises:
            ClientError: DurableExecutionAlreadyStartedException for an existing
                name with different input; InvalidParameterValueException for bad
                arguments.
        """
        try:
            return self._start_execution(
                function_name,
                input_payload,
                execution_name,
                qualifier,
                execution_timeout,
                arm_timeout=arm_timeout,
            )
        except ServiceFault as fault:
            raise client_error(fault.code, fault.message, "Invoke") from fault

    def time_out_execution(self, arn: str) -> None:
        """End a running execution TIMED_OUT now, as its timeout would (finished ones are kept).

        For a runner that enforces the timeout itself (``start_execution(arm_timeout=False)``).

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN.
        """
        with self._lock:
            now = self._clock.now()
            execution = self._load_local(arn)
            if execution.status != RUNNING:
                return
            with self._store.transaction():
                self._engine.time_out(execution, now)
                self._store.save(execution)

    def fail_execution(self, arn: str, error: Mapping[str, Any]) -> None:
        """End a running execution FAILED with ``error``, as Lambda does once its retries run out.

        For a runner that gives up on a handler that keeps raising (finished
        executions are kept).

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN.
            ValueError: ``error`` is not a valid ErrorObject.
        """
        try:
            checked = check_error_object(error, "error")
        except ServiceFault as fault:
            raise ValueError(fault.message) from fault
        with self._lock:
            now = self._clock.now()
            execution = self._load_local(arn)
            if execution.status != RUNNING:
                return
            with self._store.transaction():
                self._engine.finish(execution, FAILED, now, error=checked)
                self._store.save(execution)

    def invocation_event(self, arn: str, *, owner: str | None = None) -> dict[str, Any]:
        """Build the Lambda invocation envelope for the execution's next invocation.

        A fresh CheckpointToken is issued and every older token stops working:
        the new invocation owns the chain. Operation timestamps are epoch
        milliseconds (ints) and the EXECUTION operation comes first. The
        invocation is *in flight* until :meth:`record_invocation` or
        :meth:`interrupt_invocation` ends it (see :meth:`invocation_in_flight`).

        Args:
            arn: The execution.
            owner: Who runs the invocation (a process, say), kept while it is
                in flight so that another process can tell whether it is alive.

        Returns:
            ``{"DurableExecutionArn", "CheckpointToken", "InitialExecutionState":
            {"Operations", "NextMarker"}, "UpdatedOperationIds"}``. ``NextMarker``
            is ``""`` unless ``envelope_max_operations`` cut the operations short;
            ``UpdatedOperationIds`` lists what the service changed since the
            previous envelope.

        Raises:
            ValueError: If the execution has finished.
            ClientError: ResourceNotFoundException for an unknown ARN.
        """
        with self._lock, self._store.transaction():
            now = self._clock.now()
            execution = self._load_local(arn)
            if execution.status != RUNNING:
                msg = f"execution {arn} is {execution.status}; there is nothing to invoke"
                raise ValueError(msg)
            with self._store.transaction():
                token = self._engine.rotate_token(execution)
                execution.invocation_count += 1
                execution.invocation_start_ts = now
                execution.request_id = str(uuid.uuid4())
                execution.invocation_owner = owner
                execution.last_checkpoint = None
                updated = list(execution.updated_since_invocation)
                execution.updated_since_invocation = {}
                execution.unseen = {}
                execution.wake = False
                self._store.save(execution)
            order = execution.order
            end = len(order) if self._envelope_max is None else min(len(order), self._envelope_max)
            return {
                "DurableExecutionArn": execution.arn,
                "CheckpointToken": token,
                "InitialExecutionState": {
                    "Operations": [render_operation(op, to_millis) for op in order[:end]],
                    "NextMarker": str(end) if end < len(order) else "",
                },
                "UpdatedOperationIds": updated,
            }

    def revoke_token(self, arn: str) -> None:
        """Revoke the execution's checkpoint token, as when a newer invocation takes over.

        Every token issued so far stops working, and the execution becomes
        runnable (:meth:`is_runnable`): the service owes it another invocation,
        so a handler that answers ``PENDING`` with nothing pending is not failed
        for it. :class:`FaultInjectingClient` calls this when it drops the token
        from a checkpoint response. A finished execution is left alone.

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN.
        """
        with self._lock, self._store.transaction():
            execution = self._load_local(arn)
            if execution.status != RUNNING:
                return
            with self._store.transaction():
                self._engine.rotate_token(execution)
                execution.wake = True
                self._store.save(execution)

    def record_invocation(
        self, arn: str, output: object, *, error: BaseException | None = None
    ) -> None:
        """Apply the outcome of one handler invocation and record InvocationCompleted.

        ``{"Status": "SUCCEEDED", "Result"?}`` succeeds the execution (if an
        EXECUTION SUCCEED was checkpointed, that payload stays the result);
        ``{"Status": "FAILED", "Error"?}`` fails it; ``{"Status": "PENDING"}``
        leaves it RUNNING unless nothing is pending, which fails it. A malformed
        output fails it with an ``InvalidParameterValueException``-typed error.
        ``error`` means the handler raised: the event records it and the
        execution stays RUNNING and becomes runnable (:meth:`is_runnable`), since
        Lambda retries a failed invocation. The output of an invocation whose
        execution already finished is ignored.

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN.
        """
        with self._lock, self._store.transaction():
            now = self._clock.now()
            execution = self._load_local(arn)
            started = execution.invocation_start_ts
            with self._store.transaction():
                details: dict[str, Any] = {
                    "StartTimestamp": to_datetime(started if started is not None else now),
                    "EndTimestamp": to_datetime(now),
                    "RequestId": execution.request_id or str(uuid.uuid4()),
                }
                if error is not None:
                    details["Error"] = error_data(error_from_exception(error))
                add_event(execution, "InvocationCompleted", now, None, details)
                execution.invocation_start_ts = None
                execution.request_id = None
                execution.invocation_owner = None
                if error is None and execution.status == RUNNING:
                    self._engine.apply_output(execution, output, now)
                elif error is not None and execution.status == RUNNING:
                    execution.wake = True  # Lambda retries a failed invocation
                self._store.save(execution)

    def invocation_in_flight(self, arn: str) -> tuple[bool, str | None]:
        """Return whether an invocation of ``arn`` is in flight, and its owner if one was given.

        An invocation is in flight from :meth:`invocation_event` until
        :meth:`record_invocation` or :meth:`interrupt_invocation`. One that stays
        in flight after its process died is what a crash leaves behind; end it
        with :meth:`interrupt_invocation` so that the execution can go on.

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN.
        """
        with self._lock:
            execution = self._load_local(arn)
            in_flight = execution.status == RUNNING and execution.invocation_start_ts is not None
            return in_flight, execution.invocation_owner if in_flight else None

    def interrupt_invocation(
        self, arn: str, message: str, *, error_type: str = "Runtime.ExitError"
    ) -> bool:
        """End the invocation in flight as failed, as Lambda does when its runtime dies.

        The execution's checkpoint token is revoked (a process still running the
        old invocation can no longer checkpoint), InvocationCompleted records an
        error with ``error_type`` and ``message``, and the execution becomes
        runnable: the next invocation replays it, so an at-least-once step that
        was running runs again and an at-most-once one fails with
        ``StepInterruptedError`` into its retry strategy.

        Returns:
            Whether an invocation was in flight (otherwise nothing changes).

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN.
        """
        with self._lock, self._store.transaction():
            now = self._clock.now()
            execution = self._load_local(arn)
            if execution.status != RUNNING or execution.invocation_start_ts is None:
                return False
            with self._store.transaction():
                details: dict[str, Any] = {
                    "StartTimestamp": to_datetime(execution.invocation_start_ts),
                    "EndTimestamp": to_datetime(now),
                    "RequestId": execution.request_id or str(uuid.uuid4()),
                    "Error": error_data({"ErrorType": error_type, "ErrorMessage": message}),
                }
                add_event(execution, "InvocationCompleted", now, None, details)
                self._engine.rotate_token(execution)
                execution.last_checkpoint = None
                execution.invocation_start_ts = None
                execution.request_id = None
                execution.invocation_owner = None
                execution.wake = True
                self._store.save(execution)
            return True

    def redispatch_chained_invokes(self, arn: str) -> int:
        """Hand out again every chained invoke of ``arn`` that was started and has not finished.

        For a runner that takes over from one that died: whatever the dead
        runner was performing comes back from :meth:`pending_chained_invokes`.
        Performing it again is at-least-once, as a retried Lambda invoke is.

        Returns:
            How many chained invokes were handed back.

        Raises:
            ClientError: ResourceNotFoundException for an unknown ARN.
        """
        with self._lock, self._store.transaction():
            execution = self._load_local(arn)
            if execution.status != RUNNING:
                return 0
            count = 0
            with self._store.transaction():
                for op in execution.order:
                    if op.type == CHAINED_INVOKE and op.status == STARTED:
                        count += 1
                        self._engine.invoke_queue[execution.arn, op.id] = None
                        if op.dispatched:
                            op.dispatched = False
                            execution.touch(op.id)
                if count:
                    self._store.save(execution)
            return count

    def execution_status(self, arn: str) -> str:
        """Return the status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT or STOPPED."""
        with self._lock:
            return self._load_local(arn).status

    def operations(self, arn: str) -> list[dict[str, Any]]:
        """Return every operation of the execution, botocore-shaped, in start order."""
        with self._lock:
            return [render_operation(op, to_datetime) for op in self._load_local(arn).order]

    def result(self, arn: str) -> str | None:
        """Return the execution's result payload once SUCCEEDED, else None."""
        with self._lock:
            execution = self._load_local(arn)
            return execution.result if execution.status == SUCCEEDED else None

    def error(self, arn: str) -> dict[str, Any] | None:
        """Return the execution's ErrorObject once FAILED, TIMED_OUT or STOPPED, else None."""
        with self._lock:
            execution = self._load_local(arn)
            return copy_error(execution.error) if execution.error is not None else None

    def events(self, arn: str) -> list[dict[str, Any]]:
        """Return the whole history, oldest first, with execution data."""
        with self._lock:
            return render_events(self._load_local(arn).events, include_data=True)

    def is_runnable(self, arn: str) -> bool:
        """Return whether the execution is RUNNING and has news for its handler.

        True before the first invocation, and after the service changed an
        operation (a timer fired, a callback completed, a chained invoke
        finished) that no envelope or checkpoint response has delivered yet.
        """
        with self._lock:
            execution = self._load_local(arn)
            return execution.status == RUNNING and execution.wake

    def next_due(
        self,
        arn: str | None = None,
        *,
        include_execution_timeout: bool = True,
        include_callback_timeouts: bool = True,
    ) -> float | None:
        """Return the earliest pending timer's due time (epoch seconds), or None.

        Timers are wait ends, step retries, callback timeouts and heartbeat
        timeouts, and execution timeouts.

        Args:
            arn: One execution, or None for all of them.
            include_execution_timeout: Count the execution's own timeout (one execution only).
            include_callback_timeouts: Count callback and heartbeat timeouts (one execution only).
        """
        with self._lock:
            if arn is not None:
                skip: set[str] = set()
                if not include_execution_timeout:
                    skip.add(TIMER_EXECUTION)
                if not include_callback_timeouts:
                    skip.update((TIMER_CALLBACK, TIMER_HEARTBEAT))
                return self._engine.next_due(self._load_local(arn), frozenset(skip))
            wakeups = self._engine.wakeups
            while wakeups:
                due, _, candidate = wakeups[0]
                execution = self._store.load(candidate)
                upcoming = self._engine.next_due(execution) if execution is not None else None
                if upcoming is not None and upcoming <= due:
                    return upcoming
                heapq.heappop(wakeups)
            return None

    def fire_due_timers(self) -> list[str]:
        """Fire every timer due at ``clock.now()``, across all executions.

        Returns:
            The ARNs that became runnable, in the order their timers fired.
        """
        with self._lock:
            now = self._clock.now()
            runnable: dict[str, None] = {}
            wakeups = self._engine.wakeups
            while wakeups and wakeups[0][0] <= now:
                _, _, arn = heapq.heappop(wakeups)
                execution = self._store.load(arn)
                if (
                    execution is not None
                    and self._engine.fire_due(execution, now)
                    and execution.status == RUNNING
                    and execution.wake
                ):
                    runnable[arn] = None
            return list(runnable)

    def pending_chained_invokes(self, arn: str | None = None) -> list[ChainedInvokeRequest]:
        """Return, and mark dispatched, the chained invokes started and not yet handed out.

        Args:
            arn: One execution, or None for all of them.
        """
        with self._lock, self._store.transaction():
            if arn is not None:
                self._load_local(arn)
            requests: list[ChainedInvokeRequest] = []
            queue = self._engine.invoke_queue
            for key in list(queue):
                execution_arn, op_id = key
                if arn is not None and execution_arn != arn:
                    continue
                del queue[key]
                execution = self._store.load(execution_arn)
                op = execution.ops.get(op_id) if execution is not None else None
                if execution is None or op is None or execution.status != RUNNING:
                    continue
                with self._store.transaction():
                    op.dispatched = True
                    execution.touch(op_id)
                    self._store.save(execution)
                assert op.function_name is not None
                requests.append(
                    ChainedInvokeRequest(
                        execution_arn, op_id, op.function_name, op.invoke_input, op.tenant_id
                    )
                )
            return requests

    def complete_chained_invoke(
        self,
        execution_arn: str,
        operation_id: str,
        *,
        status: str = SUCCEEDED,
        result: str | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        """Finish a CHAINED_INVOKE operation with the invoked function's outcome.

        Does nothing if the calling execution has already finished.

        Args:
            execution_arn: The calling execution.
            operation_id: The CHAINED_INVOKE operation.
            status: SUCCEEDED, FAILED, TIMED_OUT or STOPPED.
            result: The result payload (SUCCEEDED only).
            error: The ErrorObject (the other statuses).

        Raises:
            ValueError: If the operation is not a STARTED CHAINED_INVOKE, or the
                status, result or error is invalid.
        """
        if status not in _INVOKE_OUTCOMES:
            raise ValueError(f"status must be one of {sorted(_INVOKE_OUTCOMES)}, got {status!r}")
        if status == SUCCEEDED and error is not None:
            raise ValueError("a SUCCEEDED chained invoke carries a result, not an error")
        if status != SUCCEEDED and result is not None:
            raise ValueError(f"a {status} chained invoke carries an error, not a result")
        try:
            checked = check_error_object(error, "error") if error is not None else None
        except ServiceFault as fault:
            raise ValueError(fault.message) from fault
        with self._lock, self._store.transaction():
            now = self._clock.now()
            execution = self._load_local(execution_arn)
            if execution.status != RUNNING:
                return
            op = execution.ops.get(operation_id)
            if op is None or op.type != CHAINED_INVOKE:
                msg = f"{operation_id!r} is not a CHAINED_INVOKE operation of {execution_arn}"
                raise ValueError(msg)
            if op.status != STARTED:
                raise ValueError(f"chained invoke {operation_id!r} is already {op.status}")
            with self._store.transaction():
                op.result = result
                op.error = checked
                self._engine.complete(execution, op, status, now)
                if status == SUCCEEDED:
                    details = {"Result": payload_data(result)}
                else:
                    details = {"Error": error_data(checked)}
                add_event(execution, _INVOKE_OUTCOMES[status], now, op, details)
                self._store.save(execution)

    def callback_id(self, arn: str, name: str) -> str | None:
        """Return the CallbackId of the newest callback called ``name``, or None.

        A callback matches if its own Name is ``name`` or its parent CONTEXT's is
        (``wait_for_callback`` wraps the callback in a context the user names).
        """
        with self._lock:
            execution = self._load_local(arn)
            for op in reversed(execution.order):
                if op.type != CALLBACK:
                    continue
                if op.name == name:
                    return op.callback_id
                parent = execution.ops.get(op.parent_id) if op.parent_id is not None else None
                if parent is not None and parent.type == CONTEXT and parent.name == name:
                    return op.callback_id
            return None

    # --------------------------------------------------------------- internals

    def _metadata(self) -> dict[str, Any]:
        return {
            "RequestId": f"{self._request_prefix}{next(self._request_ids):012x}",
            "HTTPStatusCode": 200,
            "HTTPHeaders": {},
            "RetryAttempts": 0,
        }

    def _load(self, arn: object) -> ExecutionRecord:
        """Return the execution with its due timers fired, or raise ResourceNotFound."""
        execution = self._store.load(arn) if isinstance(arn, str) else None
        if execution is None:
            raise ServiceFault(RESOURCE_NOT_FOUND, f"Durable execution {arn!r} does not exist.")
        self._engine.adopt(execution)
        self._engine.fire_due(execution, self._clock.now())
        return execution

    def _load_local(self, arn: str) -> ExecutionRecord:
        try:
            return self._load(arn)
        except ServiceFault as fault:
            raise client_error(fault.code, fault.message, "GetDurableExecution") from fault

    def _checkpointed(self, arn: object, now: float) -> ExecutionRecord:
        """Load for the token-bearing APIs, which model no ResourceNotFound."""
        execution = self._store.load(arn) if isinstance(arn, str) else None
        if execution is None:
            msg = f"Invalid checkpoint token: durable execution {arn!r} does not exist."
            raise invalid(msg)
        self._engine.adopt(execution)
        self._engine.fire_due(execution, now)
        return execution

    def _start_execution(
        self,
        function_name: str,
        input_payload: str | None,
        execution_name: str | None,
        qualifier: str,
        execution_timeout: float,
        *,
        arm_timeout: bool = True,
    ) -> str:
        if not isinstance(function_name, str) or not _NAME_RE.fullmatch(function_name):
            msg = f"function_name {function_name!r} must be 1-64 characters of [a-zA-Z0-9-_]."
            raise invalid(msg)
        name = execution_name if execution_name is not None else uuid.uuid4().hex
        if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
            raise invalid(f"execution_name {name!r} must be 1-64 characters of [a-zA-Z0-9-_].")
        if not isinstance(qualifier, str) or not _QUALIFIER_RE.fullmatch(qualifier):
            msg = f"qualifier {qualifier!r} must be $LATEST, $LATEST.PUBLISHED or a version."
            raise invalid(msg)
        if input_payload is not None and (
            not isinstance(input_payload, str)
            or utf8_size_exceeds(input_payload, MAX_EXECUTION_RESULT_BYTES)
        ):
            raise invalid(
                f"input_payload must be a string of at most {MAX_EXECUTION_RESULT_BYTES} bytes."
            )
        if not 0 < execution_timeout <= MAX_EXECUTION_TIMEOUT:
            msg = f"execution_timeout must be more than 0 and at most {MAX_EXECUTION_TIMEOUT}."
            raise invalid(msg)
        with self._lock:
            now = self._clock.now()
            return self._engine.start(
                now,
                function_name,
                name,
                qualifier,
                input_payload,
                execution_timeout,
                arm_timeout=arm_timeout,
            )
