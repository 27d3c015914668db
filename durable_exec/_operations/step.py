"""The step operation: run a function once, durably, with durable retries."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from durable_exec._config import StepConfig, StepSemantics
from durable_exec._durations import delay_seconds
from durable_exec._errors import (
    ExecutionError,
    RetryableSerDesError,
    SerDesError,
    StepError,
    StepInterruptedError,
)
from durable_exec._logging import DurableLogger
from durable_exec._operations.base import (
    MAX_STEP_PAYLOAD,
    ContextCore,
    OperationRef,
    check_payload,
    error_object,
    observe,
    rebuild_error,
    user_function,
    validate_identity,
)
from durable_exec._retry import RetryAttempt, RetryDecision, RetryPresets, decide_retry
from durable_exec._serde import deserialize, serialize
from durable_exec._signals import SuspendExecution
from durable_exec._wire import (
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
    OperationUpdate,
)

__all__ = ["StepContext", "run_step"]

T = TypeVar("T")

_DEFAULT_STRATEGY = RetryPresets.default()


@dataclasses.dataclass(frozen=True)
class StepContext:
    """What a step body receives.

    Attributes:
        logger: A logger that tags records with the step's id, name and attempt.
        attempt: This attempt's number, from 1.
        operation_id: The step's operation id.
        name: The step's name, if any.
    """

    logger: DurableLogger
    attempt: int = 1
    operation_id: str = dataclasses.field(default="", kw_only=True)
    name: str | None = dataclasses.field(default=None, kw_only=True)


def run_step(
    core: ContextCore,
    func: Callable[[StepContext], T],
    name: str | None,
    config: StepConfig,
) -> T:
    """Run ``func`` as a durable step; see ``DurableContext.step`` for the contract."""
    op_id = core.next_id()
    sub_type = config.sub_type or OperationSubType.STEP.value
    parent = core.record_parent
    invocation = core.invocation
    op = invocation.state.get(op_id)
    if op is not None:
        validate_identity(
            op, op_type=OperationType.STEP, sub_type=sub_type, name=name, parent_id=parent
        )
        observe(core, op)
        status = op.status
        if status is OperationStatus.SUCCEEDED:
            return deserialize(config.serdes, op.result, op_id, invocation.arn)  # type: ignore[no-any-return]
        if status is OperationStatus.FAILED:
            raise rebuild_error(op.error, StepError)
        if op.is_terminal:
            raise StepError(f"step {name or op_id} ended {status.value}")
        if status is OperationStatus.PENDING:
            raise SuspendExecution(
                f"step {op_id} waits for its next attempt", op.next_attempt_timestamp, op_id
            )

    def update(action: OperationAction, **fields: Any) -> OperationUpdate:
        return OperationUpdate(
            id=op_id,
            type=OperationType.STEP,
            action=action,
            parent_id=parent,
            name=name,
            sub_type=sub_type,
            **fields,
        )

    attempts_before = (op.attempt or 0) if op is not None else 0
    attempt = attempts_before + 1
    strategy = config.retry_strategy or _DEFAULT_STRATEGY
    at_most_once = config.step_semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY

    if op is not None and op.status is OperationStatus.STARTED and at_most_once:
        # The previous attempt began but never reported: never run it twice.
        interrupted = StepInterruptedError(
            f"Step operation_id={op_id} name={name} was previously interrupted", step_id=op_id
        )
        _handle_failure(core, update, interrupted, attempt, strategy)

    started_at = invocation.clock.now()
    if op is None or op.status is OperationStatus.READY:
        start = update(OperationAction.START)
        if at_most_once:
            core.checkpoint(start)
        else:
            core.enqueue(start)

    step_logger = core.logger.with_fields(
        is_replaying=_never, operationId=op_id, operationName=name, attempt=attempt
    )
    try:
        result = user_function(
            core,
            OperationRef(op_id, OperationType.STEP, sub_type, name, parent),
            attempt,
            func,
            StepContext(step_logger, attempt, operation_id=op_id, name=name),
        )
    except (ExecutionError, RetryableSerDesError):
        raise
    except Exception as error:
        first_start = op.start_timestamp if op is not None and op.start_timestamp else started_at
        _handle_failure(core, update, error, attempt, strategy, first_start)

    try:
        payload = serialize(config.serdes, result, op_id, invocation.arn)
        check_payload(payload, MAX_STEP_PAYLOAD, what="the result of step", op_id=op_id, name=name)
        value = deserialize(config.serdes, payload, op_id, invocation.arn)
    except SerDesError as error:
        # Serialisation is deterministic: retrying cannot help, so the step fails now,
        # raising what every replay rebuilds from the FAIL record (a SerDesError).
        details = error_object(error)
        core.checkpoint(update(OperationAction.FAIL, error=details))
        failure = rebuild_error(details, StepError)
        raise failure from failure.__cause__
    core.checkpoint(update(OperationAction.SUCCEED, payload=payload))
    return value  # type: ignore[no-any-return]


def _never() -> bool:
    return False


def _handle_failure(
    core: ContextCore,
    update: Callable[..., OperationUpdate],
    error: Exception,
    attempt: int,
    strategy: Any,
    first_started_at: float | None = None,
) -> NoReturn:
    """Checkpoint RETRY (then suspend) or FAIL (then raise the step's error).

    A strategy that raises, or answers something other than a
    :class:`RetryDecision`, ends the step: the FAIL record keeps ``error`` (the
    one the step raised), and the strategy's own failure is logged.
    """
    clock = core.invocation.clock
    now = clock.now()
    try:
        decision = decide_retry(
            strategy, RetryAttempt(error, attempt, first_started_at or now, now)
        )
    except Exception as strategy_error:
        decision = RetryDecision.no_retry()
        probe = update(OperationAction.FAIL)
        core.logger.exception(
            "the retry strategy of step %s raised %s; the step fails with its own error. "
            "Fix the strategy: it must return a RetryDecision for any error.",
            f"{probe.name!r} ({probe.id})" if probe.name else probe.id,
            type(strategy_error).__name__,
        )
    details = error_object(error)
    if decision.should_retry:
        delay = delay_seconds(decision.delay.seconds)
        retry = update(
            OperationAction.RETRY, error=details, options={"NextAttemptDelaySeconds": delay}
        )
        core.checkpoint(retry)
        raise SuspendExecution(f"step retries in {delay}s", now + delay, retry.id)
    core.checkpoint(update(OperationAction.FAIL, error=details))
    failure = rebuild_error(details, StepError)
    raise failure from failure.__cause__
