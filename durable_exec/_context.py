"""DurableContext: the blocking API a durable handler calls, and its decorators.

Each method validates its arguments, takes the next operation id of this
context and hands over to the operation in ``durable_exec._operations``.

Determinism rules (what replay needs from your code):

1. Call durable operations in the same order, with the same names, on every
   invocation. Branch only on values that came out of durable operations (or
   the handler's input).
2. Anything that can differ between runs (time, randomness, I/O, environment)
   belongs inside a step, whose result is recorded once and replayed after.
3. Do not use a context from two threads at once; run concurrent work with
   ``map``/``parallel`` (or child contexts), which give each branch its own context.
4. Inside a child context use the child's context object, never the parent's.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from durable_exec._batch import BatchResult
from durable_exec._concurrency import MAP, PARALLEL, run_batch
from durable_exec._config import (
    CallbackConfig,
    ChildConfig,
    InvokeConfig,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
    as_retry_strategy,
    validate_name,
)
from durable_exec._durations import Duration, DurationLike
from durable_exec._errors import ExecutionError, InvocationError, ValidationError
from durable_exec._ids import IdSequence
from durable_exec._logging import DurableLogger, LoggerInterface
from durable_exec._operations.base import ContextCore
from durable_exec._operations.callback import (
    Callback,
    WaitForCallbackContext,
    run_create_callback,
    run_wait_for_callback,
)
from durable_exec._operations.child import run_child
from durable_exec._operations.invoke import run_invoke, validate_function_name
from durable_exec._operations.step import StepContext, run_step
from durable_exec._operations.wait import run_wait, wait_seconds
from durable_exec._operations.wait_for_condition import run_wait_for_condition
from durable_exec._retry import RetryDecision, create_retry_strategy
from durable_exec._waits import WaitForConditionCheckContext, WaitForConditionConfig

if TYPE_CHECKING:
    from durable_exec._operations.base import Invocation

__all__ = [
    "DurableContext",
    "ExecutionContext",
    "WithRetryConfig",
    "durable_parallel_branch",
    "durable_step",
    "durable_wait_for_callback",
    "durable_with_child_context",
    "with_retry",
]

T = TypeVar("T")
U = TypeVar("U")
P = ParamSpec("P")


class ExecutionContext:
    """Facts about the execution.

    Attributes:
        durable_execution_arn: The execution's ARN.
    """

    __slots__ = ("durable_execution_arn",)

    def __init__(self, durable_execution_arn: str) -> None:
        self.durable_execution_arn = durable_execution_arn

    def __repr__(self) -> str:
        return f"ExecutionContext({self.durable_execution_arn!r})"


def _operation_name(func: Any, name: str | None) -> str | None:
    if name:
        validate_name(name)
        return name
    original = getattr(func, "_original_name", None)
    return original if isinstance(original, str) and original else None


class DurableContext:
    """The durable API of one context: the handler's root context or a child's.

    Every method is blocking. Operations that must wait (``wait``, a step's
    retry delay, a callback, a chained invoke) end the invocation: the handler
    returns PENDING and Lambda invokes it again when the wait is over; the code
    then replays to the same point and carries on.
    """

    __slots__ = ("_core", "execution_context")

    def __init__(self, core: ContextCore) -> None:
        self._core = core
        self.execution_context = ExecutionContext(core.invocation.arn)

    # -- facts -----------------------------------------------------------------

    @property
    def durable_execution_arn(self) -> str:
        """The execution's ARN."""
        return self._core.invocation.arn

    @property
    def lambda_context(self) -> Any:
        """Lambda's context object for this invocation (``get_remaining_time_in_millis`` etc.)."""
        return self._core.invocation.lambda_context

    @property
    def logger(self) -> DurableLogger:
        """A logger that adds the execution ARN (and parent id) and is silent during replay."""
        return self._core.logger

    @property
    def is_virtual(self) -> bool:
        """Whether this context records nothing for itself.

        True inside ``run_in_child_context`` with ``ChildConfig(is_virtual=True)``
        and inside FLAT map/parallel branches: their operations' ids derive from the
        context's own id, but they record the enclosing context as their parent.
        """
        core = self._core
        return core.record_parent != core.ids.prefix

    @property
    def _invocation(self) -> Invocation:
        return self._core.invocation

    def set_logger(self, new_logger: LoggerInterface) -> None:
        """Send this context's log records to ``new_logger`` (e.g. a Powertools logger).

        Enrichment and replay suppression are kept.
        """
        self._core.logger = self._core.logger.with_logger(new_logger)

    def is_replaying(self) -> bool:
        """Whether this context is replaying history (its next operation is already recorded)."""
        return self._core.is_replaying()

    # -- operations ----------------------------------------------------------

    def step(
        self,
        func: Callable[[StepContext], T],
        name: str | None = None,
        config: StepConfig | None = None,
    ) -> T:
        """Run ``func`` once, durably, and return its result.

        The result is checkpointed; with the default semantics (at least once per
        attempt) START and the result travel in one API call. If ``func`` raises,
        the retry strategy decides: a retry is checkpointed with its delay and the
        invocation ends (no sleeping); when retries run out the step fails.

        On replay: a succeeded step returns its stored result without calling
        ``func``; a failed one raises the same :class:`~durable_exec.StepError`; a
        step waiting for its next attempt suspends again; a step whose attempt was
        interrupted runs again (at least once) or is handed to the retry strategy
        as :class:`~durable_exec.StepInterruptedError` (at most once).

        Args:
            func: ``(StepContext) -> T``; typically built with :func:`durable_step`.
            name: Operation name (default: the decorated function's name).
            config: Retry strategy, semantics, serdes.

        Returns:
            The result, round-tripped through the serdes (equal on first run and replay).

        Raises:
            StepError: The step failed for good.
            SerDesError: The result cannot be serialised (the step fails, no retry).

        Example:
            >>> total = context.step(lambda _: 1 + 1, name="add")  # doctest: +SKIP
        """
        op_name = _operation_name(func, name)
        return run_step(self._core, func, op_name, config or StepConfig())

    def wait(self, duration: DurationLike, name: str | None = None) -> None:
        """Suspend for ``duration`` (1 s to 366 days) without using compute.

        The first call checkpoints the wait and ends the invocation; the
        service invokes the function again when it is over.

        On replay: a finished wait returns at once; an unfinished one suspends again.

        Args:
            duration: A :class:`~durable_exec.Duration` or ``datetime.timedelta``;
                rounded up to whole seconds.
            name: Operation name.

        Raises:
            ValidationError: The duration is under 1 s or over 366 days.
        """
        wait_seconds(duration)
        if name:
            validate_name(name)
        run_wait(self._core, duration, name or None)

    def run_in_child_context(
        self,
        func: Callable[[DurableContext], T],
        name: str | None = None,
        config: ChildConfig[T] | None = None,
    ) -> T:
        """Run ``func`` in a child context: its own operation ids, one checkpointed result.

        On replay: a finished child returns its stored result (or raises its stored
        :class:`~durable_exec.ChildContextError`) without running ``func``; an
        unfinished one runs ``func`` again, whose own operations replay. A result
        over 256 KiB is not stored: the child is re-run on replay to rebuild it from
        its operations' checkpoints.

        Args:
            func: ``(DurableContext) -> T``, typically from :func:`durable_with_child_context`.
            name: Operation name (default: the decorated function's name).
            config: Serdes, sub-type, summary generator.

        Raises:
            ChildContextError: ``func`` raised.
        """
        op_name = _operation_name(func, name)
        return run_child(self._core, func, op_name, config or ChildConfig())

    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], T],
        name: str | None = None,
        config: MapConfig[U] | None = None,
    ) -> BatchResult[T]:
        """Run ``func(context, item, index, inputs)`` for every item, concurrently.

        Each item runs in its own child context (SubType ``MapIteration``) on a
        thread pool; ``config.max_concurrency`` bounds the items in flight (running
        or suspended). Item failures are captured in the result, not raised. By
        default the map stops scheduling at the first failure; set
        ``config.completion_config`` to tolerate failures or finish early.

        On replay: a finished map returns its stored result without running any
        item; an unfinished one runs again, and finished items return from their
        own checkpoints without a thread.

        Args:
            inputs: The items (a sequence; its order fixes each item's id).
            func: ``(context, item, index, inputs) -> result``.
            name: Operation name.
            config: Concurrency, completion policy, serdes, naming, nesting.

        Returns:
            A :class:`~durable_exec.BatchResult` with one item per started item.

        Raises:
            ValidationError: ``min_successful`` exceeds the number of items.
        """
        config = config or MapConfig()
        items = list(inputs)
        namer = config.item_namer
        branches = []
        for index, item in enumerate(items):
            item_name = namer(item, index) if namer is not None else f"map-item-{index}"
            branches.append(
                (
                    item_name,
                    namer is not None,
                    functools.partial(_call_item, func, item, index, items),
                )
            )
        return run_batch(
            self._core,
            MAP,
            branches,
            _operation_name(func, name),
            max_concurrency=config.max_concurrency,
            completion=config.completion_config,
            serdes=config.serdes,
            item_serdes=config.item_serdes,
            summary_generator=config.summary_generator,
            nesting=config.nesting_type,
        )

    def parallel(
        self,
        functions: Sequence[Callable[[DurableContext], T] | ParallelBranch[T]],
        name: str | None = None,
        config: ParallelConfig | None = None,
    ) -> BatchResult[T]:
        """Run each ``function(context)`` concurrently, each in its own child context.

        Like :meth:`map` (same concurrency, suspension and replay rules) with one
        branch per function (SubType ``ParallelBranch``, named
        ``parallel-branch-{i}`` or by :class:`~durable_exec.ParallelBranch`). By
        default every branch must succeed: the first failure stops scheduling.

        Returns:
            A :class:`~durable_exec.BatchResult`; call ``throw_if_error()`` to raise
            the first failure.
        """
        config = config or ParallelConfig()
        branches = []
        for index, function in enumerate(functions):
            if isinstance(function, ParallelBranch):
                branch_name = function.name if function.name is not None else None
                branches.append(
                    (
                        branch_name if branch_name is not None else f"parallel-branch-{index}",
                        branch_name is not None,
                        function.func,
                    )
                )
            else:
                branches.append((f"parallel-branch-{index}", False, function))
        if name:
            validate_name(name)
        return run_batch(
            self._core,
            PARALLEL,
            branches,
            name or None,
            max_concurrency=config.max_concurrency,
            completion=config.completion_config,
            serdes=config.serdes,
            item_serdes=config.item_serdes,
            summary_generator=config.summary_generator,
            nesting=config.nesting_type,
        )

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> Callback:
        """Create a callback an external system completes; return its handle at once.

        The CALLBACK is checkpointed synchronously (the service issues the id).
        Pass :attr:`Callback.callback_id` to the external system, then call
        :meth:`Callback.result`, which suspends the invocation until the result
        arrives. Failures are raised by ``result()``, never here, so code between
        the two runs on every invocation.

        On replay: returns the same callback (same id) without a new checkpoint.

        Args:
            name: Operation name.
            config: Timeout, heartbeat timeout, serdes of the result (raw string by default).
        """
        if name:
            validate_name(name)
        return run_create_callback(self._core, name or None, config or CallbackConfig())

    def wait_for_callback(
        self,
        submitter: Callable[[str, WaitForCallbackContext], Any],
        name: str | None = None,
        config: WaitForCallbackConfig | None = None,
    ) -> Any:
        """Create a callback, give its id to ``submitter`` inside a step, and wait for the result.

        Recorded as a child context (SubType ``WaitForCallback``) holding the
        CALLBACK and the submitter STEP (retried by ``config.retry_strategy``).

        On replay: a completed wait returns its stored result; the submitter never
        runs again once it has succeeded.

        Raises:
            CallbackExternalError: The external system reported failure.
            CallbackTimeoutError: The callback or its heartbeat timed out.
            CallbackSubmitterError: The submitter failed and its retries ran out.
        """
        op_name = _operation_name(submitter, name)
        return run_wait_for_callback(self._core, submitter, op_name, config)

    def invoke(
        self,
        function_name: str,
        payload: Any,
        name: str | None = None,
        config: InvokeConfig[Any, Any] | None = None,
    ) -> Any:
        """Invoke another Lambda function (durable or not) and return its result.

        The invocation ends (no compute billed) until the target finishes; durable
        targets need a qualified name (version or alias).

        On replay: returns the stored result or raises the stored error.

        Args:
            function_name: Name or ARN of the target, 1-256 characters.
            payload: The target's input (JSON by default).
            name: Operation name.
            config: Payload and result serdes, tenant id.

        Raises:
            InvokeError: The target failed, timed out or was stopped.
            ValidationError: ``function_name`` is empty or too long.
        """
        validate_function_name(function_name)
        if name:
            validate_name(name)
        return run_invoke(
            self._core, function_name, payload, name or None, config or InvokeConfig()
        )

    def wait_for_condition(
        self,
        check: Callable[[T, WaitForConditionCheckContext], T],
        config: WaitForConditionConfig[T],
        name: str | None = None,
    ) -> T:
        """Poll ``check(state, ctx) -> new_state`` until the wait strategy stops.

        Returns the last state.

        Recorded as one STEP (SubType ``WaitForCondition``). Between checks the
        state is checkpointed and the invocation ends for the strategy's delay.

        On replay: returns the final state once done; otherwise resumes polling
        from the last checkpointed state.

        Raises:
            WaitForConditionError: ``check`` raised, or the strategy gave up.
            ValidationError: ``check`` or ``config`` is missing.
        """
        if check is None or not callable(check):
            raise ValidationError("wait_for_condition needs a callable check(state, context)")
        if not isinstance(config, WaitForConditionConfig):
            raise ValidationError("wait_for_condition needs a WaitForConditionConfig")
        if name:
            validate_name(name)
        return run_wait_for_condition(self._core, check, config, name or None)  # type: ignore[no-any-return]


def _make_context(core: ContextCore) -> DurableContext:
    return DurableContext(core)


def durable_step(
    func: Callable[Concatenate[StepContext, P], T],
) -> Callable[P, Callable[[StepContext], T]]:
    """Turn ``f(step_context, *args)`` into ``f(*args)`` returning a step for ``context.step``.

    The step is named after the function unless ``context.step`` is given a name.

    Example:
        >>> @durable_step
        ... def charge(step_context: StepContext, amount: int) -> str: ...
        >>> receipt = context.step(charge(42))  # doctest: +SKIP
    """

    @functools.wraps(func)
    def bind(*args: P.args, **kwargs: P.kwargs) -> Callable[[StepContext], T]:
        def run(step_context: StepContext) -> T:
            return func(step_context, *args, **kwargs)

        run._original_name = func.__name__  # type: ignore[attr-defined]
        return run

    return bind


def durable_with_child_context(
    func: Callable[Concatenate[DurableContext, P], T],
) -> Callable[P, Callable[[DurableContext], T]]:
    """Turn ``f(context, *args)`` into ``f(*args)`` returning a child-context body.

    The child context is named after the function unless given a name.
    """

    @functools.wraps(func)
    def bind(*args: P.args, **kwargs: P.kwargs) -> Callable[[DurableContext], T]:
        def run(context: DurableContext) -> T:
            return func(context, *args, **kwargs)

        run._original_name = func.__name__  # type: ignore[attr-defined]
        return run

    return bind


def _call_item(
    func: Callable[[DurableContext, Any, int, Sequence[Any]], Any],
    item: Any,
    index: int,
    items: Sequence[Any],
    context: DurableContext,
) -> Any:
    return func(context, item, index, items)


def durable_parallel_branch(
    name: str | None = None,
) -> Callable[[Callable[Concatenate[DurableContext, P], T]], Callable[P, ParallelBranch[T]]]:
    """Turn ``f(context, *args)`` into ``f(*args)`` returning a named :class:`ParallelBranch`.

    Without ``name`` the branch is named ``parallel-branch-{i}``, as in the official SDK.
    """

    def decorate(
        func: Callable[Concatenate[DurableContext, P], T],
    ) -> Callable[P, ParallelBranch[T]]:
        @functools.wraps(func)
        def bind(*args: P.args, **kwargs: P.kwargs) -> ParallelBranch[T]:
            def run(context: DurableContext) -> T:
                return func(context, *args, **kwargs)

            return ParallelBranch(run, name)

        return bind

    return decorate


def durable_wait_for_callback(
    func: Callable[Concatenate[str, WaitForCallbackContext, P], Any],
) -> Callable[P, Callable[[str, WaitForCallbackContext], Any]]:
    """Turn ``f(callback_id, ctx, *args)`` into ``f(*args)`` returning a submitter.

    Pass the submitter to ``wait_for_callback``; the operation is named after the function.
    """

    @functools.wraps(func)
    def bind(*args: P.args, **kwargs: P.kwargs) -> Callable[[str, WaitForCallbackContext], Any]:
        def run(callback_id: str, context: WaitForCallbackContext) -> Any:
            return func(callback_id, context, *args, **kwargs)

        run._original_name = func.__name__  # type: ignore[attr-defined]
        return run

    return bind


@dataclasses.dataclass(frozen=True)
class WithRetryConfig:
    """How :func:`with_retry` retries a block.

    Attributes:
        retry_strategy: ``(error, attempt) -> RetryDecision``; by default
            ``create_retry_strategy()`` (3 attempts). A ``RetryStrategyConfig`` is
            used as ``create_retry_strategy(config)`` would build it.
        wrap_with_run_in_child_context: Run the block in a child context (recommended:
            each attempt's operations then stay grouped under one parent).
        child_context_config: Config of that child context.
    """

    retry_strategy: Callable[[Exception, int], RetryDecision] | None = None
    wrap_with_run_in_child_context: bool = True
    child_context_config: ChildConfig[Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "retry_strategy", as_retry_strategy(self.retry_strategy))


def with_retry(
    context: DurableContext,
    func: Callable[[DurableContext, int], T],
    config: WithRetryConfig | None = None,
    name: str | None = None,
) -> T:
    """Run a whole block of durable operations again when it raises.

    Between attempts the block waits durably (``{name}-backoff-{attempt}``), so no
    compute is billed during the back-off. ``func(context, attempt)`` gets the
    1-based attempt number. Each attempt's operations get new ids: a retried block
    does not replay the failed attempt's operations, it runs after them.

    On replay: finished attempts replay from their checkpoints, in order, and the
    block continues where it stopped.

    Raises:
        Exception: The last attempt's error, when the strategy gives up.
    """
    config = config or WithRetryConfig()
    strategy = config.retry_strategy or create_retry_strategy()

    def attempts(ctx: DurableContext) -> T:
        attempt = 1
        while True:
            try:
                return func(ctx, attempt)
            except (ExecutionError, InvocationError):
                raise
            except Exception as error:
                decision = strategy(error, attempt)
                if not decision.should_retry:
                    raise
                ctx.wait(
                    Duration(max(1, decision.delay.seconds)),
                    name=f"{name}-backoff-{attempt}" if name else None,
                )
                attempt += 1

    if config.wrap_with_run_in_child_context:
        child_config: ChildConfig[T] = config.child_context_config or ChildConfig()
        return context.run_in_child_context(attempts, name=name, config=child_config)
    return attempts(context)


def root_context(invocation: Invocation) -> DurableContext:
    """Build the handler's root context for ``invocation``."""
    ids = IdSequence(None)
    state = invocation.state
    logger = invocation.logger.with_fields(is_replaying=lambda: ids.peek() in state)
    core = ContextCore(
        invocation=invocation,
        ids=ids,
        parent_id=None,
        scope=None,
        logger=logger,
        make_context=_make_context,
    )
    return DurableContext(core)
