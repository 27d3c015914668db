"""Durable functions written for aws-durable-execution-sdk-python 3.0.0."""

from __future__ import annotations

from typing import Any

from aws_durable_execution_sdk_python import (
    BatchResult,
    CallbackError,
    DurableContext,
    StepContext,
    StepError,
    durable_execution,
    durable_parallel_branch,
    durable_step,
    durable_wait_for_callback,
    durable_with_child_context,
)
from aws_durable_execution_sdk_python.config import (
    CallbackConfig,
    CompletionConfig,
    Duration,
    MapConfig,
    ParallelConfig,
    StepConfig,
    WaitForCallbackConfig,
)
from aws_durable_execution_sdk_python.context import ExecutionContext
from aws_durable_execution_sdk_python.retries import (
    RetryDecision,
    RetryPresets,
    RetryStrategyConfig,
    WithRetryConfig,
    create_retry_strategy,
    with_retry,
)
from aws_durable_execution_sdk_python.types import WaitForCallbackContext
from aws_durable_execution_sdk_python.waits import (
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitStrategyConfig,
    create_wait_strategy,
)

# -- an order: steps, a wait, a child context -----------------------------------------


@durable_step
def validate_order(step_context: StepContext, order: dict[str, Any]) -> dict[str, Any]:
    step_context.logger.info("validating %s", order["order_id"])
    if order["quantity"] <= 0:
        raise ValueError(f"invalid quantity {order['quantity']}")
    return {"order_id": order["order_id"], "valid": True}


@durable_step
def reserve_stock(step_context: StepContext, order_id: str, quantity: int) -> dict[str, Any]:
    return {"order_id": order_id, "reserved": quantity, "warehouse": "eu-west"}


@durable_with_child_context
def ship(ctx: DurableContext, reservation: dict[str, Any]) -> str:
    label = ctx.step(lambda _: f"label-{reservation['order_id']}", name="print_label")
    ctx.wait(Duration.from_minutes(10), name="courier_pickup")
    return ctx.step(lambda _: f"shipped:{label}", name="hand_over")


@durable_execution
def order_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    validation = context.step(
        validate_order(event), config=StepConfig(retry_strategy=RetryPresets.none())
    )
    reservation = context.step(reserve_stock(event["order_id"], event["quantity"]))
    context.wait(Duration.from_hours(1), name="cooling_off")
    shipment = context.run_in_child_context(ship(reservation), name="shipping")
    return {"validation": validation, "shipment": shipment}


# -- an approval: callbacks -----------------------------------------------------------


@durable_wait_for_callback
def notify_manager(callback_id: str, ctx: WaitForCallbackContext, request: str) -> None:
    ctx.logger.info("asking for approval of %s with %s", request, callback_id)


@durable_execution
def approval_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    try:
        decision = context.wait_for_callback(
            notify_manager(event["request"]),
            name="manager_approval",
            config=WaitForCallbackConfig(timeout=Duration.from_seconds(event["timeout"])),
        )
    except CallbackError as error:
        return {"approved": False, "reason": type(error).__name__, "message": str(error)}
    receipt = context.step(lambda _: f"approved:{event['request']}", name="record_decision")
    return {"approved": True, "decision": decision, "receipt": receipt}


@durable_execution
def two_callbacks_handler(event: dict[str, Any], context: DurableContext) -> list[str]:
    first = context.create_callback(name="legal", config=CallbackConfig(timeout=Duration(60)))
    second = context.create_callback(name="finance")
    context.step(lambda _: [first.callback_id, second.callback_id], name="send_requests")
    return [first.result(), second.result()]


# -- fan-out: map and parallel --------------------------------------------------------


def price_item(ctx: DurableContext, item: dict[str, Any], index: int, items: Any) -> int:
    def compute(step_context: StepContext) -> int:
        if item["sku"] == "broken":
            raise RuntimeError(f"no price for {item['sku']}")
        return item["quantity"] * 10

    return ctx.step(compute, name="price", config=StepConfig(retry_strategy=RetryPresets.none()))


@durable_execution
def pricing_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    batch: BatchResult[int] = context.map(
        event["items"],
        price_item,
        name="price_items",
        config=MapConfig(
            max_concurrency=2,
            completion_config=CompletionConfig(tolerated_failure_count=1),
            item_namer=lambda item, index: f"price-{item['sku']}",
        ),
    )
    return {
        "total": sum(batch.get_results()),
        "failed": [e.message for e in batch.get_errors()],
        "reason": batch.completion_reason.value,
        "counts": [batch.success_count, batch.failure_count],
    }


@durable_parallel_branch(name="inventory")
def check_inventory(ctx: DurableContext, sku: str) -> str:
    return ctx.step(lambda _: f"{sku}:in-stock", name="inventory_lookup")


@durable_parallel_branch(name="fraud")
def check_fraud(ctx: DurableContext, customer: str) -> str:
    ctx.wait(Duration.from_seconds(30), name="fraud_backoff")
    return ctx.step(lambda _: f"{customer}:clear", name="fraud_lookup")


@durable_execution
def checks_handler(event: dict[str, Any], context: DurableContext) -> list[str | None]:
    results = context.parallel(
        [check_inventory(event["sku"]), check_fraud(event["customer"])],
        name="pre_checks",
        config=ParallelConfig(max_concurrency=2),
    )
    results.throw_if_error()
    return results.get_results()


# -- retries --------------------------------------------------------------------------


@durable_execution
def flaky_handler(event: dict[str, Any], context: DurableContext) -> str:
    def call_partner(step_context: StepContext) -> str:
        if step_context.attempt < 3:
            raise ConnectionError(f"partner unavailable (attempt {step_context.attempt})")
        return f"answered on attempt {step_context.attempt}"

    strategy = create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=4,
            initial_delay=Duration.from_seconds(2),
            retryable_error_types=[ConnectionError],
        )
    )
    answer = context.step(call_partner, name="call_partner", config=StepConfig(strategy))
    try:
        context.step(
            lambda _: int("not a number"),
            name="parse_reply",
            config=StepConfig(retry_strategy=lambda error, attempt: RetryDecision.no_retry()),
        )
    except StepError as error:
        return f"{answer}; parse failed with {error.error_type}"
    return answer


@durable_execution
def block_retry_handler(event: dict[str, Any], context: DurableContext) -> str:
    def transfer(ctx: DurableContext, attempt: int) -> str:
        reference = ctx.step(lambda _: f"ref-{attempt}", name="reserve_funds")
        if attempt < 2:
            raise RuntimeError("ledger busy")
        return ctx.step(lambda _: f"committed {reference}", name="commit")

    return with_retry(
        context,
        transfer,
        WithRetryConfig(
            retry_strategy=create_retry_strategy(
                RetryStrategyConfig(max_attempts=3, initial_delay=Duration.from_seconds(5))
            )
        ),
        name="transfer",
    )


# -- polling --------------------------------------------------------------------------


@durable_execution
def polling_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    def check(state: dict[str, Any], check_context: Any) -> dict[str, Any]:
        return {"progress": state["progress"] + 25, "checks": state["checks"] + 1}

    return context.wait_for_condition(
        check,
        config=WaitForConditionConfig(
            initial_state={"progress": 0, "checks": 0},
            wait_strategy=create_wait_strategy(
                WaitStrategyConfig(
                    should_continue_polling=lambda state: state["progress"] < 100,
                    initial_delay=Duration.from_seconds(10),
                    max_attempts=10,
                )
            ),
        ),
        name="export_job",
    )


@durable_execution
def custom_poll_handler(event: dict[str, Any], context: DurableContext) -> int:
    def strategy(state: int, attempt: int) -> WaitForConditionDecision:
        if state >= 3:
            return WaitForConditionDecision.stop_polling()
        return WaitForConditionDecision.continue_waiting(Duration.from_seconds(attempt))

    return context.wait_for_condition(
        lambda state, check_context: state + 1,
        config=WaitForConditionConfig(initial_state=0, wait_strategy=strategy),
        name="count_up",
    )


# -- chained invokes ------------------------------------------------------------------


@durable_execution
def invoice_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    number = context.step(lambda _: f"INV-{event['order_id']}", name="allocate_number")
    context.wait(Duration.from_minutes(1), name="settle")
    return {"invoice": number}


def tax_handler(event: dict[str, Any], lambda_context: Any) -> dict[str, Any]:
    return {"tax": round(event["amount"] * 0.2, 2)}


@durable_execution
def billing_handler(event: dict[str, Any], context: DurableContext) -> dict[str, Any]:
    tax = context.invoke("tax-calculator", {"amount": event["amount"]}, name="compute_tax")
    invoice = context.invoke("invoicing:live", {"order_id": event["order_id"]}, name="invoice")
    execution: ExecutionContext = context.execution_context
    return {"tax": tax, "invoice": invoice, "arn_known": bool(execution.durable_execution_arn)}


# -- a child context on its own -------------------------------------------------------


@durable_with_child_context
def loyalty_points(ctx: DurableContext, customer: str, spent: int) -> int:
    tier = ctx.step(lambda _: "gold" if spent > 100 else "basic", name="tier")
    ctx.wait(Duration.from_days(1), name="posting_delay")
    return ctx.step(lambda _: spent * (2 if tier == "gold" else 1), name="award")


# -- a failing workflow ---------------------------------------------------------------


@durable_execution
def failing_handler(event: dict[str, Any], context: DurableContext) -> None:
    context.step(lambda _: "ok", name="first")
    raise KeyError("customer record missing")
