"""``@durable_execution``: one Lambda invocation from envelope in to envelope out.

An invocation:

1. reads the durable envelope Lambda sends (ARN, checkpoint token, the
   execution's operations) and pages in the rest with ``GetDurableExecutionState``;
2. starts the checkpoint thread and runs the user function on the calling
   thread with a root :class:`DurableContext`;
3. maps the outcome: a return value → ``SUCCEEDED`` (a result over 6 MiB is
   checkpointed and returned empty), a suspension → ``PENDING``, a failure →
   ``FAILED``; an error Lambda should retry (a retryable checkpoint failure,
   an :class:`InvocationError`) is re-raised instead;
4. flushes what is queued, then joins every thread it started (map/parallel
   pools, then the checkpoint thread), all within one shared budget
   (``_clock.shutdown_budget``) that ends a fifth of the deadline's margin
   before Lambda's timeout, leaving the rest to return the envelope; without a
   deadline the budget is ``_clock.SHUTDOWN_WITHOUT_DEADLINE`` seconds.
   Nothing survives into the next warm invocation silently: a thread still
   running then (user code stuck in an orphaned branch, a checkpoint call that
   never answers) makes the invocation raise a retryable
   :class:`InvocationError` (``DEADLINE_APPROACHING`` when a deadline set the
   budget). A checkpoint thread given up on this way sends nothing more once
   its call returns. Nothing durable is lost: the service keeps only what it
   acknowledged, and the next invocation replays from there.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable_exec._checkpointer import BatcherConfig, Checkpointer
from durable_exec._clock import SYSTEM_CLOCK, Budget, Clock, Deadline, shutdown_budget
from durable_exec._context import DurableContext, root_context
from durable_exec._errors import (
    CheckpointError,
    DurableExecutionsError,
    ExecutionError,
    InvocationError,
    TerminationReason,
)
from durable_exec._logging import DEFAULT_LOGGER, DurableLogger
from durable_exec._operations.base import Invocation
from durable_exec._service import (
    BotocoreDurableService,
    default_lambda_client,
    page_in,
)
from durable_exec._signals import BranchOrphaned, DeadlineApproaching, SuspendExecution
from durable_exec._state import ExecutionState
from durable_exec._wire import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationType,
    OperationUpdate,
    WireFormatError,
)

if TYPE_CHECKING:
    from durable_exec._plugin_api import DurableInstrumentationPluginFactory
    from durable_exec._plugin_runtime import PluginExecutor

__all__ = [
    "DurableHandler",
    "InvocationInput",
    "durable_execution",
    "parse_event",
    "run_invocation",
]

T = TypeVar("T")

RESPONSE_LIMIT = 6 * 1024 * 1024 - 50
"""Largest output envelope returned directly; larger results are checkpointed."""


@dataclasses.dataclass(slots=True)
class InvocationInput:
    """The durable envelope Lambda passes as the event.

    Attributes:
        arn: ``DurableExecutionArn``.
        token: ``CheckpointToken``: the first token of this invocation's chain.
        operations: ``InitialExecutionState.Operations`` (first page).
        next_marker: ``InitialExecutionState.NextMarker``: more pages to fetch.
    """

    arn: str
    token: str
    operations: list[Operation]
    next_marker: str | None = None


def parse_event(event: Any) -> InvocationInput:
    """Read the durable envelope from a Lambda event.

    Raises:
        ExecutionError: The event is not a durable envelope (durability is
            probably not enabled on the function) or is malformed.
    """
    if not isinstance(event, Mapping):
        raise ExecutionError(
            f"the Lambda event is a {type(event).__name__}, not a durable execution envelope "
            "(an object with DurableExecutionArn and CheckpointToken). Is durability enabled on "
            "this function (DurableConfig)? A durable function must be invoked by Lambda's "
            "durable execution service, or locally with `durable-exec run`."
        )
    missing = [k for k in ("DurableExecutionArn", "CheckpointToken") if not event.get(k)]
    if missing:
        raise ExecutionError(
            f"the Lambda event lacks {' and '.join(missing)}, so it is not a durable execution "
            "envelope. Is durability enabled on this function (DurableConfig)? A durable function "
            "must be invoked by Lambda's durable execution service, or locally with "
            "`durable-exec run`."
        )
    arn, token = event["DurableExecutionArn"], event["CheckpointToken"]
    if not isinstance(arn, str) or not isinstance(token, str):
        raise ExecutionError("DurableExecutionArn and CheckpointToken must be strings")
    initial = event.get("InitialExecutionState") or {}
    if not isinstance(initial, Mapping):
        raise ExecutionError("InitialExecutionState must be a JSON object")
    raw_ops = initial.get("Operations") or []
    if not isinstance(raw_ops, list):
        raise ExecutionError("InitialExecutionState.Operations must be a list")
    try:
        operations = [Operation.from_wire(o) for o in raw_ops]
    except WireFormatError as exc:
        raise ExecutionError(f"the durable envelope holds an unreadable operation: {exc}") from exc
    marker = initial.get("NextMarker") or None
    if marker is not None and not isinstance(marker, str):
        raise ExecutionError("InitialExecutionState.NextMarker must be a string")
    return InvocationInput(arn=arn, token=token, operations=operations, next_marker=marker)


class DurableHandler(Generic[T]):
    """A Lambda handler that runs ``func(event, context)`` durably.

    Calling it as ``handler(event, lambda_context)`` is what Lambda does; it
    returns the durable output envelope.

    Args:
        func: The user function ``(event, DurableContext) -> result``.
        boto3_client: A ``lambda`` client to use instead of the SDK's own.
        plugins: Instrumentation plugin factories (those ``DURABLE_EXECUTION_PLUGINS``
            names are added after them).

    Raises:
        PluginLoadError: A plugin cannot be registered.
    """

    def __init__(
        self,
        func: Callable[[Any, DurableContext], T],
        boto3_client: Any = None,
        plugins: list[DurableInstrumentationPluginFactory] | None = None,
    ) -> None:
        functools.update_wrapper(self, func)
        self.func = func
        self.boto3_client = boto3_client
        self.plugins: list[DurableInstrumentationPluginFactory] = _registered_plugins(plugins)

    def __call__(self, event: Any, lambda_context: Any = None) -> dict[str, Any]:
        """Handle one Lambda invocation; return the durable output envelope."""
        client = self.boto3_client or default_lambda_client()
        return run_invocation(self, event, lambda_context, client=client)

    def __repr__(self) -> str:
        return f"DurableHandler({getattr(self.func, '__qualname__', self.func)!r})"


_PLUGINS_VARIABLE = "DURABLE_EXECUTION_PLUGINS"  # _plugin_discovery.PLUGIN_ENVIRONMENT_VARIABLE


def _registered_plugins(
    explicit: Sequence[DurableInstrumentationPluginFactory] | None,
) -> list[DurableInstrumentationPluginFactory]:
    """The handler's plugin factories (see ``_plugin_discovery.load_configured_plugins``).

    Without explicit factories and with ``DURABLE_EXECUTION_PLUGINS`` unset or blank
    there is nothing to load: the plugin modules (and ``importlib.metadata``) stay
    unloaded, so a handler without plugins pays nothing for them.
    """
    if not explicit and not os.environ.get(_PLUGINS_VARIABLE, "").strip():
        return []
    from durable_exec._plugin_discovery import load_configured_plugins  # noqa: PLC0415

    return load_configured_plugins(explicit)


def durable_execution(
    func: Callable[[Any, DurableContext], T] | None = None,
    *,
    boto3_client: Any = None,
    plugins: list[DurableInstrumentationPluginFactory] | None = None,
) -> Any:
    """Make ``func(event, context)`` a durable Lambda handler.

    Use bare (``@durable_execution``) or with options
    (``@durable_execution(boto3_client=client, plugins=[...])``). The event ``func``
    receives is the execution's input (JSON-decoded); its return value must be
    JSON serialisable and becomes the execution's result.

    Args:
        func: The function to wrap.
        boto3_client: A botocore/boto3 ``lambda`` client; by default one is created on
            first use and reused across warm invocations. It honours
            ``AWS_ENDPOINT_URL_LAMBDA``.
        plugins: Instrumentation plugin factories (``durable_exec.plugin``); each
            factory's ``create_plugin`` builds one plugin per invocation. Factories
            named in ``DURABLE_EXECUTION_PLUGINS`` are added after these.

    Returns:
        A :class:`DurableHandler` (or a decorator making one).

    Raises:
        PluginLoadError: A plugin cannot be registered (checked here, at cold start).
    """
    if func is None:

        def decorate(f: Callable[[Any, DurableContext], T]) -> DurableHandler[T]:
            return DurableHandler(f, boto3_client, plugins)

        return decorate
    return DurableHandler(func, boto3_client, plugins)


def _execution_input(state: ExecutionState, arn: str) -> Any:
    execution_id = arn.rsplit("/", 1)[-1]
    op = state.get(execution_id)
    if op is None or op.type is not OperationType.EXECUTION:
        op = state.execution
    if op is None or op.input_payload is None or not op.input_payload.strip():
        return {}
    try:
        return json.loads(op.input_payload)
    except ValueError as exc:
        raise ExecutionError(f"the execution's input is not valid JSON: {exc}") from exc


def _failed(error: BaseException) -> dict[str, Any]:
    return {"Status": "FAILED", "Error": ErrorObject.from_exception(error).to_wire()}


def run_invocation(
    handler: DurableHandler[Any],
    event: Any,
    lambda_context: Any,
    *,
    client: Any,
    clock: Clock = SYSTEM_CLOCK,
    batcher: BatcherConfig | None = None,
) -> dict[str, Any]:
    """Run one invocation of ``handler`` against the API behind ``client``.

    This is what ``handler(event, lambda_context)`` does; tests and the local
    runner call it to pass their own client and clock.

    Returns:
        The output envelope (``Status`` SUCCEEDED, FAILED or PENDING).

    Raises:
        InvocationError: Lambda should retry the invocation (a retryable checkpoint
            failure, a stale token, an interrupted at-most-once step that escaped).
        ExecutionError: The event is not a durable envelope.
    """
    factories = getattr(handler, "plugins", None)
    if not factories:
        return _run(handler, event, lambda_context, client, clock, batcher, None)
    # Plugins attach context variables (OpenTelemetry spans) in their hooks: the
    # invocation runs in a copy of the caller's context, so nothing they leave
    # behind reaches the runtime's thread.
    from durable_exec._plugin_runtime import PluginExecutor  # noqa: PLC0415 - plugins only

    plugins = PluginExecutor(factories, clock=clock)
    return contextvars.copy_context().run(
        _run_with_plugins, plugins, handler, event, lambda_context, client, clock, batcher
    )


def _run_with_plugins(
    plugins: PluginExecutor,
    handler: DurableHandler[Any],
    event: Any,
    lambda_context: Any,
    client: Any,
    clock: Clock,
    batcher: BatcherConfig | None,
) -> dict[str, Any]:
    with plugins.run():
        try:
            output = _run(handler, event, lambda_context, client, clock, batcher, plugins)
        except BaseException as error:
            plugins.on_invocation_failed(error)
            raise
        plugins.on_invocation_end(output)
        return output


def _run(
    handler: DurableHandler[Any],
    event: Any,
    lambda_context: Any,
    client: Any,
    clock: Clock,
    batcher: BatcherConfig | None,
    plugins: PluginExecutor | None,
) -> dict[str, Any]:
    envelope = parse_event(event)
    deadline = Deadline.from_lambda_context(clock, lambda_context)
    service = BotocoreDurableService(
        client, clock=clock, deadline=deadline.until_end if deadline is not None else None
    )
    operations = list(envelope.operations)
    try:
        operations += page_in(
            service, envelope.arn, envelope.token, envelope.next_marker, "GetDurableExecutionState"
        )
    except CheckpointError as exc:
        if exc.is_retryable():
            raise
        return _failed(exc)
    state = ExecutionState(envelope.arn, operations)
    checkpointer = Checkpointer(
        service, state, envelope.token, clock=clock, config=batcher, deadline=deadline
    )
    checkpointer.observer = plugins
    base_logger = DurableLogger(DEFAULT_LOGGER, {"executionArn": envelope.arn}, lambda: False)
    invocation = Invocation(
        arn=envelope.arn,
        state=state,
        checkpointer=checkpointer,
        clock=clock,
        lambda_context=lambda_context,
        logger=base_logger,
        deadline=deadline,
        plugins=plugins,
    )
    output: dict[str, Any]
    raised: BaseException | None = None
    try:
        try:
            user_input = _execution_input(state, envelope.arn)
            if plugins is not None:
                _start_plugins(plugins, state, envelope, event, lambda_context, user_input)
            result = handler.func(user_input, root_context(invocation))
            output = _succeeded(result, invocation)
        except SuspendExecution:
            output = {"Status": "PENDING"}
        except BranchOrphaned:
            output = _failed(ExecutionError("an operation ran after its map/parallel completed"))
        except CheckpointError as exc:
            if exc.is_retryable():
                raise
            output = _failed(exc)
        except InvocationError:
            raise
        except ExecutionError as exc:
            output = _failed(exc)
        except Exception as exc:
            output = _failed(exc)
        output = _settle_large_error(output, invocation)
    except BaseException as exc:
        raised = exc
        output = {"Status": "PENDING"}
    finally:
        # One budget for the whole end: the flush first, then every join.
        budget = shutdown_budget(deadline)
        _flush(checkpointer, budget)
        stuck = invocation.join_executors(budget)
        checkpointer.close(budget)
    still_running = [thread.name for thread in stuck if thread.is_alive()]
    if not checkpointer.stopped:
        still_running.append("the checkpoint thread")
    if still_running:
        if deadline is not None:
            raise _deadline_error(deadline, still_running) from raised
        raise _still_running_error(still_running, budget) from raised
    if checkpointer.revoked:
        return {"Status": "PENDING"}
    failure = checkpointer.failure
    if raised is not None:
        if isinstance(raised, SuspendExecution):
            return {"Status": "PENDING"}
        if isinstance(raised, CheckpointError) and not raised.is_retryable():
            # e.g. the large-error checkpoint refused as too big: retrying cannot help.
            return _failed(raised)
        if isinstance(raised, DeadlineApproaching):
            raise _deadline_error(deadline) from None
        raise raised
    if failure is not None:
        if isinstance(failure, CheckpointError) and not failure.is_retryable():
            return _failed(failure)
        raise failure
    return output


def _start_plugins(
    plugins: PluginExecutor,
    state: ExecutionState,
    envelope: InvocationInput,
    event: Mapping[str, Any],
    lambda_context: Any,
    user_input: Any,
) -> None:
    execution_id = envelope.arn.rsplit("/", 1)[-1]
    execution = state.get(execution_id) or state.execution
    updated = event.get("UpdatedOperationIds")
    plugins.on_invocation_start(
        execution_arn=envelope.arn,
        is_first_invocation=not any(
            op.type is not OperationType.EXECUTION for op in state.operations()
        ),
        execution_start_time=execution.start_timestamp if execution is not None else None,
        lambda_context=lambda_context,
        execution_input=user_input,
        operations_provider=lambda: {op.id: op for op in state.operations()},
        # What changed while the execution was suspended (waits, callbacks, invokes).
        updated_operation_ids=[u for u in updated if isinstance(u, str)]
        if isinstance(updated, list)
        else [],
    )


def _flush(checkpointer: Checkpointer, budget: Budget) -> None:
    """Make everything queued durable before any thread is waited for, within ``budget``.

    A failure here is not lost: the checkpointer keeps it (``failure``, ``revoked``)
    and the outcome is decided from there. A call still in flight when the budget
    is spent keeps the checkpoint thread running: ``close`` gives up on it, and the
    invocation raises.
    """
    with contextlib.suppress(SuspendExecution, DeadlineApproaching, DurableExecutionsError):
        checkpointer.flush(budget)


def _thread_list(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    if len(names) == 1:
        return f"1 thread started by this invocation still running ({shown})"
    return f"{len(names)} threads started by this invocation still running ({shown})"


def _still_running_error(names: list[str], budget: Budget) -> InvocationError:
    return InvocationError(
        f"the invocation ended with {_thread_list(names)} after waiting "
        f"{budget.seconds or 0:g}s for them (no Lambda deadline is known, and that is how "
        "long the SDK waits without one): a map/parallel branch that "
        "outlived its batch is stuck in user code, or a checkpoint call never answered. "
        "Updates the service did not acknowledge are not durable; the invocation should be "
        "retried, and it replays from the last acknowledged checkpoint. Give blocking calls "
        "in branches a timeout."
    )


def _deadline_error(deadline: Deadline | None, running: list[str] | None = None) -> InvocationError:
    margin = f"{deadline.margin:.1f}s" if deadline is not None else "its margin"
    if running:
        done = (
            f" with {_thread_list(running)} (user code stuck in a branch, or a checkpoint call "
            "that did not answer in time); updates the service did not acknowledge are not "
            "durable"
        )
        advice = "raise the function's timeout or give blocking calls in branches a timeout"
    else:
        done = ", after flushing its checkpoints"
        advice = "raise the function's timeout or split long steps"
    return InvocationError(
        f"the invocation stopped {margin} before Lambda's timeout{done}; Lambda will invoke "
        f"the function again and it will resume from the last checkpoint. If this repeats, "
        f"{advice}.",
        TerminationReason.DEADLINE_APPROACHING,
    )


def _succeeded(result: Any, invocation: Invocation) -> dict[str, Any]:
    try:
        text = json.dumps(result)
    except (TypeError, ValueError) as exc:
        return _failed(exc)
    if len(text) > RESPONSE_LIMIT:
        invocation.checkpointer.checkpoint(
            OperationUpdate(
                id=f"execution-result-{int(invocation.clock.now() * 1000)}",
                type=OperationType.EXECUTION,
                action=OperationAction.SUCCEED,
                payload=text,
            )
        )
        return {"Status": "SUCCEEDED", "Result": ""}
    return {"Status": "SUCCEEDED", "Result": text}


def _settle_large_error(output: dict[str, Any], invocation: Invocation) -> dict[str, Any]:
    if output.get("Status") != "FAILED" or len(json.dumps(output)) <= RESPONSE_LIMIT:
        return output
    invocation.checkpointer.checkpoint(
        OperationUpdate(
            id=f"execution-result-{int(invocation.clock.now() * 1000)}",
            type=OperationType.EXECUTION,
            action=OperationAction.FAIL,
            error=ErrorObject.from_wire(output["Error"]),
        )
    )
    return {"Status": "FAILED"}
