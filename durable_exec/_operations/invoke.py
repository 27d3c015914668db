"""Chained invoke: call another Lambda function durably and wait for its result."""

from __future__ import annotations

from typing import Any

from durable_exec._config import InvokeConfig
from durable_exec._errors import InvokeError, ValidationError
from durable_exec._operations.base import (
    MAX_INVOKE_PAYLOAD,
    ContextCore,
    check_payload,
    observe,
    rebuild_error,
    validate_identity,
)
from durable_exec._serde import JSON_SERDES, deserialize, serialize
from durable_exec._signals import SuspendExecution
from durable_exec._wire import (
    OperationAction,
    OperationStatus,
    OperationSubType,
    OperationType,
    OperationUpdate,
)

__all__ = ["run_invoke", "validate_function_name"]

MAX_FUNCTION_NAME = 256


def validate_function_name(function_name: Any) -> str:
    """Check a target function name or ARN: a non-empty string of at most 256 characters."""
    if not isinstance(function_name, str) or not function_name.strip():
        raise ValidationError(
            f"function_name must be a non-empty function name or ARN, got {function_name!r}"
        )
    if len(function_name) > MAX_FUNCTION_NAME:
        raise ValidationError(
            f"function_name must be at most {MAX_FUNCTION_NAME} characters, "
            f"got {len(function_name)}: {function_name[:40]!r}..."
        )
    return function_name


def run_invoke(
    core: ContextCore,
    function_name: str,
    payload: Any,
    name: str | None,
    config: InvokeConfig[Any, Any],
) -> Any:
    """Invoke ``function_name``; see ``DurableContext.invoke``."""
    op_id = core.next_id()
    parent = core.record_parent
    invocation = core.invocation
    state = invocation.state
    op = state.get(op_id)
    sub_type = OperationSubType.CHAINED_INVOKE.value
    if op is None:
        options: dict[str, Any] = {"FunctionName": function_name}
        if config.tenant_id is not None:
            options["TenantId"] = config.tenant_id
        body = serialize(config.serdes_payload or JSON_SERDES, payload, op_id, invocation.arn)
        check_payload(
            body, MAX_INVOKE_PAYLOAD, what="the payload of chained invoke", op_id=op_id, name=name
        )
        plugins = invocation.plugins
        if plugins is not None:
            from durable_exec._plugin_api import PropagationInput  # noqa: PLC0415 - plugins only

            # Only a new START carries a trace header; a replayed invoke keeps its own.
            header = plugins.provide_propagation_metadata(
                PropagationInput(invocation.arn, op_id, function_name, parent)
            ).x_amzn_trace_id
            if header is not None:
                options["XAmznTraceId"] = header
        core.checkpoint(
            OperationUpdate(
                id=op_id,
                type=OperationType.CHAINED_INVOKE,
                action=OperationAction.START,
                parent_id=parent,
                name=name,
                sub_type=sub_type,
                payload=body,
                options=options,
            )
        )
        op = state.get(op_id)
    else:
        validate_identity(
            op, op_type=OperationType.CHAINED_INVOKE, sub_type=sub_type, name=name, parent_id=parent
        )
        observe(core, op)
    if op is not None:
        if op.status is OperationStatus.SUCCEEDED:
            return deserialize(
                config.serdes_result or JSON_SERDES, op.result, op_id, invocation.arn
            )
        if op.status in (
            OperationStatus.FAILED,
            OperationStatus.TIMED_OUT,
            OperationStatus.STOPPED,
        ):
            raise rebuild_error(op.error, InvokeError)
    raise SuspendExecution(f"chained invoke {op_id} of {function_name} is running", None, op_id)
