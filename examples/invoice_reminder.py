"""An invoice reminder whose steps read the wall clock, and how to test it.

Step bodies may read the clock (their result is recorded once). This workflow
sends an invoice, waits three days, and sends a reminder stamped with the time
it went out. ``examples/test_invoice_reminder.py`` runs it with
``DurableTestRunner(freeze_wall_clock=True)``: the three-day wait takes no time,
and the timestamps the steps compute are exact and assertable.

Run it:  durable-exec run examples/invoice_reminder.py:handler --input '{"invoice": "inv-7"}'
"""

from __future__ import annotations

import datetime

from durable_exec import DurableContext, Duration, StepContext, durable_execution, durable_step


@durable_step
def send_invoice(step_context: StepContext, invoice: str) -> str:
    sent_at = datetime.datetime.now(datetime.UTC)  # read inside a step: recorded once
    return sent_at.isoformat()


@durable_step
def send_reminder(step_context: StepContext, invoice: str, sent_at: str) -> dict:
    now = datetime.datetime.now(datetime.UTC)
    overdue = now - datetime.datetime.fromisoformat(sent_at)
    return {"invoice": invoice, "reminded_at": now.isoformat(), "overdue_days": overdue.days}


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    sent_at = context.step(send_invoice(event["invoice"]))
    context.wait(Duration.from_days(3))
    return context.step(send_reminder(event["invoice"], sent_at))
