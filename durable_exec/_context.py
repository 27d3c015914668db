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

import copy
import dataclasses
import datetime
import functools
import inspect
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar

from durable_exec._batch import BatchResult
from durable_exec._concurrency import MAP, PARALLEL, run_batch
from durable_exec._config import (
    NAME_ATTRIBUTE,
    RESULT_SOURCE,
    STEP_BINDER,
    CallbackConfig,
    ChildConfig,
    InvokeConfig,
    MapConfig,
    ParallelBranch,
    ParallelConfig,
    RetryStrategyField,
    StepConfig,
    WaitForCallbackConfig,
    validate_name,
)
from durable_exec._durations import Duration, DurationLike, delay_seconds
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
from durable_exec._retry import create_retry_strategy
from durable_exec._waits import WaitForConditionCheckContext, WaitForConditionConfig

if TYPE_CHECKING:
    from durable_exec._operations.base import Invocation
    from durable_exec._saga import Saga
    from durable_exec._serde import SerDes

__all__ = [
    "DurableContext",
    "ExecutionContext",
    "LambdaContext",
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

ASYNC_MARKER = "_durable_is_async"
"""Attribute the SDK's decorators set when the function they wrap is ``async def``."""

_CO_COROUTINE = inspect.CO_COROUTINE


def is_async(func: Any) -> bool:
    """Whether ``func`` is an ``async def`` function (or an SDK wrapper around one)."""
    code = getattr(func, "__code__", None)
    if code is not None:  # a plain function: read its flags (the common, fast case)
        return bool(code.co_flags & _CO_COROUTINE) or bool(getattr(func, ASYNC_MARKER, False))
    return inspect.iscoroutinefunction(func) or bool(getattr(func, ASYNC_MARKER, False))


ResultSerdesFn = Callable[..., "SerDes[Any] | None"]
_RESULT_SERDES: list[ResultSerdesFn] = []


def _result_serdes() -> ResultSerdesFn:
    """Return ``durable_exec._results.result_serdes``, imported on the first step.

    Kept in a module global after the first call: an ``import`` statement inside
    ``step`` would cost about 0.6 us on every step.
    """
    if not _RESULT_SERDES:
        from durable_exec._results import result_serdes  # noqa: PLC0415 - loaded on first use

        _RESULT_SERDES.append(result_serdes)
    return _RESULT_SERDES[0]


def run_awaitable(core: ContextCore, awaitable: Awaitable[Any]) -> Any:
    """Run an async body's coroutine on the invocation's event loop (blocking).

    See :func:`durable_exec._async_bodies.run_awaitable`; that module (and
    ``asyncio``) loads with the first async body.
    """
    from durable_exec._async_bodies import run_awaitable as run  # noqa: PLC0415

    return run(core, awaitable)


class LambdaContext(Protocol):
    """Lambda's context object, as the handler receives it (``context.lambda_context``).

    The SDK itself reads ``get_remaining_time_in_millis``, ``function_name`` and
    ``invoked_function_arn``; the rest is there for your code. In tests,
    :class:`durable_exec.testing.FakeLambdaContext` has every member.

    Attributes:
        aws_request_id: The invocation's request id.
        function_name: The function's name.
        function_version: The version that runs (``$LATEST`` or a number).
        invoked_function_arn: The ARN the function was invoked with.
        memory_limit_in_mb: The memory configured for the function.
        log_group_name: The CloudWatch log group of the function.
        log_stream_name: The log stream of this execution environment.
        tenant_id: The tenant of the invocation, for tenant-isolated functions.
        client_context: The mobile client context, if one was sent.
        identity: The Cognito identity, if one was sent.
    """

    aws_request_id: str
    function_name: str
    function_version: str | None
    invoked_function_arn: str
    memory_limit_in_mb: str | int | None
    log_group_name: str | None
    log_stream_name: str | None
    tenant_id: str | None
    client_context: Any
    identity: Any

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before Lambda stops the invocation."""
        ...

    def log(self, msg: str) -> None:
        """Write ``msg`` to the function's log stream."""
        ...


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
    original = getattr(func, NAME_ATTRIBUTE, None)
    return original if isinstance(original, str) and original else None


class DurableContext:
    """The durable API of one context: the handler's root context or a child's.

    Every method is blocking. Operations that must wait (``wait``, a step's
    retry delay, a callback, a chained invoke) end the invocation: the handler
    returns PENDING and Lambda invokes it again when the wait is over; the code
    then replays to the same point and carries on.
    """

    __slots__ = ("_core", "_patches", "execution_context")

    def __init__(self, core: ContextCore) -> None:
        self._core = core
        self.execution_context = ExecutionContext(core.invocation.arn)
        self._patches: dict[str, bool] | None = None  # change id -> answer, once asked

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

    def create_child_context(
        self, operation_id: str, *, is_virtual: bool = False
    ) -> DurableContext:
        """Return a context for the operations of ``operation_id``, recording nothing for it.

        ``run_in_child_context``, ``map`` and ``parallel`` build their children this
        way after checkpointing the child's own CONTEXT operation; call it directly
        only when that operation is recorded already, or with ``is_virtual=True``.
        The child's operation ids derive from ``operation_id`` exactly as in a child
        context of that id (``OperationIdNamespace(operation_id)``), so they are the
        same on every replay.

        Args:
            operation_id: The id the child's operation ids derive from.
            is_virtual: ``False``: the child's operations record ``operation_id`` as
                their parent (it must be a CONTEXT operation of the execution).
                ``True``: they record this context's own parent, as a FLAT branch's do.

        Returns:
            The child context; its :attr:`is_virtual` is ``is_virtual``.

        Raises:
            ValidationError: ``operation_id`` is empty or not a ``str``.
        """
        if not isinstance(operation_id, str) or not operation_id:
            raise ValidationError(
                f"create_child_context needs the child's operation id (a non-empty string), "
                f"got {operation_id!r}"
            )
        core = self._core
        if is_virtual:
            child = core.child(None, prefix=operation_id, virtual_parent=core.record_parent)
        else:
            child = core.child(operation_id, prefix=operation_id)
        context: DurableContext = core.make_context(child)
        return context

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

        Typed results: when ``func`` declares its return type (or the config gives
        ``result_type``), the result is stored as plain data and rebuilt as that type
        (dataclasses, pydantic models, enums, ``datetime``, ``Decimal``, ``UUID`` and
        lists, dicts or optionals of them); stored data that does not fit is a
        :class:`~durable_exec.SerDesError`. A config ``serdes`` turns this off.

        Async bodies (experimental): an ``async def`` function runs on the
        invocation's event loop (one per invocation, on its own thread); this call
        blocks until it is done. Call durable operations outside the coroutine.

        Args:
            func: ``(StepContext) -> T``; typically built with :func:`durable_step`.
            name: Operation name (default: the decorated function's name).
            config: Retry strategy, semantics, serdes, result type.

        Returns:
            The result, round-tripped through the serdes (equal on first run and replay).

        Raises:
            StepError: The step failed for good.
            SerDesError: The result cannot be serialised (the step fails, no retry),
                or the stored result does not fit the declared type.

        Example:
            >>> total = context.step(lambda _: 1 + 1, name="add")  # doctest: +SKIP
        """
        op_name = _operation_name(func, name)
        config = config or _DEFAULT_STEP
        if config.serdes is None or config.result_type is not None:
            serdes = _result_serdes()(
                config.serdes, config.result_type, func, kind="step", name=op_name
            )
            if serdes is not config.serdes:
                config = _with_serdes(config, serdes)
        if is_async(func):
            func = _async_step(self._core, func)
        return run_step(self._core, func, op_name, config)

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
        """Call ``func`` with a nested context that has its own operation ids and one stored result.

        On replay: a finished child returns its stored result (or raises its stored
        :class:`~durable_exec.ChildContextError`) without running ``func``; an
        unfinished one runs ``func`` again, whose own operations replay. A result
        over 256 KiB is not stored: the child is re-run on replay to rebuild it from
        its operations' checkpoints.

        The result is typed as for :meth:`step`: by ``func``'s return annotation or
        ``config.result_type``.

        Args:
            func: ``(DurableContext) -> T``, typically from :func:`durable_with_child_context`.
            name: Operation name (default: the decorated function's name).
            config: Serdes, sub-type, summary generator, result type.

        Raises:
            ChildContextError: ``func`` raised.
            ValidationError: ``func`` is ``async def`` (a child context's durable
                calls block; put async work in a step inside it).
        """
        op_name = _operation_name(func, name)
        if is_async(func):
            raise ValidationError(
                "run_in_child_context needs a synchronous function: the durable calls in a "
                "child context block. Put the async work in a step inside it "
                "(context.step accepts async def)."
            )
        config = config or ChildConfig()
        serdes = _result_serdes()(
            config.serdes, config.result_type, func, kind="child context", name=op_name
        )
        if serdes is not config.serdes:
            config = _with_serdes(config, serdes)
        return run_child(self._core, func, op_name, config)

    def map(
        self,
        inputs: Sequence[U],
        func: Callable[[DurableContext, U, int, Sequence[U]], T],
        name: str | None = None,
        config: MapConfig[U] | None = None,
    ) -> BatchResult[T]:
        """Run ``func(context, item, index, inputs)`` for every item, concurrently.

        Every item gets a child context of its own (SubType ``MapIteration``) on a
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

        Each item's result is typed as for :meth:`step`: by ``func``'s return
        annotation or ``config.result_type``. ``func`` may be ``async def``
        (experimental): it then runs on the invocation's event loop and must not
        call durable operations.

        Returns:
            A :class:`~durable_exec.BatchResult` with one item per started item.

        Raises:
            ValidationError: ``min_successful`` exceeds the number of items.
        """
        config = config or MapConfig()
        items = list(inputs)
        namer = config.item_namer
        call = _call_item_async if is_async(func) else _call_item
        branches = []
        for index, item in enumerate(items):
            item_name = namer(item, index) if namer is not None else f"map-item-{index}"
            branches.append(
                (
                    item_name,
                    namer is not None,
                    functools.partial(call, func, item, index, items),
                )
            )
        op_name = _operation_name(func, name)
        from durable_exec._results import batch_serdes, declared_type  # noqa: PLC0415

        item_type = config.result_type
        if item_type is None and config.serdes is None and config.item_serdes is None:
            item_type = declared_type(func)
        serdes, item_serdes = batch_serdes(
            batch_id=self._core.ids.peek(),
            item_types=[item_type],
            serdes=config.serdes,
            item_serdes=config.item_serdes,
            name=op_name,
            kind="map",
        )
        return run_batch(
            self._core,
            MAP,
            branches,
            op_name,
            max_concurrency=config.max_concurrency,
            completion=config.completion_config,
            serdes=serdes,
            item_serdes=item_serdes,
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

        Each branch's result is typed by its function's return annotation (or
        ``config.result_type`` for all of them). Branch functions may be ``async
        def`` (experimental), as for :meth:`map`.

        Returns:
            A :class:`~durable_exec.BatchResult`; call ``throw_if_error()`` to raise
            the first failure.
        """
        from durable_exec._results import batch_serdes, declared_type  # noqa: PLC0415

        config = config or ParallelConfig()
        branches = []
        declared: list[Any | None] = []
        infer = config.result_type is None and config.serdes is None and config.item_serdes is None
        for index, function in enumerate(functions):
            if isinstance(function, ParallelBranch):
                branch_name = function.name if function.name is not None else None
                body = function.func
                branch = (
                    branch_name if branch_name is not None else f"parallel-branch-{index}",
                    branch_name is not None,
                )
            else:
                body = function
                branch = (f"parallel-branch-{index}", False)
            declared.append(declared_type(body) if infer else None)
            if is_async(body):
                body = functools.partial(_call_branch_async, body)
            branches.append((*branch, body))
        if name:
            validate_name(name)
        serdes, item_serdes = batch_serdes(
            batch_id=self._core.ids.peek(),
            item_types=[config.result_type] if config.result_type is not None else declared,
            serdes=config.serdes,
            item_serdes=config.item_serdes,
            name=name or None,
            kind="parallel",
        )
        return run_batch(
            self._core,
            PARALLEL,
            branches,
            name or None,
            max_concurrency=config.max_concurrency,
            completion=config.completion_config,
            serdes=serdes,
            item_serdes=item_serdes,
            summary_generator=config.summary_generator,
            nesting=config.nesting_type,
        )

    def create_callback(
        self, name: str | None = None, config: CallbackConfig | None = None
    ) -> Callback[Any]:
        """Create a callback an external system completes; return its handle at once.

        The CALLBACK is checkpointed synchronously (the service issues the id).
        Pass :attr:`Callback.callback_id` to the external system, then call
        :meth:`Callback.result`, which suspends the invocation until the result
        arrives. Failures are raised by ``result()``, never here, so code between
        the two runs on every invocation.

        On replay: returns the same callback (same id) without a new checkpoint.

        Args:
            name: Operation name.
            config: Timeout, heartbeat timeout, serdes or ``result_type`` of the
                result (by default ``result()`` returns the string sent, as it is,
                never parsed as JSON).
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

        Args:
            submitter: Called with the callback id and a context, inside a step:
                hands the id to the system that will answer.
            name: Operation name.
            config: Timeout, heartbeat timeout, submitter retries, serdes or
                ``result_type`` of the result.

        Returns:
            The callback's result: the string the external system sent, as it is
            (``"approved"`` sent arrives as ``"approved"``; nothing parses it as
            JSON), unless ``config`` has a serdes or a ``result_type`` that
            decodes it.

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
            payload: The target's input (JSON by default; a dataclass or pydantic
                model is sent as its JSON object).
            name: Operation name.
            config: Payload and result serdes, result type, tenant id.

        Raises:
            InvokeError: The target failed, timed out or was stopped.
            ValidationError: ``function_name`` is empty or too long.
        """
        validate_function_name(function_name)
        if name:
            validate_name(name)
        from durable_exec._results import (  # noqa: PLC0415 - loaded on first use
            invoke_payload_serdes,
            invoke_result_serdes,
        )

        config = config or InvokeConfig()
        result = invoke_result_serdes(config.serdes_result, config.result_type, name or None)
        body = invoke_payload_serdes(config.serdes_payload, payload)
        if result is not config.serdes_result or body is not config.serdes_payload:
            config = dataclasses.replace(config, serdes_result=result, serdes_payload=body)
        return run_invoke(self._core, function_name, payload, name or None, config)

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

    # -- deterministic values ------------------------------------------------------------

    def now(self, name: str | None = None) -> datetime.datetime:
        """Return the current time (an aware UTC ``datetime``), recorded once.

        Use it instead of ``datetime.now()``/``time.time()`` in workflow code: the
        value is recorded in the history (a STEP with SubType ``Now``) and every
        replay returns the same value. Recording is asynchronous: several calls
        share one checkpoint, and the value is durable at the latest with the next
        durable operation. The time comes from the SDK's clock (the virtual clock in
        :class:`~durable_exec.testing.DurableTestRunner`).

        On replay: returns the recorded value.

        Args:
            name: Operation name (optional).
        """
        if name:
            validate_name(name)
        from durable_exec._operations.recorded import NOW, run_recorded  # noqa: PLC0415

        clock = self._core.invocation.clock
        return run_recorded(  # type: ignore[no-any-return]
            self._core, NOW, name, lambda: datetime.datetime.fromtimestamp(clock.now(), _UTC)
        )

    def random(self, name: str | None = None) -> float:
        """Return a random float in [0, 1), recorded once (instead of ``random.random()``).

        Recorded as a STEP with SubType ``Random``; see :meth:`now` for the cost.

        On replay: returns the recorded value.

        Args:
            name: Operation name (optional).
        """
        if name:
            validate_name(name)
        from durable_exec._operations.recorded import RANDOM, run_recorded  # noqa: PLC0415

        return run_recorded(self._core, RANDOM, name, _random_float)  # type: ignore[no-any-return]

    def uuid4(self, name: str | None = None) -> uuid.UUID:
        """Return a random UUID, recorded once (instead of ``uuid.uuid4()``).

        Recorded as a STEP with SubType ``Uuid``; see :meth:`now` for the cost. Use
        it for idempotency keys that must stay the same across retries and replays.

        On replay: returns the recorded value.

        Args:
            name: Operation name (optional).
        """
        if name:
            validate_name(name)
        from durable_exec._operations.recorded import UUID, run_recorded  # noqa: PLC0415

        return run_recorded(self._core, UUID, name, uuid.uuid4)  # type: ignore[no-any-return]

    # -- versioning ----------------------------------------------------------------------

    def patched(self, change_id: str) -> bool:
        """Experimental: whether this execution runs the code of change ``change_id``.

        Wrap a change to a workflow with running executions::

            if context.patched("charge-before-ship"):
                context.step(charge(order))      # new code
            context.step(ship(order))

        Returns ``True`` for executions that reach this point under code containing
        the call (the choice is recorded: a STEP with SubType ``Patch`` named after
        the change), and ``False`` for executions whose history shows they passed
        this point before the change (their history holds another operation here).
        The answer is fixed per context and change for the rest of the execution:
        later calls with the same id return it without recording anything.

        Once no execution recorded before the change remains, replace the call with
        :meth:`deprecate_patch` and drop the old branch.

        On replay: returns what the first run returned.

        Args:
            change_id: Names the change (1-256 printable ASCII characters).
        """
        validate_name(change_id)
        memo = self._patches
        if memo is None:
            memo = self._patches = {}
        answer = memo.get(change_id)
        if answer is not None:
            return answer
        from durable_exec._operations.recorded import find_patch, record_patch  # noqa: PLC0415

        found = find_patch(self._core, change_id)
        if found is None:
            record_patch(self._core, change_id)
            found = True
        memo[change_id] = found
        return found

    def deprecate_patch(self, change_id: str) -> None:
        """Experimental: mark where ``patched(change_id)`` was, once no old execution remains.

        Executions recorded under the ``patched`` code have its marker here:
        this call consumes it, so their later operations keep their positions.
        Executions started under this code record nothing. When no execution with
        the marker remains, delete the call.

        On replay: consumes the marker if the history has one here.

        Args:
            change_id: The change id given to :meth:`patched`.
        """
        validate_name(change_id)
        memo = self._patches
        if memo is None:
            memo = self._patches = {}
        if change_id not in memo:
            from durable_exec._operations.recorded import find_patch  # noqa: PLC0415

            find_patch(self._core, change_id)
            memo[change_id] = True

    # -- sagas ---------------------------------------------------------------------------

    def saga(self, name: str) -> Saga:
        """Experimental: start a saga, a block whose steps are undone in reverse if it fails.

        Example:
            >>> with context.saga("book-trip") as saga:  # doctest: +SKIP
            ...     flight = saga.step(book_flight(trip), compensate=cancel_flight)
            ...     hotel = saga.step(book_hotel(trip), compensate=cancel_hotel)

        If anything in the block raises, each registered compensation runs as a
        durable step (with its own retries), last registered first, and the error
        is raised again (:class:`~durable_exec.SagaCompensationError` if a
        compensation failed too).

        On replay: the forward steps, the failure and the compensations replay
        from the history; compensations not yet run then run.

        Args:
            name: The saga's name (names its compensations by default).
        """
        from durable_exec._saga import Saga  # noqa: PLC0415 - experimental: loaded on first use

        return Saga(self, name)


_DEFAULT_STEP = StepConfig()
C = TypeVar("C")


def _with_serdes(config: C, serdes: Any) -> C:
    """``config`` with another ``serdes`` (a frozen copy, checks not repeated: it was valid)."""
    changed = copy.copy(config)
    object.__setattr__(changed, "serdes", serdes)
    return changed


_UTC = datetime.UTC


def _random_float() -> float:
    import random  # noqa: PLC0415 - loaded on the first context.random()

    return random.random()  # noqa: S311 - not for security: a workflow's own randomness


def _make_context(core: ContextCore) -> DurableContext:
    return DurableContext(core)


def _core_of(context: DurableContext) -> ContextCore:
    return context._core  # noqa: SLF001 - DurableContext's own module


def _async_step(core: ContextCore, func: Callable[[StepContext], Any]) -> Callable[..., Any]:
    def body(step_context: StepContext) -> Any:
        return run_awaitable(core, func(step_context))

    setattr(body, NAME_ATTRIBUTE, getattr(func, NAME_ATTRIBUTE, None))
    return body


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
    is_coroutine = inspect.iscoroutinefunction(func)

    @functools.wraps(func)
    def bind(*args: P.args, **kwargs: P.kwargs) -> Callable[[StepContext], T]:
        def run(step_context: StepContext) -> T:
            return func(step_context, *args, **kwargs)

        setattr(run, NAME_ATTRIBUTE, func.__name__)
        setattr(run, RESULT_SOURCE, func)
        if is_coroutine:
            setattr(run, ASYNC_MARKER, True)
        return run

    setattr(bind, STEP_BINDER, True)
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

        setattr(run, NAME_ATTRIBUTE, func.__name__)
        setattr(run, RESULT_SOURCE, func)
        if inspect.iscoroutinefunction(func):
            setattr(run, ASYNC_MARKER, True)
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


def _call_item_async(
    func: Callable[[DurableContext, Any, int, Sequence[Any]], Any],
    item: Any,
    index: int,
    items: Sequence[Any],
    context: DurableContext,
) -> Any:
    return run_awaitable(_core_of(context), func(context, item, index, items))


def _call_branch_async(func: Callable[[DurableContext], Any], context: DurableContext) -> Any:
    return run_awaitable(_core_of(context), func(context))


def durable_parallel_branch(
    name: str | None = None,
) -> Callable[[Callable[Concatenate[DurableContext, P], T]], Callable[P, ParallelBranch[T]]]:
    """Turn ``f(context, *args)`` into ``f(*args)`` returning a named :class:`ParallelBranch`.

    Without ``name`` the branch is named ``parallel-branch-{i}``, as in the official SDK.
    """

    def decorate(
        func: Callable[Concatenate[DurableContext, P], T],
    ) -> Callable[P, ParallelBranch[T]]:
        is_coroutine = inspect.iscoroutinefunction(func)

        @functools.wraps(func)
        def bind(*args: P.args, **kwargs: P.kwargs) -> ParallelBranch[T]:
            def run(context: DurableContext) -> T:
                return func(context, *args, **kwargs)

            setattr(run, RESULT_SOURCE, func)
            if is_coroutine:
                setattr(run, ASYNC_MARKER, True)
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

        setattr(run, NAME_ATTRIBUTE, func.__name__)
        return run

    return bind


@dataclasses.dataclass(frozen=True)
class WithRetryConfig(Generic[T]):
    """How :func:`with_retry` retries a block.

    Attributes:
        retry_strategy: ``(error, attempt) -> RetryDecision``; by default
            ``create_retry_strategy()`` (3 attempts). A ``RetryStrategyConfig`` is
            used as ``create_retry_strategy(config)`` would build it.
        wrap_with_run_in_child_context: Run the block in a child context (recommended:
            each attempt's operations then stay grouped under one parent).
        child_context_config: Config of that child context.
    """

    retry_strategy: RetryStrategyField = RetryStrategyField()
    wrap_with_run_in_child_context: bool = True
    child_context_config: ChildConfig[T] | None = None


def with_retry(
    context: DurableContext,
    func: Callable[[DurableContext, int], T],
    config: WithRetryConfig[T] | None = None,
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
                    Duration(delay_seconds(decision.delay.seconds)),
                    name=f"{name}-backoff-{attempt}" if name else None,
                )
                attempt += 1

    setattr(attempts, RESULT_SOURCE, func)
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
