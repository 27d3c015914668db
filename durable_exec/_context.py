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

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, ParamSpec, TypeVar

from durable_exec._config import ChildConfig, StepConfig, validate_name
from durable_exec._durations import DurationLike
from durable_exec._ids import IdSequence
from durable_exec._logging import DurableLogger, LoggerInterface
from durable_exec._operations.base import ContextCore
from durable_exec._operations.child import run_child
from durable_exec._operations.step import StepContext, run_step
from durable_exec._operations.wait import run_wait, wait_seconds

if TYPE_CHECKING:
    from durable_exec._operations.base import Invocation

__all__ = [
    "DurableContext",
    "ExecutionContext",
    "durable_step",
    "durable_with_child_context",
]

T = TypeVar("T")
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
        """Run ``func`` in a child context: its operations get their own ids, its result one checkpoint.

        On replay: a finished child returns its stored result (or raises its stored
        :class:`~durable_exec.ChildContextError`) without running ``func``; an
        unfinished one runs ``func`` again, whose own operations replay. A result
        over 256 KiB is not stored: the child is re-run on replay to rebuild it from
        its operations' checkpoints.

        Args:
            func: ``(DurableContext) -> T``; typically built with :func:`durable_with_child_context`.
            name: Operation name (default: the decorated function's name).
            config: Serdes, sub-type, summary generator.

        Raises:
            ChildContextError: ``func`` raised.
        """
        op_name = _operation_name(func, name)
        return run_child(self._core, func, op_name, config or ChildConfig())


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
    """Turn ``f(context, *args)`` into ``f(*args)`` returning a body for ``run_in_child_context``."""

    @functools.wraps(func)
    def bind(*args: P.args, **kwargs: P.kwargs) -> Callable[[DurableContext], T]:
        def run(context: DurableContext) -> T:
            return func(context, *args, **kwargs)

        run._original_name = func.__name__  # type: ignore[attr-defined]
        return run

    return bind


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

