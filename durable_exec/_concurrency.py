"""map and parallel: branches on a thread pool, bounded by ``max_concurrency``.

A batch is a parent CONTEXT (SubType ``Map``/``Parallel``) with one child
CONTEXT per item or branch (``MapIteration``/``ParallelBranch``). Branch ``i``
has the id ``blake2b(f"{batch_id}-{i}")``, fixed by its index before anything
is dispatched, so ids never depend on thread timing.

The coordinator runs on the caller's thread and owns all branch bookkeeping
(no lock needed); branch bodies run on a ``ThreadPoolExecutor`` and report
back through a queue. Rules:

* Branches start in index order. ``max_concurrency`` bounds branches *in
  flight*: a branch suspended on a wait, retry, callback or invoke keeps its
  slot until it finishes.
* Pool threads: ``min(items, max_concurrency or 256, 256)``, so a large map never
  starts one OS thread per item. A branch starts only when a thread is free for
  it: a branch is in flight only once it runs, never while queued.
* A branch suspended until a known time (a wait, a step retry) is resumed in
  the same invocation while other branches are still running: at its due time
  the coordinator asks the service what changed and, once the operation the
  branch waits for is done, runs the branch again (it replays up to where it
  stopped). A service that is late gets asked again with a growing back-off
  (0.5 s doubling up to 30 s), never in a tight loop. When no branch is running
  and none can start, the whole invocation suspends (PENDING); partial results
  are never returned.
* When the completion policy is met, no further branch starts. Branches already
  running go on until they finish or suspend, and are recorded and reported as
  they end (``SUCCEEDED``, ``FAILED``, or ``STARTED`` when suspended), so the
  history of an early completion does not depend on thread timing. Branches that
  never started are neither recorded nor reported.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import dataclasses
import heapq
import json
import queue
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from durable_exec._batch import (
    BatchItem,
    BatchResult,
    CompletionPolicy,
    CompletionReason,
    infer_reason,
    summary_envelope,
)
from durable_exec._clock import Deadline
from durable_exec._config import (
    BatchItemStatus,
    ChildConfig,
    CompletionConfig,
    CompletionItemStatus,
    CompletionOutcome,
    CompletionStatus,
    NestingType,
)
from durable_exec._errors import (
    ChildContextError,
    DurableOperationError,
    ExecutionError,
    InvocationError,
    NonDeterministicExecutionError,
    ValidationError,
)
from durable_exec._ids import operation_id
from durable_exec._operations.base import (
    ContextCore,
    OperationRef,
    error_object,
    observe,
    rebuild_error,
    user_function,
    validate_identity,
)
from durable_exec._operations.child import REPLAY_CHILDREN_THRESHOLD, run_child_at
from durable_exec._scope import CancelScope
from durable_exec._serde import deserialize, serialize
from durable_exec._signals import BranchOrphaned, DeadlineApproaching, SuspendExecution
from durable_exec._wire import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
    OperationUpdate,
)

__all__ = ["MAP", "PARALLEL", "BatchSpec", "run_batch"]

R = TypeVar("R")

POOL_DEFAULT = 256
"""Pool threads when ``max_concurrency`` is unset: every branch at once, up to POOL_MAX.

A fan-out of I/O-bound branches (each step waiting on a remote call) finishes in
one wave, as the official SDK's does, and a wide wave's updates share calls.
"""
POOL_MAX = 256
"""Upper bound on pool threads for one batch."""
LATE_POLL_FIRST = 0.5
"""Seconds before asking the service again about a timer that was due but not done."""
LATE_POLL_MAX = 30.0
"""Cap of that back-off, which doubles on every late answer."""


@dataclasses.dataclass(slots=True)
class _Branch:
    index: int
    op_id: str
    name: str | None
    explicit_name: bool
    func: Callable[[Any], Any]
    status: str = "pending"  # pending | running | suspended | succeeded | failed
    resume_at: float | None = None
    blocked_on: str | None = None  # the operation a suspended branch waits for
    late_polls: int = 0  # consecutive times its timer was due but the service not done
    result: Any = None
    error: ErrorObject | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class BatchSpec:
    """What distinguishes map from parallel."""

    sub_type: str
    branch_sub_type: str
    summary_type: str


MAP = BatchSpec(OperationSubType.MAP.value, OperationSubType.MAP_ITERATION.value, "MapResult")
PARALLEL = BatchSpec(
    OperationSubType.PARALLEL.value, OperationSubType.PARALLEL_BRANCH.value, "ParallelResult"
)


def run_batch(
    core: ContextCore,
    spec: BatchSpec,
    branches: Sequence[tuple[str | None, bool, Callable[[Any], Any]]],
    name: str | None,
    *,
    max_concurrency: int | None,
    completion: CompletionConfig,
    serdes: Any,
    item_serdes: Any,
    summary_generator: Callable[[Any], str] | None,
    nesting: NestingType,
) -> BatchResult[Any]:
    """Run a map or parallel; see ``DurableContext.map`` / ``DurableContext.parallel``.

    Args:
        core: The calling context.
        spec: Map or parallel.
        branches: ``(name, name_was_explicit, body(ctx))`` per item, in index order.
        name: The batch's operation name.
        max_concurrency: Branches in flight at once (all when ``None``).
        completion: When the batch is done.
        serdes: Serdes of the whole result.
        item_serdes: Serdes of each branch's result.
        summary_generator: Text stored in the summary of an oversized result.
        nesting: NESTED or FLAT.
    """
    if completion.min_successful is not None and completion.min_successful > len(branches):
        raise ValidationError(
            f"min_successful={completion.min_successful} can never be met by "
            f"{len(branches)} item(s); lower min_successful or pass more items"
        )
    op_id = core.next_id()
    parent = core.record_parent
    invocation = core.invocation
    arn = invocation.arn
    op = invocation.state.get(op_id)
    result_serdes = serdes
    branch_serdes = item_serdes or serdes
    if op is not None:
        validate_identity(
            op, op_type=OperationType.CONTEXT, sub_type=spec.sub_type, name=name, parent_id=parent
        )
        replaying = observe(core, op)
        if op.status is OperationStatus.SUCCEEDED:
            if not op.replay_children:
                return deserialize(result_serdes, op.result, op_id, arn)  # type: ignore[no-any-return]
            ref = OperationRef(op_id, OperationType.CONTEXT, spec.sub_type, name, parent)
            rebuilt = user_function(
                core,
                ref,
                None,
                _rebuild_from_children,
                core,
                spec,
                op,
                branches,
                branch_serdes,
                nesting,
                replay_children=True,
            )
            if invocation.plugins is not None:
                invocation.plugins.on_child_context_end(
                    ref, OperationStatus.SUCCEEDED, is_replayed=True
                )
            return rebuilt
        if op.status is OperationStatus.FAILED:
            raise rebuild_error(op.error, ChildContextError)
    else:
        replaying = False
        core.enqueue(
            OperationUpdate(
                id=op_id,
                type=OperationType.CONTEXT,
                action=OperationAction.START,
                parent_id=parent,
                name=name,
                sub_type=spec.sub_type,
            )
        )

    def update(action: OperationAction, **fields: Any) -> OperationUpdate:
        return OperationUpdate(
            id=op_id,
            type=OperationType.CONTEXT,
            action=action,
            parent_id=parent,
            name=name,
            sub_type=spec.sub_type,
            **fields,
        )

    scope = CancelScope(core.scope)
    try:
        coordinator = _Coordinator(
            # With plugins, the branches start from the batch's replay state.
            dataclasses.replace(core, replay_hooks=replaying)
            if invocation.plugins is not None
            else core,
            spec,
            op_id,
            scope,
            [
                _Branch(i, operation_id(op_id, i), n, explicit, f)
                for i, (n, explicit, f) in enumerate(branches)
            ],
            max_concurrency,
            CompletionPolicy(completion, len(branches)),
            branch_serdes,
            nesting,
        )
        # The batch's own body, as plugins see it: a child context's user function.
        result = user_function(
            core,
            OperationRef(op_id, OperationType.CONTEXT, spec.sub_type, name, parent),
            None if op is not None else 1,
            coordinator.run,
        )
        payload = serialize(result_serdes, result, op_id, arn)
        value = deserialize(result_serdes, payload, op_id, arn)
        stored = payload
        replay_children = False
        if payload is not None and len(payload) > REPLAY_CHILDREN_THRESHOLD:
            stored = summary_envelope(spec.summary_type, result, summary_generator)
            replay_children = True
    except (SuspendExecution, BranchOrphaned, DeadlineApproaching, ExecutionError, InvocationError):
        scope.cancel()
        raise
    except Exception as error:
        details = error_object(error)
        core.complete_scope(scope, update(OperationAction.FAIL, error=details))
        failure = rebuild_error(details, ChildContextError)
        # The cause is the stored error rebuilt (as on replay), never the live exception.
        raise failure from failure.__cause__
    core.complete_scope(
        scope,
        update(
            OperationAction.SUCCEED,
            payload=stored,
            options={"ReplayChildren": replay_children},
        ),
    )
    return value  # type: ignore[no-any-return]


def _rebuild_from_children(
    core: ContextCore,
    spec: BatchSpec,
    op: Operation,
    branches: Sequence[tuple[str | None, bool, Callable[[Any], Any]]],
    branch_serdes: Any,
    nesting: NestingType,
) -> BatchResult[Any]:
    """Rebuild an oversized batch result from its branches' own checkpoints (ReplayChildren)."""
    state = core.invocation.state
    try:
        record = json.loads(op.result or "")
        total = int(record["totalCount"])
        reason = CompletionReason(record["completionReason"])
        if "startedIndexes" in record:
            started = set(record["startedIndexes"])
        else:
            started = set(range(total)) - set(record["completedIndexes"])
    except (ValueError, KeyError, TypeError):
        total, reason, started = len(branches), None, set()
    items: list[BatchItem[Any]] = []
    for index in range(min(total, len(branches))):
        branch_id = operation_id(op.id, index)
        if index in started:
            items.append(BatchItem(index, BatchItemStatus.STARTED))
            continue
        name, _, func = branches[index]
        child_op = state.get(branch_id)
        if nesting is NestingType.FLAT or child_op is None:
            items.append(BatchItem(index, BatchItemStatus.STARTED))
            continue
        if child_op.status is OperationStatus.SUCCEEDED:
            value = run_child_at(
                core,
                branch_id,
                func,
                name,
                ChildConfig(serdes=branch_serdes),
                sub_type=spec.branch_sub_type,
                parent_id=op.id,
            )
            items.append(BatchItem(index, BatchItemStatus.SUCCEEDED, value))
        elif child_op.status is OperationStatus.FAILED:
            items.append(BatchItem(index, BatchItemStatus.FAILED, error=child_op.error))
        else:
            raise NonDeterministicExecutionError(
                f"batch {op.id} completed, but its branch {branch_id} is {child_op.status.value}",
                step_id=branch_id,
            )
    if reason is None:
        reason = infer_reason(items, None)
    return BatchResult(items, reason)


class _Coordinator:
    """Runs one batch's branches; lives on the caller's thread."""

    def __init__(
        self,
        core: ContextCore,
        spec: BatchSpec,
        op_id: str,
        scope: CancelScope,
        branches: list[_Branch],
        max_concurrency: int | None,
        policy: CompletionPolicy,
        item_serdes: Any,
        nesting: NestingType,
    ) -> None:
        self.core = core
        self.spec = spec
        self.op_id = op_id
        self.scope = scope
        self.branches = branches
        self.max_concurrency = max_concurrency
        self.limit = max_concurrency or len(branches) or 1
        self.policy = policy
        self.item_serdes = item_serdes
        self.nesting = nesting
        self.events: queue.SimpleQueue[tuple[_Branch, str, Any]] = queue.SimpleQueue()
        self.pool: concurrent.futures.ThreadPoolExecutor | None = None
        self.workers = max(1, min(len(branches), max_concurrency or POOL_DEFAULT, POOL_MAX))
        self.producers = 0  # what this batch added to the checkpointer's producer count
        self.next_index = 0
        self.in_flight = 0  # admitted and not finished: running or suspended
        self.running = 0  # handed to a pool thread and not yet reported back
        self.succeeded = 0
        self.failed = 0
        self.suspended: dict[int, _Branch] = {}  # in flight, waiting
        # Heap of (resume_at, index); stale entries are skipped when popped.
        self.timers: list[tuple[float, int]] = []

    # -- completion --------------------------------------------------------

    def _status(self) -> CompletionStatus:
        items = tuple(
            CompletionItemStatus(
                b.index,
                b.name if b.explicit_name else None,
                None
                if b.status == "pending"
                else BatchItemStatus.SUCCEEDED
                if b.status == "succeeded"
                else BatchItemStatus.FAILED
                if b.status == "failed"
                else BatchItemStatus.STARTED,
            )
            for b in self.branches
        )
        return CompletionStatus(
            self.succeeded,
            self.failed,
            self.succeeded + self.failed,
            len(self.branches),
            items,
        )

    def _decide(self) -> CompletionReason | None:
        """Return the completion reason if the batch is done now."""
        config = self.policy.config
        if self.policy.tolerance_exceeded(self.failed):
            return CompletionReason.FAILURE_TOLERANCE_EXCEEDED
        if config.should_complete is not None:
            decision = config.should_complete(self._status())
            if decision.complete:
                return (
                    CompletionReason.CUSTOM_COMPLETION_FAILED
                    if decision.outcome is CompletionOutcome.FAILED
                    else CompletionReason.CUSTOM_COMPLETION_SUCCEEDED
                )
        done = self.succeeded + self.failed
        if done >= len(self.branches):
            return CompletionReason.ALL_COMPLETED
        if config.min_successful is not None and self.succeeded >= config.min_successful:
            return CompletionReason.MIN_SUCCESSFUL_REACHED
        return None

    # -- the loop ----------------------------------------------------------

    def run(self) -> BatchResult[Any]:
        invocation = self.core.invocation
        clock = invocation.clock
        deadline = invocation.deadline
        try:
            while True:
                if self.scope.cancelled:
                    raise BranchOrphaned
                reason = self._decide()
                if reason is None:
                    if deadline is not None and deadline.near():
                        self._wind_down(deadline)
                        continue
                    self._admit()
                    reason = self._decide()
                if reason is not None:
                    self._settle(deadline)
                    return self._result(reason)
                if self.running == 0:
                    self._suspend()
                    continue
                due = self._next_due()
                timeout = None if due is None else clock.timeout_until(due)
                if deadline is not None:
                    near = deadline.until_near()
                    if timeout is None or near < timeout:
                        timeout, due = near, None
                try:
                    event = self._next_event(timeout)
                except queue.Empty:
                    if due is not None:
                        clock.skip_to(due)
                        self._resume_due()
                    continue
                self._handle(*event)
        finally:
            self._count_producers(parked=False, done=True)
            if self.pool is not None:
                self.pool.shutdown(wait=False, cancel_futures=True)

    def _next_event(self, timeout: float | None) -> tuple[_Branch, str, Any]:
        """The next branch event; while blocked here, this thread adds no updates."""
        try:
            return self.events.get_nowait()
        except queue.Empty:
            pass
        self._count_producers(parked=True)
        try:
            return self.events.get(timeout=timeout)
        finally:
            self._count_producers(parked=False)

    def _count_producers(self, *, parked: bool, done: bool = False, starting: bool = False) -> None:
        """Tell the checkpointer which threads of this batch may add updates.

        Running branches count (at most one per pool thread); this thread does
        not while it waits for them. That lets a batch of updates leave as soon
        as every branch is blocked on it (``Checkpointer.add_producers``).
        """
        wanted = 0 if done else min(self.running, self.workers) - (1 if parked else 0)
        if wanted != self.producers or starting:
            self.core.add_producers(wanted - self.producers, starting=1 if starting else 0)
            self.producers = wanted

    def _wind_down(self, deadline: Deadline) -> None:
        """The deadline is near: start nothing, let running branches report, then stop.

        Running branches are waited for until the deadline's cutoff, which leaves
        the final flush its share of the margin. Returns once the batch is
        complete; otherwise raises :class:`DeadlineApproaching`.
        """
        while self.running:
            try:
                event = self._next_event(deadline.until_cutoff())
            except queue.Empty:
                break
            kind = event[1]
            self._handle(*event)
            if kind in ("succeeded", "failed") and self._decide() is not None:
                return
        raise DeadlineApproaching

    def _settle(self, deadline: Deadline | None) -> None:
        """The batch is complete: wait for the branches still running to finish or suspend.

        Nothing new starts. Waiting (rather than abandoning them) makes what is
        recorded independent of thread timing: every branch that started is
        recorded up to where it ends, on every run. With a deadline, the wait
        ends at its cutoff, leaving the final flush its share of the margin;
        branches still running then make it raise :class:`DeadlineApproaching`.
        """
        while self.running:
            timeout = None if deadline is None else deadline.until_cutoff()
            try:
                event = self._next_event(timeout)
            except queue.Empty:
                break
            self._handle(*event)
        if self.running:
            raise DeadlineApproaching

    def _admit(self) -> None:
        deadline = self.core.invocation.deadline
        if deadline is not None and deadline.near():
            return
        while (
            self.next_index < len(self.branches)
            and self.in_flight < self.limit
            and self.running < self.workers
        ):
            if self.policy.tolerance_exceeded(self.failed):
                return
            branch = self.branches[self.next_index]
            self.next_index += 1
            if self._resolve_from_history(branch):
                if self._decide() is not None:
                    return
                continue
            self.in_flight += 1
            self._dispatch(branch)

    def _resolve_from_history(self, branch: _Branch) -> bool:
        """Settle a branch whose CONTEXT already finished, without a thread."""
        if self.nesting is NestingType.FLAT:
            if branch.op_id in self.core.invocation.state:
                raise NonDeterministicExecutionError(
                    f"found a checkpoint at FLAT branch id {branch.op_id}: the history was "
                    "written with NestingType.NESTED",
                    step_id=branch.op_id,
                )
            return False
        op = self.core.invocation.state.get(branch.op_id)
        if op is None or not op.is_terminal or op.replay_children:
            return False
        validate_identity(
            op,
            op_type=OperationType.CONTEXT,
            sub_type=self.spec.branch_sub_type,
            name=branch.name,
            parent_id=self.op_id,
        )
        observe(self.core, op)
        if op.status is OperationStatus.SUCCEEDED:
            branch.status = "succeeded"
            branch.result = deserialize(
                self.item_serdes, op.result, branch.op_id, self.core.invocation.arn
            )
            self.succeeded += 1
        else:
            branch.status = "failed"
            branch.error = op.error or ErrorObject(message=f"branch ended {op.status.value}")
            self.failed += 1
        return True

    def _dispatch(self, branch: _Branch) -> None:
        if self.pool is None:
            self.pool = concurrent.futures.ThreadPoolExecutor(
                max_workers=self.workers,
                thread_name_prefix=f"durable-{self.spec.sub_type.lower()}",
            )
            self.core.invocation.register_executor(self.pool)
        branch.status = "running"
        branch.resume_at = None
        self.suspended.pop(branch.index, None)
        self.running += 1
        self._count_producers(parked=False, starting=True)  # before it can block on a checkpoint
        if self.core.invocation.plugins is not None:
            # Each branch starts from the coordinator's context (plugins' spans), in
            # a copy of its own, so nothing it binds leaks to a sibling.
            self.pool.submit(contextvars.copy_context().run, self._run_branch, branch)
        else:
            self.pool.submit(self._run_branch, branch)

    def _run_branch(self, branch: _Branch) -> None:
        """Body of one branch on a pool thread; reports exactly one event."""
        core = self.core
        core.producer_started()
        if core.invocation.plugins is not None:
            core = dataclasses.replace(core)  # its own replay state, for plugins
        try:
            if self.nesting is NestingType.FLAT:
                value = self._run_flat(core, branch)
            else:
                value = run_child_at(
                    core,
                    branch.op_id,
                    branch.func,
                    branch.name,
                    ChildConfig(serdes=self.item_serdes),
                    sub_type=self.spec.branch_sub_type,
                    parent_id=self.op_id,
                    scope=self.scope,
                    await_outcome=False,
                )
        except SuspendExecution as signal:
            self.events.put((branch, "suspended", signal))
        except BranchOrphaned:
            self.events.put((branch, "orphaned", None))
        except (ExecutionError, InvocationError) as fatal:
            self.events.put((branch, "fatal", fatal))
        except DurableOperationError as error:
            self.events.put(
                (
                    branch,
                    "failed",
                    ErrorObject(error.message, error.error_type, error.data, error.stack_trace),
                )
            )
        except Exception as error:
            self.events.put((branch, "failed", error_object(error)))
        except BaseException as fatal:
            self.events.put((branch, "fatal", fatal))
        else:
            self.events.put((branch, "succeeded", value))

    def _run_flat(self, core: ContextCore, branch: _Branch) -> Any:
        """A FLAT branch: no CONTEXT of its own; its operations name the batch as parent."""
        child = core.child(
            branch.op_id, prefix=branch.op_id, scope=self.scope, virtual_parent=self.op_id
        )
        plugins = core.invocation.plugins
        ref = OperationRef(
            branch.op_id, OperationType.CONTEXT, self.spec.branch_sub_type, branch.name, self.op_id
        )
        try:
            value = user_function(core, ref, 1, branch.func, core.make_context(child))
            payload = serialize(self.item_serdes, value, branch.op_id, core.invocation.arn)
            value = deserialize(self.item_serdes, payload, branch.op_id, core.invocation.arn)
        except Exception as error:
            if plugins is not None and not isinstance(error, ExecutionError | InvocationError):
                # Without a checkpoint of its own, the branch's end is reported here.
                plugins.on_child_context_end(
                    ref, OperationStatus.FAILED, error=ErrorObject.from_exception(error)
                )
            raise
        if plugins is not None:
            plugins.on_child_context_end(ref, OperationStatus.SUCCEEDED)
        return value

    def _handle(self, branch: _Branch, kind: str, value: Any) -> None:
        self.running -= 1
        if kind == "fatal":
            raise value
        if kind == "orphaned":
            # Only a cancelled scope (ours or an ancestor's) orphans a branch.
            raise BranchOrphaned
        if kind == "suspended":
            branch.status = "suspended"
            if value.operation_id != branch.blocked_on:
                branch.late_polls = 0
            branch.blocked_on = value.operation_id
            self.suspended[branch.index] = branch
            self._arm(branch, value.resume_at)
            return
        self.in_flight -= 1
        if kind == "succeeded":
            branch.status = "succeeded"
            branch.result = value
            self.succeeded += 1
        else:
            branch.status = "failed"
            branch.error = value
            self.failed += 1

    def _next_due(self) -> float | None:
        """Return the earliest resume time of a suspended branch (stale heap entries dropped)."""
        timers = self.timers
        while timers:
            due, index = timers[0]
            branch = self.branches[index]
            if branch.status == "suspended" and branch.resume_at == due:
                return due
            heapq.heappop(timers)
        return None

    def _arm(self, branch: _Branch, resume_at: float | None) -> None:
        """Schedule ``branch`` to be looked at again at ``resume_at`` (never, if ``None``).

        A time already past means the service was late: it is asked again after a
        delay that doubles on every late answer, so a late timer costs a handful
        of calls, not two a second.
        """
        now = self.core.invocation.clock.now()
        if resume_at is not None and resume_at <= now:
            delay = min(LATE_POLL_FIRST * 2**branch.late_polls, LATE_POLL_MAX)
            branch.late_polls += 1
            resume_at = now + delay
        branch.resume_at = resume_at
        if resume_at is not None:
            heapq.heappush(self.timers, (resume_at, branch.index))

    def _resume_due(self) -> None:
        """Ask the service what changed, then run again the branches whose time has come.

        A branch whose operation the service has not finished yet is not run (it
        would only suspend again); it is looked at again after a back-off.
        """
        invocation = self.core.invocation
        self.core.refresh(self.scope)
        now = invocation.clock.now()
        while (due := self._next_due()) is not None and due <= now:
            _, index = heapq.heappop(self.timers)
            branch = self.branches[index]
            if self._still_waiting(branch):
                self._arm(branch, now)
                continue
            self._dispatch(branch)

    def _suspend(self) -> None:
        """Nothing runs and nothing can start: suspend the invocation.

        Unless a waiting branch can already go on: the service may have finished
        its wait, retry, callback or invoke meanwhile (a checkpoint response said
        so). Returning PENDING then would leave nothing pending, which fails the
        execution; such branches are run again instead.
        """
        ready = [b for b in self.suspended.values() if self._unblocked(b)]
        if ready:
            for branch in ready:
                self._dispatch(branch)
            return
        raise SuspendExecution(
            f"batch {self.op_id}: every branch in flight is waiting", self._next_due()
        )

    def _still_waiting(self, branch: _Branch) -> bool:
        """Whether the service says the operation ``branch`` waits for is not done yet."""
        if branch.blocked_on is None or branch.blocked_on not in self.core.invocation.state:
            return False
        return not self._unblocked(branch)

    def _unblocked(self, branch: _Branch) -> bool:
        """Whether the operation ``branch`` waits for has finished (per known state)."""
        if branch.blocked_on is None:
            return False
        op = self.core.invocation.state.get(branch.blocked_on)
        if op is None:
            return False
        if op.type is OperationType.STEP:
            return op.status is OperationStatus.READY or op.is_terminal
        return op.is_terminal

    def _result(self, reason: CompletionReason) -> BatchResult[Any]:
        items: list[BatchItem[Any]] = []
        for b in self.branches:
            if b.status == "pending":
                continue
            if b.status == "succeeded":
                items.append(BatchItem(b.index, BatchItemStatus.SUCCEEDED, b.result))
            elif b.status == "failed":
                items.append(BatchItem(b.index, BatchItemStatus.FAILED, error=b.error))
            else:
                items.append(BatchItem(b.index, BatchItemStatus.STARTED))
        return BatchResult(items, reason)
