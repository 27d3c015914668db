"""Callbacks: let an external system complete a durable operation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from durable_exec._config import CallbackConfig, ChildConfig, StepConfig, WaitForCallbackConfig
from durable_exec._durations import to_seconds
from durable_exec._errors import (
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    ChildContextError,
    StepError,
)
from durable_exec._operations.base import ContextCore, observe, validate_identity
from durable_exec._operations.child import run_child
from durable_exec._operations.step import StepContext, run_step
from durable_exec._serde import PASS_THROUGH_SERDES, SerDes, deserialize
from durable_exec._signals import SuspendExecution
from durable_exec._state import ExecutionState
from durable_exec._wire import (
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
    OperationUpdate,
)

if TYPE_CHECKING:
    from durable_exec._plugin_runtime import PluginExecutor

__all__ = ["Callback", "WaitForCallbackContext", "run_create_callback", "run_wait_for_callback"]


def _typed_serdes(
    serdes: SerDes[Any] | None, result_type: Any, name: str | None, *, stored: bool = False
) -> SerDes[Any] | None:
    """The callback's serdes; the typed layer is loaded only when a result type is declared."""
    if result_type is None:
        return None if stored else serdes
    from durable_exec._typed import callback_serdes  # noqa: PLC0415 - import cost

    return callback_serdes(serdes, result_type, name, stored=stored)


@dataclasses.dataclass(frozen=True)
class WaitForCallbackContext:
    """What a ``wait_for_callback`` submitter receives.

    Attributes:
        logger: The submitter step's logger.
    """

    logger: Any


T = TypeVar("T")


class Callback(Generic[T]):
    """A callback created by ``DurableContext.create_callback``.

    Give :attr:`callback_id` to the external system; it completes the callback
    with ``SendDurableExecutionCallbackSuccess`` / ``Failure`` (and keeps it alive
    with ``Heartbeat``). :meth:`result` returns what it sent.

    Attributes:
        callback_id: The service-issued id the external system answers to.
        operation_id: The CALLBACK operation's id.
    """

    __slots__ = ("_arn", "_plugins", "_serdes", "_state", "callback_id", "operation_id")

    def __init__(
        self,
        callback_id: str,
        operation_id: str,
        state: ExecutionState,
        serdes: Any,
        arn: str,
    ) -> None:
        self.callback_id = callback_id
        self.operation_id = operation_id
        self._state = state
        self._serdes = serdes
        self._arn = arn
        self._plugins: PluginExecutor | None = None

    def result(self) -> Any:
        """Return the callback's result, suspending the invocation until it arrives.

        On replay: a completed callback returns (or raises) at once.

        Returns:
            The string the external system sent, as it is (never parsed as
            JSON), unless the config's serdes or ``result_type`` decodes it.

        Raises:
            CallbackExternalError: The external system reported failure.
            CallbackTimeoutError: The callback, or its heartbeat, timed out.
            SerDesError: The result cannot be decoded.
        """
        op = self._state.get(self.operation_id)
        if op is None:
            raise CallbackError("Callback operation must exist")
        status = op.status
        if self._plugins is not None and op.is_terminal:
            self._plugins.observe_terminal(self.operation_id)
        if status is OperationStatus.SUCCEEDED:
            return deserialize(
                self._serdes or PASS_THROUGH_SERDES, op.result, self.operation_id, self._arn
            )
        error = op.error
        message = error.message if error is not None else None
        data = error.data if error is not None else None
        stack = error.stack_trace if error is not None else None
        if status is OperationStatus.TIMED_OUT:
            raise CallbackTimeoutError(message or "Callback timed out", None, data, stack)
        if status in (OperationStatus.FAILED, OperationStatus.CANCELLED, OperationStatus.STOPPED):
            raise CallbackExternalError(message or "Callback failed", None, data, stack)
        raise SuspendExecution(
            f"callback {self.callback_id} has no result yet", None, self.operation_id
        )

    def __repr__(self) -> str:
        return f"Callback(callback_id={self.callback_id!r}, operation_id={self.operation_id!r})"


def run_create_callback(
    core: ContextCore, name: str | None, config: CallbackConfig
) -> Callback[Any]:
    """Create a callback; see ``DurableContext.create_callback``."""
    op_id = core.next_id()
    sub_type = config.sub_type or OperationSubType.CALLBACK.value
    parent = core.record_parent
    invocation = core.invocation
    state = invocation.state
    op = state.get(op_id)
    if op is None:
        core.checkpoint(
            OperationUpdate(
                id=op_id,
                type=OperationType.CALLBACK,
                action=OperationAction.START,
                parent_id=parent,
                name=name,
                sub_type=sub_type,
                options={
                    "TimeoutSeconds": to_seconds(config.timeout),
                    "HeartbeatTimeoutSeconds": to_seconds(config.heartbeat_timeout),
                },
            )
        )
        op = state.get(op_id)
    else:
        validate_identity(
            op, op_type=OperationType.CALLBACK, sub_type=sub_type, name=name, parent_id=parent
        )
        observe(core, op)
    if op is None or not op.callback_id:
        raise CallbackError(f"Missing callback details for operation: {op_id}")
    serdes = _typed_serdes(config.serdes, config.result_type, name)
    callback: Callback[Any] = Callback(op.callback_id, op_id, state, serdes, invocation.arn)
    callback._plugins = invocation.plugins  # noqa: SLF001 - set once, by its own module
    return callback


def run_wait_for_callback(
    core: ContextCore,
    submitter: Callable[[str, WaitForCallbackContext], Any],
    name: str | None,
    config: WaitForCallbackConfig | None,
) -> Any:
    """Create a callback, hand its id to ``submitter`` in a step, wait for the result."""
    callback_name = f"{name} create callback id" if name else "create callback id"
    submitter_name = f"{name} submitter" if name else "submitter"
    callback_config = config or WaitForCallbackConfig()
    step_config = (
        StepConfig(retry_strategy=config.retry_strategy, serdes=config.serdes)
        if config is not None
        else StepConfig()
    )

    def body(child_core: ContextCore) -> Any:
        callback = run_create_callback(child_core, callback_name, callback_config)

        def submit(step_context: StepContext) -> Any:
            return submitter(callback.callback_id, WaitForCallbackContext(step_context.logger))

        run_step(child_core, submit, submitter_name, step_config)
        return callback.result()

    # A declared result type is checked when the callback's string is read, and the
    # value the context stores goes through the same type.
    stored = _typed_serdes(None, callback_config.result_type, name, stored=True)
    try:
        return run_child(
            core,
            body,
            name,
            ChildConfig(serdes=stored),
            sub_type=OperationSubType.WAIT_FOR_CALLBACK.value,
            pass_core=True,
        )
    except ChildContextError as error:
        cause = error.__cause__
        if isinstance(cause, CallbackError):
            raise cause from None
        if isinstance(cause, StepError):
            raise CallbackSubmitterError(
                cause.message or "Callback submitter failed",
                None,
                cause.data,
                cause.stack_trace,
            ) from cause
        raise
