"""Typed payloads: results of a declared type survive checkpointing and replay as that type."""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import json
import subprocess
import sys
import uuid
from typing import Any, Literal

import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec import (
    CallbackConfig,
    ChildConfig,
    Duration,
    InvokeConfig,
    JsonSerDes,
    MapConfig,
    ParallelConfig,
    SerDes,
    SerDesContext,
    SerDesError,
    StepConfig,
    StepContext,
    TypedSerDes,
    ValidationError,
    WaitForCallbackConfig,
    durable_execution,
    durable_parallel_branch,
    durable_step,
    durable_with_child_context,
)


class Tier(enum.Enum):
    GOLD = "gold"
    SILVER = "silver"


@dataclasses.dataclass
class Line:
    sku: str
    qty: int
    price: decimal.Decimal


@dataclasses.dataclass
class Order:
    id: uuid.UUID
    placed_at: datetime.datetime
    ship_on: datetime.date
    tier: Tier
    lines: list[Line]
    totals: dict[str, decimal.Decimal]
    dims: tuple[int, int]
    note: str | None = None


@dataclasses.dataclass
class OrderV2:
    """Order after a change that added a required field."""

    id: uuid.UUID
    placed_at: datetime.datetime
    ship_on: datetime.date
    tier: Tier
    lines: list[Line]
    totals: dict[str, decimal.Decimal]
    dims: tuple[int, int]
    warehouse: str
    note: str | None = None


class Customer(pydantic.BaseModel):
    name: str
    since: datetime.date
    tier: Tier


@dataclasses.dataclass
class Receipt:
    order_id: str
    amount: decimal.Decimal


def make_order(note: str | None = None) -> Order:
    return Order(
        id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        placed_at=datetime.datetime(2026, 3, 1, 12, 30, tzinfo=datetime.UTC),
        ship_on=datetime.date(2026, 3, 4),
        tier=Tier.GOLD,
        lines=[Line("a-1", 2, decimal.Decimal("9.99")), Line("b-2", 1, decimal.Decimal("0.10"))],
        totals={"net": decimal.Decimal("20.08")},
        dims=(30, 40),
        note=note,
    )


@durable_step
def fetch_order(step_context: StepContext, note: str | None = None) -> Order:
    return make_order(note)


class TestStepResults:
    def test_first_run_and_replay_return_equal_dataclasses(self, make_runner):
        """A dataclass result is rebuilt as that dataclass, equal on the first run and on replay."""
        seen: list[Any] = []

        @durable_execution
        def handler(event, context):
            order = context.step(fetch_order())
            seen.append(order)
            context.wait(Duration(10))
            return order.tier.value

        result = make_runner(handler).run()
        assert result.status == "SUCCEEDED"
        assert len(seen) == 2  # first run, then the replay after the wait
        assert all(isinstance(o, Order) for o in seen)
        assert seen[0] == seen[1] == make_order()

    def test_stored_as_the_plain_dict_of_its_fields(self, make_runner):
        """Untyped code (and the official SDK) reads the stored dataclass as a plain dict."""

        @durable_execution
        def handler(event, context):
            context.step(fetch_order())

        result = make_runner(handler).run()
        stored = result.decoded(result.get_step("fetch_order"))
        assert stored["tier"] == "gold"
        assert stored["lines"][0] == {"sku": "a-1", "qty": 2, "price": decimal.Decimal("9.99")}
        assert stored["placed_at"] == datetime.datetime(2026, 3, 1, 12, 30, tzinfo=datetime.UTC)
        assert stored["dims"] == (30, 40)

    def test_pydantic_models_round_trip(self, make_runner):
        """A pydantic v2 model comes back as the model, on the first run and on replay."""
        seen: list[Any] = []

        @durable_step
        def load_customer(step_context: StepContext) -> Customer:
            return Customer(name="Ana", since=datetime.date(2020, 5, 1), tier=Tier.SILVER)

        @durable_execution
        def handler(event, context):
            seen.append(context.step(load_customer()))
            context.wait(Duration(1))

        assert make_runner(handler).run().status == "SUCCEEDED"
        assert seen == [Customer(name="Ana", since=datetime.date(2020, 5, 1), tier=Tier.SILVER)] * 2

    def test_explicit_result_type_types_a_lambda(self, make_runner):
        """StepConfig(result_type=...) types a step whose function declares nothing."""
        seen: list[Any] = []

        @durable_execution
        def handler(event, context):
            value = context.step(
                lambda _: [Tier.GOLD, Tier.SILVER], config=StepConfig(result_type=list[Tier])
            )
            seen.append(value)
            context.wait(Duration(1))

        assert make_runner(handler).run().status == "SUCCEEDED"
        assert seen == [[Tier.GOLD, Tier.SILVER]] * 2

    def test_untyped_steps_store_exactly_what_they_stored_before(self, make_runner):
        """A lambda and a function annotated with plain types store identical payloads."""

        def annotated(_: StepContext) -> dict[str, Any]:
            return {"when": datetime.date(2026, 1, 1), "pair": (1, 2), "n": 3}

        @durable_execution
        def handler(event, context):
            context.step(lambda step_context: annotated(step_context), name="untyped")  # noqa: PLW0108 - a lambda declares no type
            context.step(annotated, name="typed")

        result = make_runner(handler).run()
        untyped = result.get_step("untyped").result
        assert untyped == result.get_step("typed").result
        assert json.loads(untyped)["v"]["pair"] == {
            "t": "t",
            "v": [{"t": "i", "v": 1}, {"t": "i", "v": 2}],
        }

    def test_a_custom_serdes_owns_the_encoding(self, make_runner):
        """With config.serdes set, the return annotation is not used."""

        class Upper(SerDes[Any]):
            def serialize(self, value, serdes_context):
                return json.dumps(value.upper())

            def deserialize(self, data, serdes_context):
                return json.loads(data)

        def shout(_: StepContext) -> int:  # a wrong annotation the serdes ignores
            return "hi"  # type: ignore[return-value]

        @durable_execution
        def handler(event, context):
            return context.step(shout, config=StepConfig(serdes=Upper()))

        result = make_runner(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", "HI")

    def test_a_result_that_does_not_fit_fails_the_step_without_retry(self, make_runner):
        """Returning something else than the declared type fails the step with SerDesError."""
        calls = []

        def count(_: StepContext) -> int:
            calls.append(1)
            return "seven"  # type: ignore[return-value]

        @durable_execution
        def handler(event, context):
            return context.step(count, name="count")

        result = make_runner(handler).run()
        assert result.status == "FAILED"
        assert result.error is not None
        assert "SerDesError" in (result.error.type or "")
        assert "declared type int" in (result.error.message or "")
        assert len(calls) == 1

    def test_stored_data_that_no_longer_fits_is_a_serdes_error_naming_op_and_type(
        self, make_runner
    ):
        """Replaying data stored under an older type names the operation and type, not the value."""
        version = {"type": Order}

        def fetch(_: StepContext) -> Any:
            return make_order(note="s3cr3t-token")

        @durable_execution
        def handler(event, context):
            order = context.step(
                fetch, name="fetch", config=StepConfig(result_type=version["type"])
            )
            version["type"] = OrderV2  # the code is redeployed while the execution waits
            context.wait(Duration(5))
            return order.tier.value

        result = make_runner(handler).run()
        assert result.status == "FAILED"
        message = result.error.message or ""
        assert "SerDesError" in (result.error.type or "")
        assert "'fetch'" in message
        assert "OrderV2" in message
        assert "warehouse" in message
        assert "s3cr3t" not in message

    def test_an_enum_value_that_was_removed_is_a_serdes_error(self, make_runner):
        """A stored enum value the enum no longer has does not fit."""

        class Narrow(enum.Enum):
            SILVER = "silver"

        version: dict[str, Any] = {"type": Tier}

        @durable_execution
        def handler(event, context):
            context.step(
                lambda _: Tier.GOLD, name="tier", config=StepConfig(result_type=version["type"])
            )
            version["type"] = Narrow
            context.wait(Duration(5))

        result = make_runner(handler).run()
        assert result.status == "FAILED"
        assert "Narrow" in (result.error.message or "")

    def test_a_result_type_that_cannot_be_checked_is_refused_up_front(self):
        """result_type must be something values can be checked against."""
        with pytest.raises(ValidationError, match="cannot be a result type"):
            StepConfig(result_type=Literal)  # type: ignore[arg-type]


class TestOtherOperations:
    def test_child_context_result_typed_by_annotation(self, make_runner):
        """A child context's result is typed by its function's return annotation."""
        seen: list[Any] = []

        @durable_with_child_context
        def pack(context) -> tuple[Order, Tier]:
            order = context.step(fetch_order())
            return order, order.tier

        @durable_execution
        def handler(event, context):
            seen.append(context.run_in_child_context(pack()))
            context.wait(Duration(1))

        assert make_runner(handler).run().status == "SUCCEEDED"
        assert seen == [(make_order(), Tier.GOLD)] * 2

    def test_child_config_result_type(self, make_runner):
        """ChildConfig(result_type=...) types an unannotated child function."""
        seen: list[Any] = []

        @durable_execution
        def handler(event, context):
            seen.append(
                context.run_in_child_context(
                    lambda ctx: {"a": Tier.GOLD}, config=ChildConfig(result_type=dict[str, Tier])
                )
            )
            context.wait(Duration(1))

        assert make_runner(handler).run().status == "SUCCEEDED"
        assert seen == [{"a": Tier.GOLD}] * 2

    def test_map_items_typed_by_the_map_function(self, make_runner):
        """Each map item's result is rebuilt as the map function's declared type."""
        seen: list[Any] = []

        def price(context, sku: str, index: int, items: Any) -> Line:
            return context.step(
                lambda _: Line(sku, index, decimal.Decimal(index)),
                name=f"price-{sku}",
                config=StepConfig(result_type=Line),
            )

        @durable_execution
        def handler(event, context):
            batch = context.map(["x", "y"], price, config=MapConfig(max_concurrency=1))
            seen.append(batch.get_results())
            context.wait(Duration(1))

        assert make_runner(handler).run().status == "SUCCEEDED"
        expected = [Line("x", 0, decimal.Decimal(0)), Line("y", 1, decimal.Decimal(1))]
        assert seen == [expected, expected]

    def test_map_config_result_type(self, make_runner):
        """MapConfig(result_type=...) types each item of an unannotated map function."""
        seen: list[Any] = []

        @durable_execution
        def handler(event, context):
            batch = context.map(
                [1, 2],
                lambda ctx, item, i, items: {"tier": "gold", "n": item},
                config=MapConfig(result_type=dict[str, Any]),
            )
            seen.append(batch.get_results())

        assert make_runner(handler).run().status == "SUCCEEDED"
        assert seen == [[{"tier": "gold", "n": 1}, {"tier": "gold", "n": 2}]]

    def test_parallel_branches_keep_their_own_types(self, make_runner):
        """Each parallel branch is typed by its own function's annotation."""
        seen: list[Any] = []

        @durable_parallel_branch("order")
        def order_branch(context) -> Order:
            return context.step(fetch_order())

        @durable_parallel_branch("tier")
        def tier_branch(context) -> Tier:
            return Tier.SILVER

        @durable_execution
        def handler(event, context):
            batch = context.parallel([order_branch(), tier_branch(), lambda ctx: 3])
            seen.append(batch.get_results())
            context.wait(Duration(1))

        assert make_runner(handler).run().status == "SUCCEEDED"
        assert seen == [[make_order(), Tier.SILVER, 3]] * 2

    def test_parallel_config_result_type(self, make_runner):
        """ParallelConfig(result_type=...) types every branch."""

        @durable_execution
        def handler(event, context):
            batch = context.parallel(
                [lambda ctx: Tier.GOLD, lambda ctx: Tier.SILVER],
                config=ParallelConfig(result_type=Tier),
            )
            return [t.name for t in batch.get_results()]

        assert make_runner(handler).run().result == ["GOLD", "SILVER"]

    def test_callback_result_read_as_json_into_the_declared_type(self, make_runner):
        """CallbackConfig(result_type=...) reads the external system's JSON as that type."""
        seen: list[Any] = []

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(
                "payment", config=CallbackConfig(result_type=Receipt)
            )
            seen.append(callback.result())
            return "done"

        runner = make_runner(handler).on_callback(
            "payment", result=json.dumps({"order_id": "o-1", "amount": "12.50"})
        )
        assert runner.run().status == "SUCCEEDED"
        assert seen[-1] == Receipt("o-1", decimal.Decimal("12.50"))

    def test_callback_result_that_does_not_fit(self, make_runner):
        """A callback answer that does not fit its declared type raises SerDesError."""

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(
                "payment", config=CallbackConfig(result_type=Receipt)
            )
            try:
                callback.result()
            except SerDesError as error:
                return str(error)
            return "no error"

        runner = make_runner(handler).on_callback("payment", result=json.dumps({"amount": "1"}))
        message = runner.run().result
        assert "Receipt" in message
        assert "order_id" in message

    def test_wait_for_callback_typed(self, make_runner):
        """wait_for_callback returns the declared type, on the first run and on replay."""
        seen: list[Any] = []

        @durable_execution
        def handler(event, context):
            receipt = context.wait_for_callback(
                lambda callback_id, ctx: None,
                name="pay",
                config=WaitForCallbackConfig(result_type=Receipt),
            )
            seen.append(receipt)
            context.wait(Duration(1))

        runner = make_runner(handler).on_callback(
            "pay", result=json.dumps({"order_id": "o-2", "amount": "3"})
        )
        assert runner.run().status == "SUCCEEDED"
        assert seen[-2:] == [Receipt("o-2", decimal.Decimal(3))] * 2

    def test_invoke_sends_a_dataclass_and_reads_a_typed_result(self, make_runner):
        """invoke sends a dataclass payload as JSON and rebuilds the declared result type."""
        received: list[Any] = []

        def target(event, context):
            received.append(event)
            return {"order_id": event["order_id"], "amount": str(event["amount"])}

        @durable_execution
        def handler(event, context):
            receipt = context.invoke(
                "billing",
                Receipt("o-3", decimal.Decimal("4.20")),
                config=InvokeConfig(result_type=Receipt),
            )
            return [receipt.order_id, str(receipt.amount), type(receipt).__name__]

        runner = make_runner(handler).register_function("billing", target)
        result = runner.run()
        assert result.result == ["o-3", "4.20", "Receipt"]
        assert received == [{"order_id": "o-3", "amount": "4.20"}]


class TestTypedSerDes:
    ctx = SerDesContext("op-1", "arn")

    @given(
        sku=st.text(max_size=20),
        qty=st.integers(),
        price=st.decimals(allow_nan=False, allow_infinity=False, places=2),
        note=st.none() | st.text(max_size=10),
        tier=st.sampled_from(Tier),
        day=st.dates(),
    )
    def test_round_trips_with_either_base(self, sku, qty, price, note, tier, day):
        """Any value of the declared type reads back equal, with the default or a JSON base."""

        @dataclasses.dataclass
        class Row:
            line: Line
            tier: Tier
            day: datetime.date
            note: str | None

        value = Row(Line(sku, qty, price), tier, day, note)
        for base in (None, JsonSerDes()):
            serdes = TypedSerDes(Row, base)
            assert serdes.deserialize(serdes.serialize(value, self.ctx), self.ctx) == value

    @given(st.lists(st.one_of(st.integers(), st.none(), st.sampled_from(Tier)), max_size=8))
    def test_unions_pick_the_arm_the_data_was_stored_as(self, values):
        """int | Tier | None: each element comes back as the type it went in as."""
        serdes = TypedSerDes(list[int | Tier | None])
        assert serdes.deserialize(serdes.serialize(values, self.ctx), self.ctx) == values

    def test_dataclasses_json_configuration_is_honoured(self):
        """letter_case from dataclasses-json decides the stored keys."""
        from dataclasses_json import LetterCase, dataclass_json

        @dataclass_json(letter_case=LetterCase.CAMEL)
        @dataclasses.dataclass
        class Camel:
            first_name: str
            tier: Tier

        serdes = TypedSerDes(Camel, JsonSerDes())
        data = serdes.serialize(Camel("Ann", Tier.GOLD), self.ctx)
        assert json.loads(data) == {"firstName": "Ann", "tier": "gold"}
        assert serdes.deserialize(data, self.ctx) == Camel("Ann", Tier.GOLD)

    def test_pydantic_errors_never_show_the_stored_value(self):
        """A pydantic refusal is reported by field and reason, without the input value."""
        serdes = TypedSerDes(Customer, JsonSerDes())
        with pytest.raises(SerDesError) as caught:
            serdes.deserialize(
                json.dumps({"name": "x", "since": "hunter2", "tier": "gold"}), self.ctx
            )
        assert "since" in str(caught.value)
        assert "hunter2" not in str(caught.value)


def test_untyped_workflows_never_load_dataclasses_json():
    """dataclasses-json is imported the first time a class configured for it is used."""
    code = """
import sys
from durable_exec import durable_execution
from durable_exec.testing import DurableTestRunner

@durable_execution
def handler(event, context):
    return context.step(lambda _: {"a": 1})

assert DurableTestRunner(handler).run().status == "SUCCEEDED"
print("dataclasses_json" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


def test_plain_dataclasses_do_not_load_dataclasses_json():
    """A plain dataclass is built from its type hints; dataclasses-json stays unloaded."""
    code = """
import dataclasses, sys
from durable_exec import TypedSerDes, SerDesContext

@dataclasses.dataclass
class Point:
    x: int
    y: int = 0

serdes = TypedSerDes(Point)
ctx = SerDesContext()
assert serdes.deserialize(serdes.serialize(Point(1), ctx), ctx) == Point(1)
assert serdes.deserialize('{"t":"m","v":{"x":{"t":"i","v":2}}}', ctx) == Point(2, 0)
print("dataclasses_json" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"
