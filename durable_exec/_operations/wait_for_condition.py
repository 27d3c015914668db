"""wait_for_condition: poll a check durably, with the state carried between attempts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from durable_exec._durations import delay_seconds
from durable_exec._errors import ExecutionError, InvocationError, WaitForConditionError
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
from durable_exec._serde import deserialize, serialize
from durable_exec._signals import SuspendExecution
from durable_exec._waits import (
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitForConditionDecision,
)
from durable_exec._wire import (
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
    OperationUpdate,
)

__all__ = ["run_wait_for_condition"]


def run_wait_for_condition(
    core: ContextCore,
    check: Callable[[Any, WaitForConditionCheckContext], Any],
    config: WaitForConditionConfig[Any],
    name: str | None,
) -> Any:
    """Poll ``check``; see ``DurableContext.wait_for_condition``."""
    op_id = core.next_id()
    parent = core.record_parent
    invocation = core.invocation
    arn = invocation.arn
    sub_type = OperationSubType.WAIT_FOR_CONDITION.value
    op = invocation.state.get(op_id)
    if op is not None:
        validate_identity(
            op, op_type=OperationType.STEP, sub_type=sub_type, name=name, parent_id=parent
        )
        observe(core, op)
        if op.status is OperationStatus.SUCCEEDED:
            return deserialize(config.serdes, op.result, op_id, arn)
        if op.status is OperationStatus.FAILED:
            raise rebuild_error(op.error, WaitForConditionError)
        if op.status is OperationStatus.PENDING:
            raise SuspendExecution(f"condition {op_id} waits", op.next_attempt_timestamp, op_id)
        if op.is_terminal:
            raise WaitForConditionError(
                f"wait_for_condition {name or op_id} ended {op.status.value}"
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

    if op is None or op.status is not OperationStatus.STARTED:
        core.enqueue(update(OperationAction.START))
    attempt = ((op.attempt or 0) if op is not None else 0) + 1
    logger = core.logger.with_fields(
        is_replaying=lambda: False, operationId=op_id, operationName=name, attempt=attempt
    )
    try:
        if op is not None and (op.result is not None or (op.attempt or 0) > 0):
            # A previous check's state, whatever it serialised to ("" and None included).
            state = deserialize(config.serdes, op.result, op_id, arn)
        else:
            state = deserialize(
                config.serdes,
                serialize(config.serdes, config.initial_state, op_id, arn),
                op_id,
                arn,
            )
        new_state = user_function(
            core,
            OperationRef(op_id, OperationType.STEP, sub_type, name, parent),
            attempt,
            check,
            state,
            WaitForConditionCheckContext(logger, attempt),
        )
        payload = serialize(config.serdes, new_state, op_id, arn)
        check_payload(
            payload,
            MAX_STEP_PAYLOAD,
            what="the state of wait_for_condition",
            op_id=op_id,
            name=name,
        )
        decision = config.wait_strategy(deserialize(config.serdes, payload, op_id, arn), attempt)
        if not isinstance(decision, WaitForConditionDecision):
            raise TypeError(
                f"a wait strategy must return a WaitForConditionDecision, got {decision!r}"
            )
    except (ExecutionError, InvocationError):
        raise
    except Exception as error:
        details = error_object(error)
        core.checkpoint(update(OperationAction.FAIL, error=details))
        failure = rebuild_error(details, WaitForConditionError)
        raise failure from failure.__cause__
    if not decision.should_continue:
        core.checkpoint(update(OperationAction.SUCCEED, payload=payload))
        return deserialize(config.serdes, payload, op_id, arn)
    delay = delay_seconds(decision.delay_seconds)
    core.checkpoint(
        update(OperationAction.RETRY, payload=payload, options={"NextAttemptDelaySeconds": delay})
    )
    raise SuspendExecution(
        f"condition {op_id} checks again in {delay}s", invocation.clock.now() + delay, op_id
    )
