"""The examples of the features beyond the official SDK run end to end."""

from __future__ import annotations

import datetime
import importlib.util
import pathlib
import sys
from types import ModuleType

from durable_exec._wire import OperationType
from durable_exec.testing import DurableTestRunner, VirtualClock

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        f"feature_example_{name}", EXAMPLES / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their annotations through it
    spec.loader.exec_module(module)
    return module


def test_typed_orders_rebuilds_the_invoice_after_the_wait(make_runner):
    """The Invoice built before the wait comes back typed in the invocation after it."""
    example = load("typed_orders")
    result = make_runner(example.handler).run({"order_id": "o-7", "skus": ["kb-1", "ms-2"]})
    assert result.result == {
        "order_id": "o-7",
        "total": "69.89",
        "currency": "EUR",
        "receipt": "ch-o-7-69.89-EUR",
    }
    assert result.invocations == 2


def test_deterministic_values_survive_the_three_day_wait(make_runner):
    """The offer code, variant and start time recorded before the wait are the ones used after."""
    example = load("deterministic_values")
    result = make_runner(example.handler).run({"customer": "c-9"})
    assert result.result["offer_days"] == 3
    assert result.result["sent"].startswith(f"sent {result.result['variant']} offer ")
    subtypes = [op.sub_type for op in result.operations if op.type is OperationType.STEP]
    assert subtypes == ["Now", "Uuid", "Random", "Step", "Now"]


def test_versioned_checkout_new_executions_charge_first(make_runner):
    """A new execution records the patch marker and charges before shipping."""
    example = load("versioned_checkout")
    result = make_runner(example.handler).run({"order_id": "o-1"})
    names = [op.name for op in result.operations if op.type is OperationType.STEP]
    assert names == ["charge-before-ship", "charge", "ship"]


def test_trip_saga_books_everything(make_runner):
    """With a car available nothing is undone."""
    example = load("trip_saga")
    result = make_runner(example.handler).run({"trip": "t-1", "car": "compact"})
    assert result.result == {"flight": "flight-t-1", "hotel": "hotel-t-1", "car": "car-t-1-compact"}


def test_trip_saga_cancels_hotel_then_flight(make_runner):
    """Without a car the hotel and then the flight are cancelled, and the rental's error ends it."""
    example = load("trip_saga")
    result = make_runner(example.handler).run({"trip": "t-1", "car": "none-left"})
    assert result.status == "FAILED"
    assert result.error is not None
    assert result.error.message == "no none-left car available for t-1"
    names = [op.name for op in result.operations if op.type is OperationType.STEP]
    assert names[-2:] == ["cancel_hotel", "cancel_flight"]


def test_async_enrichment(make_runner):
    """Async steps and an async map function produce their results."""
    example = load("async_enrichment")
    result = make_runner(example.handler).run({"users": ["u1", "u22"]})
    assert result.result == {
        "profiles": [
            {"user": "u1", "name": "name:u1", "plan": "plan:u1"},
            {"user": "u22", "name": "name:u22", "plan": "plan:u22"},
        ],
        "scores": [20, 31],
    }


def test_recorded_histories_example_replays():
    """The replayer example's one-line test replays every recorded history it names."""
    example = load("test_recorded_histories")
    test = example.test_recorded_histories_replay
    (mark,) = test.pytestmark
    assert mark.args[1], "the example records at least one history"
    for history_file in mark.args[1]:
        test(history_file=history_file)


def test_invoice_reminder_example_test_passes():
    """The freeze_wall_clock example's own test passes, and the reminder it checks is 3 days on."""
    example = load("test_invoice_reminder")
    example.test_the_reminder_goes_out_three_days_later()  # raises if the example is wrong
    runner = DurableTestRunner(
        example.handler, clock=VirtualClock(example.MONDAY), freeze_wall_clock=True
    )
    result = runner.run({"invoice": "inv-8"})
    reminded = datetime.datetime.fromisoformat(result.result["reminded_at"])
    assert reminded - example.MONDAY == datetime.timedelta(days=3)
    assert result.result["overdue_days"] == 3
