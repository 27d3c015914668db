"""An orchestrator calling another durable function (and a plain one) with chained invokes.

Run it:
    durable-exec run examples/orchestrator.py:handler \
        --input '{"order_id": "o-9", "country": "DE"}' \
        --function report-builder=examples/orchestrator.py:report_builder \
        --function tax-rate=examples/orchestrator.py:tax_rate

The targets are registered by name: with `--function NAME=PATH:HANDLER` on the command
line, and with `runner.register_function(NAME, handler)` in tests.
"""

from __future__ import annotations

from durable_exec import DurableContext, InvokeConfig, durable_execution


@durable_execution
def report_builder(event: dict, context: DurableContext) -> dict:
    """A durable target: builds a report in two steps."""
    rows = context.step(
        lambda _: [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 5}], name="load-rows"
    )
    total = context.step(lambda _: sum(r["qty"] for r in rows), name="sum")
    return {"order": event["order"], "lines": len(rows), "total": total}


def tax_rate(event: dict, lambda_context: object) -> float:
    """A plain Lambda target."""
    return {"DE": 0.19, "FR": 0.2}.get(event["country"], 0.0)


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    report = context.invoke(
        "report-builder:live", {"order": event["order_id"]}, name="build-report"
    )
    rate = context.invoke(
        "tax-rate",
        {"country": event["country"]},
        name="tax",
        config=InvokeConfig(tenant_id="shop-1"),
    )
    return {"report": report, "tax_rate": rate}
