"""Checkpoint batching: which updates share a call, when it leaves, who makes it.

Callers hand updates over in two ways:

* :meth:`Checkpointer.enqueue` (asynchronous): the caller goes on at once;
  the update travels with the next call.
* :meth:`Checkpointer.checkpoint` (synchronous): the caller blocks until the
  update is durable and the response merged into :class:`ExecutionState`.
  :meth:`Checkpointer.refresh` does the same with no update of its own, to
  learn what changed at the service.

When a batch leaves (the batching policy):

* at once when every thread that may still add updates is blocked on the
  checkpointer: nothing more can join the batch, so waiting would only cost.
  The invocation's thread counts from the start; a map/parallel coordinator
  adds the branches it runs and takes itself off while it waits for them
  (:meth:`Checkpointer.add_producers`). So a sequential step's START and
  SUCCEED share one call with no delay, and a wave of map branches shares one;
* otherwise, while somebody waits, as long as the others keep adding updates
  (gaps under ``max_linger``), at most ``max_hold``: a branch busy in a long
  step, or asleep, delays the others' calls a little, never until it blocks;
* asynchronous updates alone wait for company at most ``max_delay``;
* at once when a call would be full. Calls are as full as the ordering rules
  allow (at most ``max_updates`` updates and ``max_bytes`` bytes; one update
  per operation except a STEP or CONTEXT START followed by its outcome; an
  EXECUTION update last).

Who sends: one call at a time, in queue order, by whoever holds the turn (the
token chain has a single owner). A blocked caller whose batch is due while no
call is in flight takes the turn and makes the call on its own thread, which
spares two thread hand-offs per step; it does so only while a call cannot
outlast the invocation (``max_call_seconds`` of the service, or 620 s when
unknown, is less than the time left), so no blocked caller waits past the
deadline. Otherwise, and for everything else, the checkpoint thread sends.

The thread waits on a condition variable, never in a polling loop, and is
stopped by :meth:`close`, which sends what is queued first. An error on the
thread is never stranded there: a failed call, and anything else the loop
raises, is handed to every waiter and re-raised by every later call.

Within a deadline, no wait outlasts its end (:meth:`Deadline.until_end`), and
the invocation's end (:meth:`flush`, :meth:`close`) shares one
:class:`Budget`. A call still in flight when that is spent cannot be
interrupted: the checkpointer is then *abandoned*. Once the call returns, the
thread ends without sending anything more, so nothing from this invocation
reaches the service after it ended; what the service never acknowledged is
not durable, and the next invocation replays from what it did.
"""

from __future__ import annotations

import collections
import dataclasses
import threading
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any, Final, Protocol

from durable_exec._clock import (
    SHUTDOWN_FLOOR,
    SYSTEM_CLOCK,
    Budget,
    Clock,
    Deadline,
    RealTime,
    shutdown_budget,
)
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
        max_linger: While somebody is blocked and other threads still run, the
            batch waits for them as long as one of them adds an update at least
            this often (seconds)...
        max_hold: ...but never longer than this (seconds) after the first
            blocked caller's update arrived.
    """

    max_updates: int = 250
    max_bytes: int = 750 * 1024
    max_delay: float = 1.0
    max_linger: float = 0.002
    max_hold: float = 0.05


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

    A bare lock, taken at creation and released once the caller's item is
    settled: the cheapest blocking hand-off CPython offers
    (``threading.Event`` builds a condition variable and a second lock per wait).
    """

    __slots__ = ("_done", "_set", "error")

    def __init__(self) -> None:
        self._done = threading.Lock()
        self._done.acquire()
        self._set = False
        self.error: BaseException | None = None

    def set(self, error: BaseException | None = None) -> None:
        """Settle the item (with ``error`` if it failed) and wake the caller; only once."""
        if not self._set:
            self._set = True
            self.error = error
            self._done.release()

    @property
    def done(self) -> bool:
        """Whether :meth:`set` was called (waiting returns at once)."""
        return self._set

    def wait(self, timeout: float | None = None) -> bool:
        """Block until :meth:`set` (or ``timeout`` seconds); return whether it was set."""
        return self._done.acquire(timeout=-1 if timeout is None else max(0.0, timeout))


_elapsed = RealTime.monotonic
"""Batching windows measure real work, whatever clock the invocation models time with."""

_UNKNOWN_CALL_BOUND: Final = 620.0
"""Seconds one call may take when the service does not say.

botocore's default timeouts (60 s to connect, 60 s to read) for each of the
service's 5 attempts, plus 4 back-offs of at most 5 s.
"""

_REFRESH: Final = object()  # an empty checkpoint: ask the service what changed
_BARRIER: Final = object()  # nothing to send: wake the waiter once all before it is sent


def _reraise_interrupt(exc: BaseException) -> None:
    """Raise ``exc`` again if it interrupts its thread (``KeyboardInterrupt``, ``SystemExit``).

    The checkpointer turns every error of a call into a failure its waiters see; an
    interruption of the thread that made the call (Ctrl-C, SIGTERM in the command
    line) must also go on ending that thread's work, not become a retried invocation.
    """
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        raise exc


@dataclasses.dataclass(slots=True)
class _Item:
    payload: Any  # OperationUpdate | _REFRESH | _BARRIER
    waiter: _Waiter | None
    size: int


class Checkpointer:
    """Batches updates and sends them, one call at a time, in queue order.

    Args:
        service: The durable-execution API.
        state: Where accepted updates and responses are recorded.
        token: The invocation's first checkpoint token.
        clock: Time source for timestamps and the deadline (batching windows are
            real elapsed time: they measure work, not modelled time).
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
        bound = getattr(service, "max_call_seconds", None)
        # A caller sends its own batch only while a call cannot outlast the invocation.
        self._call_bound = float(bound) if isinstance(bound, int | float) else _UNKNOWN_CALL_BOUND
        self._cond = threading.Condition(threading.Lock())
        # Everything below is guarded by _cond.
        self._queue: collections.deque[_Item] = collections.deque()
        self._queued_bytes = 0
        self._urgent = 0  # queued items somebody is blocked on
        self._urgent_since: float | None = None  # when the policy started holding them
        self._active_at = 0.0  # the last update queued while somebody was blocked
        self._oldest: float | None = None  # when the policy started holding async items
        self._producers = 1  # threads that may still add updates (the invocation's own)
        self._starting = 0  # of which have not run yet (they will certainly add updates)
        self._sending = False  # a call is in flight (by the thread or by a caller)
        self._awake = True  # the thread runs (it looks at the queue before it waits again)
        self._armed: float | None = None  # while waiting: until when (None: no timeout)
        self._window = 0.0  # the thread stays armed until then even with nothing queued
        self._closing = False
        self._abandoned = False  # close() gave up on a call in flight: send nothing more
        self._failure: BaseException | None = None
        self._revoked = False
        self._token = token  # only the current sender reads or writes it
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
        self._put(_Item(update, None, update.size()), scope)

    def checkpoint(self, update: OperationUpdate, scope: Scope | None = None) -> None:
        """Queue ``update`` and block until it is durable.

        Raises:
            BranchOrphaned: ``scope`` was cancelled.
            SuspendExecution: the service revoked the token chain; the invocation ends PENDING.
            CheckpointError: the call failed.
        """
        waiter = self._block(_Item(update, _Waiter(), update.size()), scope)
        try:
            self._wait(waiter)
        finally:
            if self.observer is not None:
                # This thread observes the operation's result: its end hook runs here.
                self.observer.observe_terminal(update.id, own_checkpoint=True)

    def refresh(self, scope: Scope | None = None) -> None:
        """Ask the service what changed: a call (with whatever is queued) even if nothing is.

        Returns once the response is merged into the state.

        Raises:
            BranchOrphaned: ``scope`` was cancelled.
            SuspendExecution: the service revoked the token chain.
            CheckpointError: the call failed.
        """
        self._wait(self._block(_Item(_REFRESH, _Waiter(), 0), scope))

    def flush(self, budget: Budget | None = None) -> None:
        """Block until everything queued so far is durable (sends nothing by itself).

        Args:
            budget: How long to wait at most (by default, as any checkpoint wait:
                until the deadline's end, or for as long as it takes without one).
                With a budget the calling thread never makes the call itself, so
                the budget holds even if the call never answers.

        Raises:
            DeadlineApproaching: The budget (or the deadline) ended first.
            SuspendExecution: The service revoked the token chain.
            CheckpointError: A call failed.
        """
        waiter = self._block(_Item(_BARRIER, _Waiter(), 0), None, lead=budget is None)
        self._wait(waiter, budget)

    def complete_scope(self, scope: Scope, update: OperationUpdate) -> None:
        """Cancel ``scope`` and send ``update`` (the batch's outcome) durably.

        Cancelling and queueing happen under one lock, so no update from inside
        the scope can be queued after the outcome.
        """
        waiter = self._block(_Item(update, _Waiter(), update.size()), None, cancel=scope)
        try:
            self._wait(waiter)
        finally:
            if self.observer is not None:
                self.observer.observe_terminal(update.id, own_checkpoint=True)

    def add_producers(self, delta: int, *, starting: int = 0) -> None:
        """Tell the batcher that ``delta`` more (or fewer) threads may add updates.

        The invocation's own thread counts from the start. A map/parallel
        coordinator adds the branches it runs, and takes itself off while it
        waits for them. A batch that somebody waits for is sent once every
        counted thread is blocked on the checkpointer (nothing more can join
        it), or after ``max_linger``: a busy thread delays the others a little,
        never for long. Counting wrong only changes how full calls are.

        ``starting`` of them have not run yet (a branch handed to a pool thread):
        until each calls :meth:`producer_started`, the batch waits for them up to
        ``max_hold`` however quiet the others are, since starting a thread can
        take longer than ``max_linger``.
        """
        with self._cond:
            self._producers += delta
            self._starting += starting
            if not self._queue or self._sending:
                return
            if delta < 0:
                if self._urgent >= self._producers:
                    self._poke(None)  # everyone left is blocked: due now
            elif self._urgent_since is not None:
                self._active_at = _elapsed()  # a starting thread is activity

    def producer_started(self) -> None:
        """A thread counted as starting by :meth:`add_producers` now runs."""
        with self._cond:
            self._starting -= 1
            if self._urgent_since is not None:
                self._active_at = _elapsed()
            if self._queue and not self._sending and self._starting <= 0:
                # The linger applies again: the batch may be due sooner than the thread
                # was armed for.
                self._poke(self._due_at())

    def close(self, budget: Budget | None = None) -> None:
        """Send what is queued, stop the thread and join it. Safe to call twice.

        Args:
            budget: How long the join may take (by default the deadline's
                :func:`shutdown_budget`). A thread still in a call when it is
                spent cannot be stopped: the checkpointer is abandoned (see
                :attr:`stopped`): what is still queued is dropped, its waiters
                fail, and once the call returns the thread ends, sending nothing more.
        """
        with self._cond:
            self._closing = True
            idle = not self._sending and not self._queue
            self._poke(None)
        timeout = (budget or shutdown_budget(self._deadline)).left()
        if idle and timeout is not None:
            # An idle thread only has to wake up and return: let it, even when the
            # budget was spent on other joins (its exit does no I/O).
            timeout = max(timeout, SHUTDOWN_FLOOR)
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._abandon()

    def _abandon(self) -> None:
        """The invocation gives up on a thread it cannot stop: nothing more may be sent."""
        with self._cond:
            self._abandoned = True
            stranded = list(self._queue)
            self._queue.clear()
            self._queued_bytes = 0
            self._urgent = 0
            self._urgent_since = None
            self._oldest = None
            self._poke(None)
        error = ExecutionError(
            "the invocation ended while a checkpoint call was still in flight; this update "
            "was not sent"
        )
        for item in stranded:
            if item.waiter is not None:
                item.waiter.set(error)

    @property
    def stopped(self) -> bool:
        """Whether the checkpoint thread has ended.

        After :meth:`close` it has, unless a call was still in flight when the
        budget was spent; the invocation must then not end silently (the handler
        raises a retryable ``InvocationError``).
        """
        return not self._thread.is_alive()

    @property
    def revoked(self) -> bool:
        """Whether the service revoked the token chain (the invocation must return PENDING)."""
        return self._revoked

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped the thread, if any."""
        return self._failure

    def _observe_start(self, payload: Any, scope: Scope | None) -> None:
        """Tell plugins an operation starts, before its START is queued (not if it cannot be)."""
        observer = self.observer
        if (
            observer is not None
            and isinstance(payload, OperationUpdate)
            and payload.action is OperationAction.START
            and not (scope is not None and scope.cancelled)
            and not (self._revoked or self._failure is not None or self._closing)
        ):
            observer.operation_starting(payload, self._state.get(payload.id))

    def _put(self, item: _Item, scope: Scope | None) -> None:
        """Queue an asynchronous item; wake the thread only if it must act now."""
        self._observe_start(item.payload, scope)
        with self._cond:
            if scope is not None and scope.cancelled:
                raise BranchOrphaned
            self._check_usable()
            self._append(item)
            if self._oldest is None:
                self._oldest = _elapsed()  # max_delay counts from here
            if self._sending:
                return  # the sender looks at the queue again after its call
            if self._urgent or self._full() or self._urgent >= self._producers:
                # Due now, or somebody waits and this update extends the linger.
                self._poke(self._due_at(active=True))
            elif not self._awake and self._armed is None:
                # The idle thread must time the max_delay window. It then stays armed
                # for that long even if a blocked caller sends the batch meanwhile, so
                # a step's asynchronous START does not wake it again every step.
                self._window = self._oldest + self._config.max_delay
                self._poke(self._window)

    def _block(
        self,
        item: _Item,
        scope: Scope | None,
        *,
        cancel: Scope | None = None,
        lead: bool = True,
    ) -> _Waiter:
        """Queue an item somebody waits for, send it (or leave it to the thread).

        With ``lead`` false the thread always sends it. Returns its waiter: the
        caller waits on it next.
        """
        waiter = item.waiter
        assert waiter is not None
        self._observe_start(item.payload, scope)
        batch: list[_Item] | None = None
        crash: BaseException | None = None
        with self._cond:
            if scope is not None and scope.cancelled:
                raise BranchOrphaned
            self._check_usable()
            if cancel is not None:
                cancel.cancel()
            self._append(item)
            if not self._sending:
                due = self._due_at(active=True)
                if due is None and lead and self._may_lead():
                    # Nobody else can add to this batch and no call is in flight: send it
                    # from this thread, sparing two thread hand-offs.
                    self._sending = True
                    batch = []
                    try:
                        self._take(batch)
                    except BaseException as exc:  # nothing may strand a waiter
                        crash = exc
                else:
                    self._poke(due)
        if crash is not None:
            self._crashed(crash, batch or ())
            _reraise_interrupt(crash)
        elif batch is not None:
            self._lead(batch)
        return waiter

    def _lead(self, batch: list[_Item]) -> None:
        """Send ``batch`` on the calling thread, then hand the turn back to the thread.

        An interruption of the calling thread (``KeyboardInterrupt``, ``SystemExit``)
        fails the checkpointer for everyone else and is raised again here: it ends
        the invocation, it is not a checkpoint failure to retry.
        """
        interrupted: BaseException | None = None
        try:
            self._send(batch)
        except BaseException as exc:
            self._crashed(exc, batch)
            interrupted = exc
        with self._cond:
            self._sending = False
            if self._closing:
                self._poke(None)
            elif self._queue:
                self._poke(self._due_at())
        if interrupted is not None:
            _reraise_interrupt(interrupted)

    def _poke(self, due: float | None) -> None:
        """Make sure the thread looks at the queue by ``due`` (``None``: now). Lock held.

        A running thread looks again before it waits, and a thread armed to wake
        earlier needs nothing: only an idle or later-armed one is notified.
        """
        if self._awake or (due is not None and self._armed is not None and self._armed <= due):
            return
        self._awake = True
        self._cond.notify()

    def _append(self, item: _Item) -> None:
        self._queue.append(item)
        self._queued_bytes += item.size
        if item.waiter is not None:
            self._urgent += 1

    def _full(self) -> bool:
        config = self._config
        return len(self._queue) >= config.max_updates or self._queued_bytes >= config.max_bytes

    def _may_lead(self) -> bool:
        deadline = self._deadline
        return deadline is None or deadline.until_end() > self._call_bound

    def _due_at(self, *, active: bool = False) -> float | None:
        """When the queued batch must be sent (monotonic); ``None``: now (lock held).

        The policy: at once when closing, when a call would be full, or when
        every thread that may add updates is blocked here (counted by
        :meth:`add_producers`). Otherwise, while somebody is blocked, the batch
        waits for the others only as long as they keep adding updates (a gap
        of ``max_linger``; ``active``: an update was just queued), and at most
        ``max_hold`` in all: a slow or sleeping thread delays the others a
        little, never for long. Asynchronous updates alone wait at most
        ``max_delay`` for company.
        """
        if self._closing or self._full() or self._urgent >= self._producers:
            return None
        now = _elapsed()
        config = self._config
        if self._urgent:
            if self._urgent_since is None:
                self._urgent_since = self._active_at = now
            elif active:
                self._active_at = now
            due = self._urgent_since + config.max_hold
            if self._starting <= 0:
                due = min(due, self._active_at + config.max_linger)
        else:
            if self._oldest is None:
                self._oldest = now
            due = self._oldest + config.max_delay
        return None if due <= now else due

    def _check_usable(self) -> None:
        if self._revoked:
            raise SuspendExecution("the service revoked the checkpoint token")
        if self._failure is not None:
            raise self._failure
        if self._closing:
            raise ExecutionError("the invocation has ended; no more checkpoints can be sent")

    def _wait(self, waiter: _Waiter, budget: Budget | None = None) -> None:
        """Wait for ``waiter`` until the budget (or the deadline's end); raise what it got."""
        if not waiter.done:
            deadline = self._deadline
            if budget is not None:
                timeout = budget.left()
            else:
                timeout = None if deadline is None else deadline.until_end()
            if not waiter.wait(timeout):
                raise DeadlineApproaching
        if waiter.error is not None:
            if isinstance(waiter.error, SuspendExecution):
                raise SuspendExecution(waiter.error.reason)
            raise waiter.error

    # -- the thread ------------------------------------------------------------

    def _run(self) -> None:
        batch: list[_Item] = []
        try:
            while True:
                with self._cond:
                    if batch:
                        self._sending = False  # the previous batch was ours
                        batch = []
                    if not self._next_batch(batch):
                        return
                self._send(batch)
        except BaseException as exc:  # nothing may strand a waiter
            self._crashed(exc, batch)

    def _next_batch(self, batch: list[_Item]) -> bool:
        """Wait until a batch is due and take it into ``batch``; ``False`` at shutdown.

        Called with the lock held.
        """
        cond = self._cond
        while True:
            if self._abandoned:
                return False  # the invocation has ended: nothing more may be sent
            until: float | None = None
            if self._queue and not self._sending:
                until = self._due_at()
                if until is None:
                    self._sending = True
                    self._take(batch)
                    return True
            elif self._closing and not self._sending:
                return False
            elif self._window and self._window > _elapsed():
                # Nothing to do now (or a caller is sending; it pokes us when done):
                # stay armed for the window, so the next step's START need not wake us.
                until = self._window
            self._armed = until
            self._awake = False
            if until is None:
                cond.wait()
            else:
                cond.wait(until - _elapsed())
            self._awake = True
            self._armed = None

    def _crashed(self, exc: BaseException, taken: Sequence[_Item]) -> None:
        """The loop itself raised (not an API call): fail every waiter, refuse every later call."""
        error = CheckpointError(
            f"the checkpoint thread stopped on an unexpected error ({exc!r}); nothing more can "
            "be checkpointed in this invocation. Lambda will retry the invocation. If the "
            "error comes from your own code (a Clock passed to the SDK), fix it there.",
            retryable=True,
        )
        error.__cause__ = exc
        self._fail(error, taken)
        with self._cond:
            self._sending = False
            self._poke(None)

    def _take(self, batch: list[_Item]) -> None:
        """Move the next call's items from the queue into ``batch`` (lock held)."""
        config = self._config
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
        # What is left starts its windows when next looked at.
        self._oldest = None
        if not self._urgent:
            self._urgent_since = None

    def _send(self, batch: list[_Item]) -> None:
        updates = [i.payload for i in batch if isinstance(i.payload, OperationUpdate)]
        needs_call = bool(updates) or any(i.payload is _REFRESH for i in batch)
        error: BaseException | None = None
        raised: BaseException | None = None
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
                error = raised = exc
        elif self._failure is not None:
            error = self._failure
        elif self._revoked:
            error = SuspendExecution("the service revoked the checkpoint token")
        if error is not None:
            error = self._fail(error)
        for item in batch:
            if item.waiter is not None:
                item.waiter.set(error)
        if raised is not None:
            _reraise_interrupt(raised)

    def _call(self, updates: list[OperationUpdate], waited_for: Collection[str] = ()) -> None:
        result = self._service.checkpoint(self._state.arn, self._token, updates, new_client_token())
        self.calls += 1
        self.updates_sent += len(updates)
        if self._abandoned:
            # The invocation ended during the call: nobody reads the answer, and no
            # more pages (or plugin hooks) may follow it.
            return
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
            self._urgent_since = None
            self._oldest = None
            final: BaseException = (
                SuspendExecution("the service revoked the checkpoint token")
                if self._revoked
                else self._failure  # type: ignore[assignment]
            )
        for item in stranded:
            if item.waiter is not None:
                item.waiter.set(final)
        return final
