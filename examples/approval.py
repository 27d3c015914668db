"""An approval workflow: wait (up to a day) for a manager to answer a callback.

Run it:
    durable-exec run examples/approval.py:handler \
        --input '{"request": "laptop", "manager": "ana@example.com"}'
then answer from another terminal:
    durable-exec callback succeed <CALLBACK_ID> approved
"""

from __future__ import annotations

from durable_exec import (
    CallbackTimeoutError,
    DurableContext,
    Duration,
    WaitForCallbackConfig,
    WaitForCallbackContext,
    durable_execution,
    durable_wait_for_callback,
)


@durable_wait_for_callback
def ask_manager(
    callback_id: str, context: WaitForCallbackContext, manager: str, request: str
) -> None:
    # A real submitter would e-mail a link that calls SendDurableExecutionCallbackSuccess.
    context.logger.info("asking %s to approve %s (callback %s)", manager, request, callback_id)


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    try:
        decision = context.wait_for_callback(
            ask_manager(event["manager"], event["request"]),
            name="manager-approval",
            config=WaitForCallbackConfig(
                timeout=Duration.from_hours(24), heartbeat_timeout=Duration.from_hours(2)
            ),
        )
    except CallbackTimeoutError:
        decision = "expired"
    if decision == "approved":
        context.step(lambda _: f"ordered {event['request']}", name="place-order")
    return {"request": event["request"], "decision": decision}
