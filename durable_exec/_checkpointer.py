"""The checkpoint thread: owns the token chain and batches updates.

Callers hand updates over in two ways:

* :meth:`Checkpointer.enqueue` (asynchronous): the caller goes on at once;
  the update travels with the next call.
* :meth:`Checkpointer.checkpoint` (synchronous): the caller blocks until the
  update is durable and the response merged into :class:`ExecutionState`.
  :meth:`Checkpointer.refresh` does the same with no update of its own, to
  learn what changed at the service.

A blocked caller's update is sent at once, together with everything queued
before it: there is no batching delay while anyone waits. Asynchronous updates
alone are held until a synchronous one arrives, the batch is full, or
``max_delay`` has passed, so a step's START and SUCCEED share one call. Calls
are as full as the ordering rules allow (at most ``max_updates`` updates and
``max_bytes`` bytes; one update per operation except a STEP or CONTEXT START
followed by its outcome; an EXECUTION update last).

The thread waits on a condition variable, never in a polling loop, and is
stopped by :meth:`close`, which flushes first. An error on the thread is
never stranded there: a failed call, and anything else the loop raises, is
handed to every waiter and re-raised by every later call.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from durable_exec._clock import SYSTEM_CLOCK, Clock, Deadline
from durable_exec._errors import CheckpointError, ExecutionError
from durable_exec._service import DurableService, new_client_token, page_in
from durable_exec._signals import BranchOrphaned, DeadlineApproaching, SuspendExecution
from durable_exec._state import ExecutionState
from durable_exec._wire import OperationAction, OperationType, OperationUpdate

if TYPE_CHECKING:
    from durable_exec._plugin_runtime import PluginExecutor

__all__ = ["BatcherConfig", "Checkpointer", "Scope"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class BatcherConfig:
    """Limits of one checkpoint call.

    Attributes:
        max_updates: Updates per call (the API allows 250).
        max_bytes: Estimated bytes per call (750 KB, under the API's limit).
        max_delay: Longest time asynchronous updates wait for company, in seconds.
    """

    max_updates: int = 250
    max_bytes: int = 750 * 1024
    max_delay: float = 1.0


class Scope(Protocol):
    """What the checkpointer needs of a map/parallel cancel scope (see ``_scope.CancelScope``)."""

    @property
    def cancelled(self) -> bool:
        """Whether updates from inside the scope must be refused."""
        ...

    def cancel(self) -> None:
        """Refuse every later update from inside the scope."""
        ...


class _Waiter:
    """A one-shot completion signal for one blocked caller.

    A bare lock, taken at creation and released by the checkpoint thread: the
    cheapest blocking hand-off CPython offers (``threading.Event`` builds a
    condition variable and a second lock per wait).
    """

    __slots__ = ("_done", "_set", "error")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._set = False
        self.error: BaseException | None = None

    def set(self) -> None:
        """Wake the caller (only the first call counts)."""
        if not self._set:
            self._set = True
            self._done.release()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`set` (or ``timeout`` seconds); return whether it was set."""
        return self._done.acquire(timeout=-1 if timeout is None else max(0.0, timeout))


_REFRESH: Final = object()  # an empty checkpoint: ask the service what changed
_BARRIER: Final = object()  # nothing to send: wake the waiter once all before it is sent


@dataclasses.dataclass(slots=True)
class _Item:
    payload: Any  # OperationUpdate | _REFRESH | _BARRIER
    waiter: _Waiter | None
    size: int


class Checkpointer:
    """Batches updates and sends them from one background thread.

    Args:
        service: The durable-execution API.
        state: Where accepted updates and responses are recorded.
        token: The invocation's first checkpoint token.
        clock: Time source for batching windows and timestamps.
        config: Batch limits.
        deadline: The invocation's deadline; no caller blocks beyond it.
    """

    def __init__(
        self,
        service: DurableService,
        state: ExecutionState,
        token: str,
        *,
        clock: Clock = SYSTEM_CLOCK,
        config: BatcherConfig | None = None,
        deadline: Deadline | None = None,
    ) -> None:
        self._deadline = deadline
        self._service = service
        self._state = state
        self._clock = clock
        self._config = config or BatcherConfig()
        self._cond = threading.Condition(threading.Lock())
        # Everything below is guarded by _cond.
        self._queue: collections.deque[_Item] = collections.deque()
        self._queued_bytes = 0
        self._urgent = 0  # queued items somebody is blocked on
        self._oldest: float | None = None  # monotonic time of the oldest queued item
        self._closing = False
        self._failure: BaseException | None = None
        self._revoked = False
        self._token = token  # only the thread reads or writes it after start
        self._in_flight: list[_Item] = []  # the batch being taken or sent (the thread's own)
        self.calls = 0
        self.updates_sent = 0
        # Instrumentation plugins (set by the handler before any update): they hear of
        # each START before it is queued, and of each response before it is published.
        self.observer: PluginExecutor | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"durable-checkpoint-{id(self):x}", daemon=True
        )
        self._thread.start()

    # -- callers ---------------------------------------------------------------

    def enqueue(self, update: OperationUpdate, scope: Scope | None = None) -> None:
        """Queue ``update`` and return at once.

        Raises:
            BranchOrphaned: ``scope`` was cancelled (the batch already completed).
            CheckpointError: an earlier call failed; the invocation must end.
        """
        self._put(update, None, scope)

    def checkpoint(self, update: OperationUpdate, scope: Scope | None = None) -> None:
        """Queue ``update`` and block until it is durable.

        Raises:
            BranchOrphaned: ``scope`` was cancelled.
            SuspendExecution: the service revoked the token chain; the invocation ends PENDING.
            CheckpointError: the call failed.
        """
        waiter = _Waiter()
        self._put(update, waiter, scope)
        try:
            self._wait(waiter)
        finally:
            if self.observer is not None:
                # This thread observes the operation's result: its end hook runs here.
                self.observer.claim_end_hook(update.id, waiter=True)

    def refresh(self, scope: Scope | None = None) -> None:
        """Ask the service what changed: a call (with whatever is queued) even if nothing is.

        Returns once the response is merged into the state.

        Raises:
            BranchOrphaned: ``scope`` was cancelled.
            SuspendExecution: the service revoked the token chain.
            CheckpointError: the call failed.
        """
        waiter = _Waiter()
        self._put(_REFRESH, waiter, scope)
        self._wait(waiter)

    def flush(self) -> None:
        """Block until everything queued so far is durable (sends nothing by itself)."""
        waiter = _Waiter()
        self._put(_BARRIER, waiter, None)
        self._wait(waiter)

    def complete_scope(self, scope: Scope, update: OperationUpdate) -> None:
        """Cancel ``scope`` and send ``update`` (the batch's outcome) durably.

        Cancelling and queueing happen under one lock, so no update from inside
        the scope can be queued after the outcome.
        """
        waiter = _Waiter()
        with self._cond:
            self._check_usable()
            scope.cancel()
            self._append(_Item(update, waiter, update.size()))
        try:
            self._wait(waiter)
        finally:
            if self.observer is not None:
                self.observer.claim_end_hook(update.id, waiter=True)

    def close(self) -> None:
        """Flush, stop the thread and join it. Safe to call twice.

        With a deadline, the join waits at most until Lambda's timeout: a call
        still in flight then cannot be saved anyway.
        """
        with self._cond:
            self._closing = True
            self._cond.notify()
        # An idle thread exits at once; the floor lets it do so even when the
        # deadline has already passed, so it does not outlive the invocation.
        self._thread.join(None if self._deadline is None else max(self._deadline.remaining(), 1.0))

    @property
    def stopped(self) -> bool:
        """Whether the checkpoint thread has ended (after :meth:`close`, unless a call hangs)."""
        return not self._thread.is_alive()

    @property
    def revoked(self) -> bool:
        """Whether the service revoked the token chain (the invocation must return PENDING)."""
        return self._revoked

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped the thread, if any."""
        return self._failure

    def _put(self, payload: Any, waiter: _Waiter | None, scope: Scope | None) -> None:
        size = payload.size() if isinstance(payload, OperationUpdate) else 0
        observer = self.observer
        if (
            observer is not None
            and size
            and payload.action is OperationAction.START
            and not (scope is not None and scope.cancelled)
            and not (self._revoked or self._failure is not None or self._closing)
        ):
            observer.operation_starting(payload, self._state.get(payload.id))
        with self._cond:
            if scope is not None and scope.cancelled:
                raise BranchOrphaned
            self._check_usable()
            self._append(_Item(payload, waiter, size))

    def _append(self, item: _Item) -> None:
        first = not self._queue
        if first:
            self._oldest = self._clock.monotonic()
        self._queue.append(item)
        self._queued_bytes += item.size
        if item.waiter is not None:
            self._urgent += 1
        config = self._config
        # The first item wakes the idle thread so that it starts the max_delay window.
        if (
            first
            or item.waiter is not None
            or len(self._queue) >= config.max_updates
            or self._queued_bytes >= config.max_bytes
        ):
            self._cond.notify()

    def _check_usable(self) -> None:
        if self._revoked:
            raise SuspendExecution("the service revoked the checkpoint token")
        if self._failure is not None:
            raise self._failure
        if self._closing:
            raise ExecutionError("the invocation has ended; no more checkpoints can be sent")

    def _wait(self, waiter: _Waiter) -> None:
        deadline = self._deadline
        if deadline is None:
            waiter.wait()
        elif not waiter.wait(deadline.remaining()):
            raise DeadlineApproaching
        if waiter.error is not None:
            if isinstance(waiter.error, SuspendExecution):
                raise SuspendExecution(waiter.error.reason)
            raise waiter.error

    # -- the thread ------------------------------------------------------------

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    batch = self._next_batch()
                    if batch is None:
                        return
                self._send(batch)
                self._in_flight = []
        except BaseException as exc:  # nothing may strand a waiter
            self._crashed(exc)

    def _crashed(self, exc: BaseException) -> None:
        """The loop itself raised (not an API call): fail every waiter, refuse every later call."""
        error = CheckpointError(
            f"the checkpoint thread stopped on an unexpected error ({exc!r}); nothing more can "
            "be checkpointed in this invocation. Lambda will retry the invocation. If the "
            "error comes from your own code (a Clock passed to the SDK), fix it there.",
            retryable=True,
        )
        error.__cause__ = exc
        self._fail(error, self._in_flight)
        self._in_flight = []

    def _next_batch(self) -> list[_Item] | None:
        """Wait until a batch is due and take it (called with the lock held)."""
        config = self._config
        while True:
            if self._queue:
                if (
                    self._urgent
                    or self._closing
                    or len(self._queue) >= config.max_updates
                    or self._queued_bytes >= config.max_bytes
                ):
                    break
                assert self._oldest is not None
                remaining = self._oldest + config.max_delay - self._clock.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            elif self._closing:
                return None
            else:
                self._cond.wait()
        return self._take()

    def _take(self) -> list[_Item]:
        config = self._config
        batch: list[_Item] = []
        self._in_flight = batch  # failed by _crashed if anything raises from here on
        seen: dict[str, OperationAction] = {}
        count = 0
        size = 0
        queue = self._queue
        while queue:
            item = queue[0]
            update = item.payload
            if isinstance(update, OperationUpdate):
                if batch and (count >= config.max_updates or size + item.size > config.max_bytes):
                    break
                previous = seen.get(update.id)
                if previous is not None and not (
                    previous is OperationAction.START
                    and update.type in (OperationType.STEP, OperationType.CONTEXT)
                    and update.action is not OperationAction.START
                ):
                    break
                seen[update.id] = update.action
                count += 1
                size += item.size
            queue.popleft()
            self._queued_bytes -= item.size
            if item.waiter is not None:
                self._urgent -= 1
            batch.append(item)
            if isinstance(update, OperationUpdate) and update.type is OperationType.EXECUTION:
                break
        self._oldest = self._clock.monotonic() if queue else None
        return batch

    def _send(self, batch: list[_Item]) -> None:
        updates = [i.payload for i in batch if isinstance(i.payload, OperationUpdate)]
        needs_call = bool(updates) or any(i.payload is _REFRESH for i in batch)
        error: BaseException | None = None
        if needs_call and self._failure is None and not self._revoked:
            waited_for = (
                {
                    i.payload.id
                    for i in batch
                    if i.waiter is not None and isinstance(i.payload, OperationUpdate)
                }
                if self.observer is not None
                else ()
            )
            try:
                self._call(updates, waited_for)
            except BaseException as exc:
                error = exc
        elif self._failure is not None:
            error = self._failure
        elif self._revoked:
            error = SuspendExecution("the service revoked the checkpoint token")
        if error is not None:
            error = self._fail(error)
        for item in batch:
            if item.waiter is not None:
                item.waiter.error = error
                item.waiter.set()

    def _call(self, updates: list[OperationUpdate], waited_for: Collection[str] = ()) -> None:
        result = self._service.checkpoint(self._state.arn, self._token, updates, new_client_token())
        self.calls += 1
        self.updates_sent += len(updates)
        now = self._clock.now()
        completed = result.token is None and any(u.type is OperationType.EXECUTION for u in updates)
        observer = self.observer
        if observer is not None and (result.token is not None or completed):
            observer.before_publish(result.operations, self._state.get, waited_for)
        self._state.apply(updates, now)
        if result.operations:
            self._state.merge(result.operations)
        if result.token is None:
            if completed:
                if observer is not None:
                    observer.after_publish()
                return
            self._revoked = True
            raise SuspendExecution("the service revoked the checkpoint token")
        self._token = result.token
        if result.next_marker:
            pages = page_in(
                self._service,
                self._state.arn,
                self._token,
                result.next_marker,
                "CheckpointDurableExecution",
            )
            if observer is not None:
                observer.before_publish(pages, self._state.get)
            self._state.merge(pages)
        if observer is not None:
            observer.after_publish()

    def _fail(self, error: BaseException, taken: Sequence[_Item] = ()) -> BaseException:
        """Record ``error``, wake everyone still queued (and in ``taken``); return what they get."""
        with self._cond:
            if isinstance(error, SuspendExecution):
                self._revoked = True
            elif self._failure is None:
                self._failure = (
                    error
                    if isinstance(error, CheckpointError | ExecutionError)
                    else CheckpointError(f"checkpointing failed: {error!r}", retryable=True)
                )
                if self._failure is not error:
                    self._failure.__cause__ = error
            # Wake everyone still queued: nothing more will be sent.
            stranded = [*taken, *self._queue]
            self._queue.clear()
            self._queued_bytes = 0
            self._urgent = 0
            self._oldest = None
            final: BaseException = (
                SuspendExecution("the service revoked the checkpoint token")
                if self._revoked
                else self._failure  # type: ignore[assignment]
            )
        for item in stranded:
            if item.waiter is not None:
                item.waiter.error = final
                item.waiter.set()
        return final
