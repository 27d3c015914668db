"""context.saga: compensations run in reverse, durably, then the original error is raised."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from durable_exec import (
    Duration,
    RetryPresets,
    RetryStrategyConfig,
    SagaCompensationError,
    StepConfig,
    StepContext,
    StepError,
    ValidationError,
    create_retry_strategy,
    durable_execution,
    durable_step,
)
from durable_exec._wire import OperationStatus, OperationType
from durable_exec.testing import SimulatedCrash

NO_RETRY = StepConfig(retry_strategy=RetryPresets.none())


def trip_handler(fail_at: str | None, calls: Counter, **hooks: Any):
    """Book flight, hotel, car; ``fail_at`` names the booking that fails for good."""

    def booking(kind: str):
        def book(step_context: StepContext, trip: str) -> str:
            calls[f"book-{kind}"] += 1
            if kind == fail_at:
                raise RuntimeError(f"{kind} sold out")
            return f"{kind}-{trip}"

        book.__name__ = f"book_{kind}"
        return durable_step(book)

    def cancellation(kind: str):
        def cancel(step_context: StepContext, booking_id: str) -> str:
            calls[f"cancel-{kind}"] += 1
            hook = hooks.get(f"cancel_{kind}")
            if hook is not None:
                hook(step_context)
            return f"cancelled {booking_id}"

        cancel.__name__ = f"cancel_{kind}"
        return durable_step(cancel)

    @durable_execution
    def handler(event, context):
        with context.saga("trip") as saga:
            flight = saga.step(
                booking("flight")("t1"), compensate=cancellation("flight"), config=NO_RETRY
            )
            hotel = saga.step(
                booking("hotel")("t1"), compensate=cancellation("hotel"), config=NO_RETRY
            )
            car = saga.step(booking("car")("t1"), config=NO_RETRY)
        return [flight, hotel, car]

    return handler


def step_names(result) -> list[str | None]:
    return [op.name for op in result.operations if op.type is OperationType.STEP]


def test_no_failure_no_compensation(make_runner):
    """When every step succeeds the saga returns normally and nothing is undone."""
    calls: Counter = Counter()
    result = make_runner(trip_handler(None, calls)).run()
    assert result.result == ["flight-t1", "hotel-t1", "car-t1"]
    assert step_names(result) == ["book_flight", "book_hotel", "book_car"]


def test_a_failure_undoes_earlier_steps_in_reverse_then_raises_the_original(make_runner):
    """The car fails: the hotel is cancelled, then the flight, then the car's StepError ends it."""
    calls: Counter = Counter()
    result = make_runner(trip_handler("car", calls)).run()
    assert result.status == "FAILED"
    assert result.error is not None
    assert result.error.type == "aws_durable_execution_sdk_python.exceptions.StepError"
    assert result.error.message == "car sold out"
    assert step_names(result) == [
        "book_flight",
        "book_hotel",
        "book_car",
        "cancel_hotel",
        "cancel_flight",
    ]
    assert result.decoded(result.get_step("cancel_hotel")) == "cancelled hotel-t1"


def test_compensations_are_durable_and_survive_a_crash(make_runner):
    """A crash inside a compensation replays the done ones and reruns only the interrupted one."""
    calls: Counter = Counter()
    crashed: list[bool] = []

    def crash_once(step_context):
        if not crashed:
            crashed.append(True)
            raise SimulatedCrash

    handler = trip_handler("car", calls, cancel_flight=crash_once)
    result = make_runner(handler).run()
    assert result.status == "FAILED"
    assert calls == Counter(
        {"book-flight": 1, "book-hotel": 1, "book-car": 1, "cancel-hotel": 1, "cancel-flight": 2}
    )
    assert result.invocations == 2


def test_compensations_retry_with_their_own_strategy(make_runner):
    """A compensation that fails once is retried durably and then succeeds."""
    retry = StepConfig(
        retry_strategy=create_retry_strategy(
            RetryStrategyConfig(max_attempts=3, initial_delay=Duration(5))
        )
    )
    attempts: list[int] = []

    @durable_step
    def release(step_context: StepContext, held: str) -> str:
        attempts.append(step_context.attempt)
        if step_context.attempt == 1:
            raise ConnectionError("inventory service unavailable")
        return f"released {held}"

    @durable_execution
    def handler(event, context):
        with context.saga("order") as saga:
            saga.step(lambda _: "seat-12", name="hold", compensate=release, compensate_config=retry)
            saga.step(lambda _: 1 / 0, name="pay", config=NO_RETRY)

    result = make_runner(handler).run()
    assert result.status == "FAILED"
    assert attempts == [1, 2]
    assert result.get_step("release").status is OperationStatus.SUCCEEDED
    assert result.error is not None
    assert result.error.message == "division by zero"


def test_a_failed_compensation_does_not_stop_the_others(make_runner):
    """Every compensation runs; the failures are reported in SagaCompensationError."""
    calls: Counter = Counter()
    seen: list[BaseException] = []

    def broken(step_context):
        raise RuntimeError("hotel API down")

    inner = trip_handler("car", calls, cancel_hotel=broken)

    @durable_execution
    def handler(event, context):
        try:
            return inner.func(event, context)
        except SagaCompensationError as error:
            seen.append(error)
            raise

    result = make_runner(handler).run()
    assert result.status == "FAILED"
    assert calls["cancel-flight"] == 1
    error = seen[-1]
    assert isinstance(error.original, StepError)
    assert error.__cause__ is error.original
    assert [name for name, _ in error.failures] == ["cancel_hotel"]
    assert "cancel_hotel" in (result.error.message or "")


def test_errors_outside_steps_compensate_too(make_runner):
    """Any exception leaving the block (not only a failed step) runs the compensations."""

    @durable_execution
    def handler(event, context):
        with context.saga("s") as saga:
            saga.step(lambda _: "a", name="a", compensate=lambda _: "undo a")
            raise ValueError("validation failed")

    result = make_runner(handler).run()
    assert result.error is not None
    assert result.error.type == "ValueError"
    assert step_names(result) == ["a", "compensate a"]


def test_a_suspension_inside_the_block_is_not_a_failure(make_runner):
    """A durable wait in the saga suspends the invocation without compensating."""

    @durable_execution
    def handler(event, context):
        with context.saga("s") as saga:
            saga.step(lambda _: "a", name="a", compensate=lambda _: "undo a")
            context.wait(Duration(30))
            saga.step(lambda _: "b", name="b")
        return "ok"

    result = make_runner(handler).run()
    assert result.result == "ok"
    assert step_names(result) == ["a", "b"]


def test_add_compensation_for_other_work(make_runner):
    """add_compensation registers an undo for work done outside saga.step (a child context)."""

    @durable_execution
    def handler(event, context):
        with context.saga("s") as saga:
            context.run_in_child_context(lambda ctx: "reserved", name="reserve")
            saga.add_compensation(lambda _: "unreserved", name="unreserve")
            saga.step(lambda _: 1 / 0, name="boom", config=NO_RETRY)

    result = make_runner(handler).run()
    assert step_names(result) == ["boom", "unreserve"]


def test_saga_step_outside_the_block_is_refused(make_runner):
    """A saga is used inside its with-block only."""

    @durable_execution
    def handler(event, context):
        saga = context.saga("s")
        with pytest.raises(ValidationError, match=r"with context\.saga"):
            saga.step(lambda _: 1)
        return "refused"

    assert make_runner(handler).run().result == "refused"
