"""Fan-out/fan-in: charge a few hundred order lines, ten at a time, tolerating a few failures.

Run it:  durable-exec run examples/fan_out.py:handler --input '{"lines": 300}'
"""

from __future__ import annotations

from durable_exec import (
    CompletionConfig,
    DurableContext,
    MapConfig,
    RetryPresets,
    StepConfig,
    durable_execution,
)


def charge_line(context: DurableContext, line: dict, index: int, lines: list) -> dict:
    def charge(_: object) -> str:
        if line["sku"].endswith("-X"):  # discontinued items are refused by the payment API
            raise ValueError(f"sku {line['sku']} cannot be charged")
        return f"ch-{index}"

    charge_id = context.step(
        charge, name="charge", config=StepConfig(retry_strategy=RetryPresets.none())
    )
    return {"line": index, "charge": charge_id, "cents": line["cents"]}


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    count = int(event.get("lines", 300))
    lines = [
        {"sku": f"sku-{i}" + ("-X" if i % 97 == 0 else ""), "cents": 100 + i} for i in range(count)
    ]
    batch = context.map(
        lines,
        charge_line,
        name="charge-lines",
        config=MapConfig(
            max_concurrency=10,
            completion_config=CompletionConfig(tolerated_failure_percentage=5),
        ),
    )
    charged = batch.get_results()
    return {
        "charged": len(charged),
        "failed": batch.failure_count,
        "cents": sum(c["cents"] for c in charged),
        "reason": batch.completion_reason.value,
    }
