"""Deterministic helpers: time, randomness and ids recorded once, replayed after.

``datetime.now()``, ``random.random()`` and ``uuid.uuid4()`` give another value on
every replay; ``context.now()``, ``context.random()`` and ``context.uuid4()`` give
the recorded one. Recording shares the next checkpoint, so it costs no API call.

Run it:  durable-exec run examples/deterministic_values.py:handler --input '{"customer": "c-9"}'
"""

from __future__ import annotations

from durable_exec import DurableContext, Duration, StepContext, durable_execution, durable_step


@durable_step
def send_offer(step_context: StepContext, customer: str, code: str, variant: str) -> str:
    # The idempotency key is the recorded UUID: a retried or replayed step sends it again
    # with the same key, so the mail service can drop the duplicate.
    return f"sent {variant} offer {code} to {customer}"


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    started = context.now()
    code = str(context.uuid4())[:8]
    variant = "A" if context.random() < 0.5 else "B"
    sent = context.step(send_offer(event["customer"], code, variant))
    context.wait(Duration.from_days(3))
    expires = context.now()
    return {
        "sent": sent,
        "variant": variant,
        "offer_days": (expires - started).days,
    }
