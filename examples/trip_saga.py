"""Sagas: book a flight, a hotel and a car; if a later booking fails, undo the earlier ones.

Each ``saga.step`` that succeeds registers its compensation. When the car rental
refuses (try ``"car": "none-left"``), the hotel and then the flight are cancelled,
each as a durable step with its own retries, and the rental's error ends the
execution. A crash in the middle replays the bookings and cancellations already
done and carries on with the rest.

Run it:  durable-exec run examples/trip_saga.py:handler --input '{"trip": "t-1", "car": "compact"}'
"""

from __future__ import annotations

from durable_exec import (
    DurableContext,
    RetryPresets,
    StepConfig,
    StepContext,
    durable_execution,
    durable_step,
)


@durable_step
def book_flight(step_context: StepContext, trip: str) -> str:
    return f"flight-{trip}"


@durable_step
def cancel_flight(step_context: StepContext, booking: str) -> str:
    return f"cancelled {booking}"


@durable_step
def book_hotel(step_context: StepContext, trip: str) -> str:
    return f"hotel-{trip}"


@durable_step
def cancel_hotel(step_context: StepContext, booking: str) -> str:
    return f"cancelled {booking}"


@durable_step
def rent_car(step_context: StepContext, trip: str, model: str) -> str:
    if model == "none-left":
        raise RuntimeError(f"no {model} car available for {trip}")
    return f"car-{trip}-{model}"


@durable_execution
def handler(event: dict, context: DurableContext) -> dict:
    trip = event["trip"]
    with context.saga("book-trip") as saga:
        flight = saga.step(book_flight(trip), compensate=cancel_flight)
        hotel = saga.step(book_hotel(trip), compensate=cancel_hotel)
        car = saga.step(
            rent_car(trip, event.get("car", "compact")),
            config=StepConfig(retry_strategy=RetryPresets.none()),
        )
    return {"flight": flight, "hotel": hotel, "car": car}
