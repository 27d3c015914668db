"""Typed payloads: steps and child contexts return dataclasses, enums and Decimals.

The return annotation declares the type: the result is stored as plain data
(the dict of its fields) and rebuilt as that type on the first run and on every
replay, so the code after the wait sees a real ``Invoice``, not a dict.

Run it:
    durable-exec run examples/typed_orders.py:handler \
        --input '{"order_id": "o-7", "skus": ["kb-1", "ms-2"]}'
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from decimal import Decimal

from durable_exec import (
    DurableContext,
    Duration,
    StepContext,
    durable_execution,
    durable_step,
    durable_with_child_context,
)


class Currency(enum.Enum):
    EUR = "EUR"
    USD = "USD"


@dataclasses.dataclass(frozen=True)
class Quote:
    sku: str
    unit_price: Decimal
    currency: Currency


@dataclasses.dataclass(frozen=True)
class Invoice:
    order_id: str
    quotes: list[Quote]
    total: Decimal
    issued_at: datetime.datetime
    discount_code: str | None = None


PRICES = {"kb-1": Decimal("49.90"), "ms-2": Decimal("19.99")}


@durable_step
def quote(step_context: StepContext, sku: str) -> Quote:
    return Quote(sku, PRICES.get(sku, Decimal("9.99")), Currency.EUR)


@durable_with_child_context
def price_order(context: DurableContext, order_id: str, skus: list[str]) -> Invoice:
    quotes = [context.step(quote(sku), name=f"quote-{sku}") for sku in skus]
    issued_at = context.now(name="issued-at")
    return Invoice(order_id, quotes, sum((q.unit_price for q in quotes), Decimal(0)), issued_at)


@durable_step
def charge(step_context: StepContext, invoice: Invoice) -> str:
    return f"ch-{invoice.order_id}-{invoice.total}-{invoice.quotes[0].currency.value}"


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    invoice = context.run_in_child_context(price_order(event["order_id"], event["skus"]))
    context.wait(Duration.from_minutes(10))  # a replay after this rebuilds the Invoice
    receipt = context.step(charge(invoice))
    return {
        "order_id": invoice.order_id,
        "total": str(invoice.total),
        "currency": invoice.quotes[0].currency.value,
        "receipt": receipt,
    }
