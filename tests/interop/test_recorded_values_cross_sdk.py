"""Values recorded by context.now/uuid4/random/patched replay on the official SDK.

They are ordinary STEP operations with their own SubTypes: an execution started on
durable_exec continues on the official SDK (3.0.0), whose code reads them as steps
with ``StepConfig(sub_type=...)``, without running those steps and with equal values.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import json
from typing import Any

import pytest

from durable_exec import Duration, durable_execution
from durable_exec.testing import LocalDurableService, VirtualClock

official = pytest.importorskip("aws_durable_execution_sdk_python")
official_config = pytest.importorskip("aws_durable_execution_sdk_python.config")

from sdk_driver import Driver  # noqa: E402


def test_an_execution_started_on_durable_exec_continues_on_the_official_sdk():
    """now/uuid4/random/patched recorded by durable_exec are read back by the official SDK."""
    clock = VirtualClock()
    service = LocalDurableService(clock)
    driver = Driver(service, clock)
    seen: list[Any] = []
    ran: list[str] = []

    @durable_execution
    def ours(event, context):
        values = [context.now().isoformat(), str(context.uuid4()), context.random()]
        values.append(context.patched("charge-first"))
        seen.append(values)
        context.wait(Duration(5), name="pause")
        return values

    def never(sub_type: str):
        def body(_: Any) -> Any:
            ran.append(sub_type)
            raise AssertionError("a recorded value must not be produced again")

        return body

    def recorded(context: Any, sub_type: str, name: str | None = None) -> Any:
        config = official_config.StepConfig(sub_type=sub_type)
        return context.step(never(sub_type), name=name, config=config)

    @official.durable_execution(boto3_client=service)
    def theirs(event, context):
        values = [
            recorded(context, "Now").isoformat(),
            str(recorded(context, "Uuid")),
            recorded(context, "Random"),
            recorded(context, "Patch", "charge-first"),
        ]
        context.wait(official_config.Duration.from_seconds(5), name="pause")
        return values

    arn = driver.run(lambda n: driver.ours(ours) if n == 0 else driver.official(theirs))
    assert service.execution_status(arn) == "SUCCEEDED"
    assert json.loads(service.result(arn) or "null") == seen[0]
    assert ran == []
    assert len(driver.outputs) == 2


def test_a_typed_result_reads_as_a_plain_dict_on_the_official_sdk():
    """A dataclass result stored by durable_exec is the dict of its fields to the official SDK."""

    @dataclasses.dataclass
    class Quote:
        sku: str
        price: decimal.Decimal
        valid_until: datetime.date

    clock = VirtualClock()
    service = LocalDurableService(clock)
    driver = Driver(service, clock)

    def quote(_: Any) -> Quote:
        return Quote("kb-1", decimal.Decimal("49.90"), datetime.date(2026, 3, 1))

    @durable_execution
    def ours(event, context):
        context.step(quote, name="quote")
        context.wait(Duration(5), name="pause")

    @official.durable_execution(boto3_client=service)
    def theirs(event, context):
        stored = context.step(lambda _: None, name="quote")
        context.wait(official_config.Duration.from_seconds(5), name="pause")
        return [stored["sku"], str(stored["price"]), stored["valid_until"].isoformat()]

    arn = driver.run(lambda n: driver.ours(ours) if n == 0 else driver.official(theirs))
    assert service.execution_status(arn) == "SUCCEEDED", (driver.outputs, service.error(arn))
    assert json.loads(service.result(arn) or "null") == ["kb-1", "49.90", "2026-03-01"]
