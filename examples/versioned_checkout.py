"""Versioning: change a workflow while executions started under the old code still run.

Version 1 shipped the order and then charged it. The fix charges first. Executions
that had already passed this point when the fix was deployed must keep the old
order of operations (their history says so); new ones take the new path.
``context.patched`` tells them apart and records the choice in the history.

Once no execution started before the fix remains, replace ``patched`` with
``deprecate_patch`` and delete the old branch.

Run it:  durable-exec run examples/versioned_checkout.py:handler --input '{"order_id": "o-1"}'
"""

from __future__ import annotations

from durable_exec import DurableContext, StepContext, durable_execution, durable_step


@durable_step
def charge(step_context: StepContext, order_id: str) -> str:
    return f"charge-{order_id}"


@durable_step
def ship(step_context: StepContext, order_id: str) -> str:
    return f"parcel-{order_id}"


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    order_id = event["order_id"]
    if context.patched("charge-before-ship"):
        charged = context.step(charge(order_id))
        shipped = context.step(ship(order_id))
    else:  # executions recorded by version 1
        shipped = context.step(ship(order_id))
        charged = context.step(charge(order_id))
    return {"charge": charged, "parcel": shipped}
