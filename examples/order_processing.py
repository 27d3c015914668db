"""Order processing: steps with retries, a durable wait, and a child context.

Run it:
    durable-exec run examples/order_processing.py:handler --input '{"order_id": "o-42", "items": 3}'
"""

from __future__ import annotations

import random

from durable_exec import (
    DurableContext,
    Duration,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    create_retry_strategy,
    durable_execution,
    durable_step,
    durable_with_child_context,
)

# Payment gateways fail transiently: retry up to 4 attempts, durably (no sleeping).
PAYMENT_RETRIES = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(max_attempts=4, initial_delay=Duration(2), max_delay=Duration(30))
    )
)


@durable_step
def reserve_stock(step_context: StepContext, order_id: str, items: int) -> dict:
    step_context.logger.info("reserving %d items for %s", items, order_id)
    return {"order_id": order_id, "reserved": items, "warehouse": "eu-west"}


@durable_step
def charge_card(step_context: StepContext, order_id: str, amount_cents: int) -> str:
    # Deterministic "flakiness" for the demo: the first attempt always fails.
    if step_context.attempt == 1:
        raise ConnectionError("payment gateway timed out")
    return f"charge-{order_id}-{amount_cents}"


@durable_step
def create_label(step_context: StepContext, reservation: dict) -> str:
    return f"label/{reservation['warehouse']}/{reservation['order_id']}"


@durable_step
def notify_carrier(step_context: StepContext, label: str) -> str:
    return f"pickup booked for {label}"


@durable_with_child_context
def ship(context: DurableContext, reservation: dict) -> dict:
    label = context.step(create_label(reservation))
    pickup = context.step(notify_carrier(label))
    return {"label": label, "pickup": pickup}


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    order_id = event["order_id"]
    items = int(event.get("items", 1))
    reservation = context.step(reserve_stock(order_id, items))
    charge = context.step(charge_card(order_id, items * 1999), config=PAYMENT_RETRIES)
    # Give the customer five minutes to cancel; no compute is billed meanwhile.
    context.wait(Duration.from_minutes(5), name="cancellation-window")
    shipment = context.run_in_child_context(ship(reservation))
    # Anything random must come from a step, so replays see the same value.
    tracking = context.step(lambda _: f"TRK{random.randint(10**5, 10**6 - 1)}", name="tracking")
    return {"order_id": order_id, "charge": charge, "tracking": tracking, **shipment}
