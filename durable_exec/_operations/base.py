"""What every operation shares: the invocation runtime, the calling context, replay checks.

Each operation follows one skeleton: allocate the next id in the calling
context, look the id up in :class:`ExecutionState`, check that the history's
type/subtype/name/parent match what the code asks for now, then either replay
(return the stored result or raise the stored error), resume, or run and
checkpoint.

Operations never import ``durable_exec._context``: a :class:`ContextCore`
carries a factory that builds the public ``DurableContext`` for child
contexts, so the dependency points from the API down to the mechanics.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from durable_exec._checkpointer import Checkpointer
from durable_exec._clock import Budget, Clock, Deadline, shutdown_budget
from durable_exec._errors import (
    DurableOperationError,
    NonDeterministicExecutionError,
    PayloadSizeError,
)
from durable_exec._ids import IdSequence
from durable_exec._logging import DurableLogger
from durable_exec._operation_ref import OperationRef
from durable_exec._scope import CancelScope
from durable_exec._signals import BranchOrphaned, DeadlineApproaching
from durable_exec._state import ExecutionState
from durable_exec._wire import ErrorObject, Operation, OperationType, OperationUpdate

if TYPE_CHECKING:
    from durable_exec._plugin_runtime import PluginExecutor

__all__ = [
    "ContextCore",
    "Invocation",
    "OperationRef",
    "observe",
    "rebuild_error",
    "user_function",
    "validate_identity",
]

T = TypeVar("T")


class Invocation:
    """Everything one invocation's operations share.

    Attributes:
        arn: The durable execution ARN.
        state: Known operations.
        checkpointer: Batches and sends the invocation's checkpoints.
        clock: The time source.
        lambda_context: Lambda's context object (or a test double).
        logger: The base logger (before per-context fields).
        deadline: When Lambda will stop the invocation, if known.
        plugins: The invocation's instrumentation plugins (``None`` without any).
        executors: Thread pools started during the invocation; joined before it returns.
    """

    def __init__(
        self,
        *,
        arn: str,
        state: ExecutionState,
        checkpointer: Checkpointer,
        clock: Clock,
        lambda_context: Any,
        logger: DurableLogger,
        deadline: Deadline | None = None,
        plugins: PluginExecutor | None = None,
    ) -> None:
        self.deadline = deadline
        self.plugins = plugins
        self.arn = arn
        self.state = state
        self.checkpointer = checkpointer
        self.clock = clock
        self.lambda_context = lambda_context
        self.logger = logger
        self._lock = threading.Lock()
        self.executors: list[Any] = []  # guarded by _lock

    def register_executor(self, executor: Any, *, last: bool = False) -> None:
        """Remember a thread pool so the handler can join it before returning.

        Pools are stopped last-registered first. With ``last``, ``executor`` is
        (re)placed after every pool registered so far, so it is stopped first.
        """
        with self._lock:
            executors = self.executors
            if executor in executors:
                if not last or executors[-1] is executor:
                    return
                executors.remove(executor)
            executors.append(executor)

    def join_executors(self, budget: Budget | None = None) -> list[threading.Thread]:
        """Stop every registered pool and join its threads, all within one shared budget.

        Each join takes what is left of ``budget`` (by default the deadline's
        :func:`shutdown_budget`, which also bounds the final flush and the
        checkpoint thread's join), so N stuck threads cost the budget once, and
        without a deadline the joins still end after
        :data:`SHUTDOWN_WITHOUT_DEADLINE` seconds instead of hanging.

        Returns:
            The pool threads still running when the budget was spent.
        """
        if budget is None:
            budget = shutdown_budget(self.deadline)
        alive: list[threading.Thread] = []
        while True:
            with self._lock:
                if not self.executors:
                    return alive
                executor = self.executors.pop()
            executor.shutdown(wait=False, cancel_futures=True)
            # ThreadPoolExecutor keeps its workers in _threads.
            for thread in list(getattr(executor, "_threads", ())):
                thread.join(budget.left())
                if thread.is_alive():
                    alive.append(thread)


@dataclasses.dataclass(slots=True)
class ContextCore:
    """The calling context, as operations see it.

    Attributes:
        invocation: The shared runtime.
        ids: This context's id counter.
        parent_id: The operation id of this context (``None`` at the root).
        scope: The cancel scope of the innermost map/parallel branch, if any.
        logger: The context's logger.
        make_context: Builds a public ``DurableContext`` around a ``ContextCore``.
        virtual_parent: For FLAT map/parallel branches: the ParentId to record
            (the batch), since the branch itself has no operation.
        replay_hooks: Whether plugins hear of this context's operations being
            replayed (``False`` inside a virtual child context, whose own id has
            no checkpoint: replay starts over there, as in the official SDK).
    """

    invocation: Invocation
    ids: IdSequence
    parent_id: str | None
    scope: CancelScope | None
    logger: DurableLogger
    make_context: Callable[[ContextCore], Any]
    virtual_parent: str | None = None
    replay_hooks: bool = True

    @property
    def record_parent(self) -> str | None:
        """The ParentId recorded on this context's operations."""
        return self.virtual_parent or self.parent_id

    def next_id(self) -> str:
        """Allocate the next operation id.

        Refused once the branch is orphaned, and once the invocation's deadline is
        near: no durable work starts that could be cut off by Lambda's timeout.
        """
        if self.scope is not None and self.scope.cancelled:
            raise BranchOrphaned(
                "this map/parallel branch's batch has completed: the branch stops here",
                self.ids.peek(),
            )
        deadline = self.invocation.deadline
        if deadline is not None and deadline.near():
            raise DeadlineApproaching
        return self.ids.next()

    def is_replaying(self) -> bool:
        """Whether the next operation of this context is already in the history."""
        return self.ids.peek() in self.invocation.state

    def child(
        self,
        op_id: str | None,
        *,
        prefix: str,
        scope: CancelScope | None = None,
        virtual_parent: str | None = None,
        logger_fields: dict[str, Any] | None = None,
    ) -> ContextCore:
        """Return the core of a child context whose operations are prefixed by ``prefix``."""
        ids = IdSequence(prefix)
        invocation = self.invocation
        fields = {"parentId": op_id or virtual_parent, **(logger_fields or {})}
        logger = self.logger.with_fields(
            is_replaying=lambda: ids.peek() in invocation.state, **fields
        )
        return ContextCore(
            invocation=invocation,
            ids=ids,
            parent_id=op_id,
            scope=scope or self.scope,
            logger=logger,
            make_context=self.make_context,
            virtual_parent=virtual_parent,
            replay_hooks=self.replay_hooks,
        )

    # Operations reach the checkpointer only through these methods.

    def enqueue(self, update: OperationUpdate, scope: CancelScope | None = None) -> None:
        """Send ``update`` in the background; refused once ``scope`` (default: ours) ends."""
        self.invocation.checkpointer.enqueue(update, scope or self.scope)

    def checkpoint(self, update: OperationUpdate, scope: CancelScope | None = None) -> None:
        """Send ``update`` and wait until it is durable (refused as :meth:`enqueue` is)."""
        self.invocation.checkpointer.checkpoint(update, scope or self.scope)

    def refresh(self, scope: CancelScope | None = None) -> None:
        """Ask the service what changed (with whatever is queued) and wait for the answer."""
        self.invocation.checkpointer.refresh(scope or self.scope)

    def complete_scope(self, scope: CancelScope, update: OperationUpdate) -> None:
        """Cancel a map/parallel ``scope`` and send its outcome ``update`` durably."""
        self.invocation.checkpointer.complete_scope(scope, update)

    def add_producers(self, delta: int, *, starting: int = 0) -> None:
        """Tell the batcher how many more (or fewer) threads may add updates.

        See ``Checkpointer.add_producers``: a batch somebody waits for leaves
        once every counted thread is blocked on it.
        """
        self.invocation.checkpointer.add_producers(delta, starting=starting)

    def producer_started(self) -> None:
        """A thread counted as starting (a map/parallel branch) now runs."""
        self.invocation.checkpointer.producer_started()


def observe(core: ContextCore, op: Operation) -> bool:
    """Tell the plugins an operation read its checkpoint (replay hooks, end hook).

    Called once the operation's identity matched the history, before acting on it.
    As in the official SDK, a context stops reporting replay after an operation
    still in progress; a child context created for this operation inherits the
    state from before that.

    Returns:
        Whether the context was replaying when it reached the operation.
    """
    plugins = core.invocation.plugins
    if plugins is None:
        return False
    replaying = core.replay_hooks
    plugins.on_checkpoint_read(op, replaying=replaying)
    if not op.is_terminal:
        core.replay_hooks = False
    return replaying


def user_function(
    core: ContextCore,
    ref: OperationRef,
    attempt: int | None,
    function: Callable[..., T],
    *args: Any,
    replay_children: bool = False,
) -> T:
    """Call user code of an operation (a step body, a child function, a check).

    With plugins, it runs between ``on_user_function_start`` and ``..._end``.
    """
    plugins = core.invocation.plugins
    if plugins is None:
        return function(*args)
    return plugins.run_user_function(ref, attempt, replay_children, function, *args)


def validate_identity(
    op: Operation,
    *,
    op_type: OperationType,
    sub_type: str | None,
    name: str | None,
    parent_id: str | None,
) -> None:
    """Raise :class:`NonDeterministicExecutionError` if ``op`` is not what the code asks for now."""
    mismatches = []
    if op.type is not op_type:
        mismatches.append(f"type: history has {op.type.value}, code asks for {op_type.value}")
    if (op.sub_type or None) != (sub_type or None):
        mismatches.append(f"subtype: history has {op.sub_type!r}, code asks for {sub_type!r}")
    if (op.name or None) != (name or None):
        mismatches.append(f"name: history has {op.name!r}, code asks for {name!r}")
    if (op.parent_id or None) != (parent_id or None):
        mismatches.append(f"parent: history has {op.parent_id!r}, code asks for {parent_id!r}")
    if mismatches:
        error = NonDeterministicExecutionError(
            f"the code no longer matches the execution's history at operation {op.id} "
            f"({'; '.join(mismatches)}). Operations must be called in the same order with "
            "the same names on every invocation; branch only on durable results. To change "
            "a workflow, deploy it as a new function version and let running executions finish "
            "on the old one.",
            step_id=op.id,
        )
        error.recorded = {
            "type": op.type.value,
            "sub_type": op.sub_type,
            "name": op.name,
            "parent_id": op.parent_id,
        }
        error.requested = {
            "type": op_type.value,
            "sub_type": sub_type,
            "name": name,
            "parent_id": parent_id,
        }
        raise error


def rebuild_error(error: ErrorObject | None, wrapper: type[DurableOperationError]) -> Exception:
    """Rebuild the exception an operation raises from its stored error object.

    The first run and every replay go through here, so they raise the same thing:
    ``wrapper`` (``StepError``, ``ChildContextError``...) carrying the stored
    message, type, data and stack trace, whose ``__cause__`` is the stored error
    rebuilt as the SDK class it names (or a plain :class:`DurableOperationError`).
    A stored :class:`SerDesError` (any subclass is recorded under that one name, as
    the official SDK records it) is raised as a plain :class:`SerDesError`.

    Args:
        error: The checkpointed error (``None`` gives a generic message).
        wrapper: The operation's error class.
    """
    if error is None:
        return wrapper("Unknown error. No ErrorObject exists on the Checkpoint Operation.")
    return error.as_operation_error(wrapper)


MAX_STEP_PAYLOAD = 1024 * 1024
"""Largest result (bytes, UTF-8) a step or wait_for_condition state may checkpoint.

The API documents 1 MiB per operation payload; the official SDK sends up to that too.
"""
MAX_INVOKE_PAYLOAD = 1024 * 1024
"""Largest chained-invoke payload (bytes, UTF-8)."""
_MAX_ERROR_MESSAGE = 16 * 1024
_MAX_ERROR_DATA = 8 * 1024
_MAX_STACK_LINES = 50


def check_payload(
    payload: str | None, limit: int, *, what: str, op_id: str, name: str | None
) -> None:
    """Raise :class:`PayloadSizeError` if ``payload`` exceeds ``limit`` bytes."""
    if payload is None or len(payload) * 4 <= limit:
        return  # even all-4-byte characters would fit
    size = len(payload.encode())
    if size > limit:
        label = f"{name!r} ({op_id})" if name else op_id
        raise PayloadSizeError(
            f"{what} {label} is {size:,} bytes once serialised; the service stores at most "
            f"{limit:,} bytes per operation. Keep large data elsewhere (S3, EFS) and return a "
            "reference, or produce it in a child context, whose large results are rebuilt "
            "from its operations on replay."
        )


def _utf8(text: str) -> str:
    """``text`` with lone surrogates (not encodable as UTF-8) written as escapes."""
    # They come e.g. from JSON input holding "\ud800"; sending them would fail the checkpoint.
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _clip(text: str | None, limit: int) -> str | None:
    if text is None:
        return None
    text = _utf8(text)
    if len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} characters cut]"


def error_object(error: BaseException) -> ErrorObject:
    """Describe ``error`` for a FAIL or RETRY update, cut to what the service accepts."""
    details = ErrorObject.from_exception(error)
    details.message = _clip(details.message, _MAX_ERROR_MESSAGE)
    details.data = _clip(details.data, _MAX_ERROR_DATA)
    details.type = _clip(details.type, _MAX_ERROR_MESSAGE)
    if details.stack_trace is not None:
        details.stack_trace = [_utf8(line)[:500] for line in details.stack_trace[:_MAX_STACK_LINES]]
    return details
