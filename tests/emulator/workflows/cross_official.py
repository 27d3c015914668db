"""The cross-SDK workflow on AWS's official SDK (``aws_durable_execution_sdk_python``).

The same code as ``cross_ours.py``; only the imports differ. Runs only in the
handler processes of the emulator tests (the official SDK is a test extra).
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from aws_durable_execution_sdk_python import (
    DurableContext,
    StepContext,
    durable_execution,
    durable_step,
    durable_with_child_context,
)
from aws_durable_execution_sdk_python.config import Duration, JitterStrategy, StepConfig
from aws_durable_execution_sdk_python.retries import RetryStrategyConfig, create_retry_strategy

# -- identical in cross_ours.py and cross_official.py from here on --------------------------

RETRY_AFTER_ONE_SECOND = StepConfig(
    retry_strategy=create_retry_strategy(
        RetryStrategyConfig(
            max_attempts=3,
            initial_delay=Duration.from_seconds(1),
            max_delay=Duration.from_seconds(1),
            backoff_rate=1,
            jitter_strategy=JitterStrategy.NONE,
        )
    )
)


@durable_step
def quote(step_context: StepContext, sku: str) -> dict:
    """A result in the extended encoding: Decimal, datetime, tuple, int keys."""
    return {
        "sku": sku,
        "price": Decimal("19.99"),
        "at": datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        "tags": ("new", "sale"),
        "stock": {1: "eu", 2: "us"},
    }


@durable_step
def reserve(step_context: StepContext, sku: str) -> str:
    """Fails its first attempt: one invocation checkpoints a RETRY, another finishes it."""
    if step_context.attempt == 1:
        raise ConnectionError("warehouse busy")
    return f"reserved {sku} on attempt {step_context.attempt}"


@durable_with_child_context
def ship(context: DurableContext, sku: str) -> str:
    """A child context that suspends in the middle."""
    label = context.step(lambda _: f"label-{sku}", name="label")
    context.wait(Duration.from_seconds(1), name="carrier")
    return context.step(lambda _: f"{label} picked up", name="pickup")


def pack(context: DurableContext, item: str, index: int, items: Sequence[str]) -> str:
    """A map item that suspends."""
    context.wait(Duration.from_seconds(1), name="pack-wait")
    return context.step(lambda _: f"{index}:{item.upper()}", name="pack")


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    """Quote, reserve (retried), wait, ship in a child context, pack in a map."""
    quoted = context.step(quote(event["sku"]))
    reserved = context.step(reserve(event["sku"]), config=RETRY_AFTER_ONE_SECOND)
    context.wait(Duration.from_seconds(1), name="pause")
    shipped = context.run_in_child_context(ship(event["sku"]))
    packed: Any = context.map(["a", "b"], pack, name="packing")
    return {
        "price": str(quoted["price"]),
        "at": quoted["at"].isoformat(),
        "tags": list(quoted["tags"]),
        "stock": sorted(quoted["stock"].items()),
        "reserved": reserved,
        "shipped": shipped,
        "packed": packed.get_results(),
    }
