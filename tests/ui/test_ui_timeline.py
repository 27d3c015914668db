"""The console's Gantt layout: pieces per invocation, a lane of segments per operation."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_exec import (
    DurableContext,
    Duration,
    JitterStrategy,
    RetryStrategyConfig,
    StepConfig,
    durable_execution,
)
from durable_exec._cli._ui._timeline import build_timeline
from durable_exec._cli._view import ExecutionView, build_view
from durable_exec.testing import DurableTestRunner, LocalDurableService, VirtualClock


def _view(handler: Any, payload: Any = None) -> tuple[ExecutionView, float]:
    clock = VirtualClock()
    service = LocalDurableService(clock)
    result = DurableTestRunner(handler, service=service).run(payload)
    description = service.get_durable_execution(
        DurableExecutionArn=result.arn, IncludeExecutionData=True
    )
    return build_view(description, service.events(result.arn)), clock.now()


def _lane(view: ExecutionView, timeline: dict[str, Any], name: str) -> list[dict[str, Any]]:
    [op] = [op for op in view.operations if op.name == name]
    return timeline["lanes"][op.id]


def _retrying(max_attempts: int, delay: int) -> StepConfig:
    return StepConfig(
        retry_strategy=RetryStrategyConfig(
            max_attempts=max_attempts,
            initial_delay=Duration.from_seconds(delay),
            jitter_strategy=JitterStrategy.NONE,
        )
    )


@durable_execution
def _shop(event: Any, context: DurableContext) -> str:
    context.step(lambda _: "ok", name="reserve")

    def flaky(step_context: Any) -> str:
        if step_context.attempt < 3:
            raise ConnectionError("gateway timed out")
        return "charged"

    context.step(flaky, name="charge", config=_retrying(3, 5))
    context.wait(Duration.from_minutes(10), name="cool-off")
    return context.step(lambda _: "done", name="ship")


class TestLanes:
    def test_retries_show_each_attempt_and_each_delay(self):
        view, now = _view(_shop)
        timeline = build_timeline(view, now)
        lane = _lane(view, timeline, "charge")
        assert [(s["kind"], s["status"], s["attempt"]) for s in lane] == [
            ("attempt", "RETRYING", 1),
            ("retry", "PENDING", None),
            ("attempt", "RETRYING", 2),
            ("retry", "PENDING", None),
            ("attempt", "SUCCEEDED", 3),
        ]
        retry = lane[1]
        assert retry["end"] - retry["start"] == 5
        assert retry["due"] == retry["end"]
        assert lane[0]["error_type"] == "ConnectionError"

    def test_a_wait_spans_the_gap_between_two_invocations(self):
        view, now = _view(_shop)
        timeline = build_timeline(view, now)
        [wait] = _lane(view, timeline, "cool-off")
        invocations = [p for p in timeline["pieces"] if p["kind"] == "invocation"]
        gap = next(
            p for p in timeline["pieces"] if p["kind"] == "gap" and p["start"] == wait["start"]
        )
        assert wait["end"] - wait["start"] == 600
        assert gap["end"] - gap["start"] == 600
        # It starts inside the invocation that asked for it and ends where the next begins.
        before = next(p for p in invocations if p["x1"] == gap["x0"])
        assert before["x0"] <= wait["x0"] <= before["x1"]
        assert wait["x1"] == gap["x1"]
        assert len(invocations) == 4  # two retries and one wait each end an invocation

    def test_operations_of_an_instant_invocation_read_left_to_right_in_history_order(self):
        view, now = _view(_shop)
        timeline = build_timeline(view, now)
        reserve = _lane(view, timeline, "reserve")[0]
        first_attempt = _lane(view, timeline, "charge")[0]
        assert reserve["start"] == first_attempt["start"]  # virtual time did not move
        assert reserve["x1"] <= first_attempt["x0"]

    def test_an_open_callback_runs_to_now(self):
        @durable_execution
        def waits(event: Any, context: DurableContext) -> Any:
            callback = context.create_callback(name="approval")
            return callback.result()

        clock = VirtualClock()
        service = LocalDurableService(clock)
        runner = DurableTestRunner(waits, service=service)
        result = runner.run(None, pause_on_callbacks=True)
        assert result.status == "RUNNING"
        clock.skip_to(clock.now() + 3600)
        description = service.get_durable_execution(
            DurableExecutionArn=result.arn, IncludeExecutionData=True
        )
        view = build_view(description, service.events(result.arn))
        timeline = build_timeline(view, clock.now())
        [callback] = _lane(view, timeline, "approval")
        assert callback["kind"] == "callback"
        assert callback["end"] is None
        assert callback["x1"] == 1.0
        assert timeline["end"] == clock.now()
        assert timeline["pieces"][-1]["kind"] == "gap"  # the hour spent waiting

    def test_a_running_invocation_is_drawn_to_now(self):
        view, now = _view(_shop)
        view.end = None
        view.events = [e for e in view.events if e["EventType"] != "ExecutionSucceeded"]
        last = max(i for i, e in enumerate(view.events) if e["EventType"] == "InvocationCompleted")
        del view.events[last]
        timeline = build_timeline(view, now + 1, running_invocation=True)
        piece = timeline["pieces"][-1]
        assert piece["kind"] == "invocation"
        assert piece["running"] is True
        assert piece["end"] == now + 1


class TestScale:
    def test_compact_keeps_instant_invocations_visible_and_orders_gaps_by_length(self):
        view, now = _view(_shop)
        pieces = build_timeline(view, now, scale="compact")["pieces"]
        invocations = [p for p in pieces if p["kind"] == "invocation"]
        assert all(p["x1"] - p["x0"] > 0.05 for p in invocations)
        gaps = {p["end"] - p["start"]: p["x1"] - p["x0"] for p in pieces if p["kind"] == "gap"}
        assert gaps[600] > gaps[5] > 0

    def test_linear_is_proportional_to_time(self):
        view, now = _view(_shop)
        pieces = build_timeline(view, now, scale="linear")["pieces"]
        gaps = {p["end"] - p["start"]: p["x1"] - p["x0"] for p in pieces if p["kind"] == "gap"}
        ratio = gaps[600] / gaps[5]
        assert 119 < ratio < 121


# ------------------------------------------------------------------ property

_OPS = st.lists(
    st.one_of(
        st.tuples(st.just("step"), st.integers(1, 3), st.integers(1, 30)),
        st.tuples(st.just("wait"), st.integers(1, 86_400), st.just(0)),
        st.tuples(st.just("child"), st.integers(1, 3), st.just(0)),
    ),
    min_size=1,
    max_size=6,
)


def _workflow(plan: list[tuple[str, int, int]]) -> Any:
    @durable_execution
    def handler(event: Any, context: DurableContext) -> None:
        for index, (kind, amount, delay) in enumerate(plan):
            name = f"{kind}-{index}"
            if kind == "step":

                def body(step_context: Any, fail_until: int = amount) -> int:
                    if step_context.attempt < fail_until:
                        raise RuntimeError("not yet")
                    return step_context.attempt

                context.step(body, name=name, config=_retrying(3, delay))
            elif kind == "wait":
                context.wait(Duration.from_seconds(amount), name=name)
            else:
                context.run_in_child_context(
                    lambda child, n=amount: [child.step(lambda _, i=i: i) for i in range(n)],  # type: ignore[misc]
                    name=name,
                )

    return handler


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(plan=_OPS, scale=st.sampled_from(["compact", "linear"]))
def test_every_layout_fits_the_width_in_time_order(plan, scale):
    """Pieces tile [0, 1]; segments stay inside it, each lane in order, each piece in time order."""
    view, now = _view(_workflow(plan))
    timeline = build_timeline(view, now, scale=scale)
    pieces = timeline["pieces"]
    assert pieces[0]["x0"] == 0.0
    assert pieces[-1]["x1"] == 1.0
    for left, right in itertools.pairwise(pieces):
        assert left["x1"] == right["x0"]
        assert left["end"] <= right["start"]
    invocations = [p for p in pieces if p["kind"] == "invocation"]
    assert len(invocations) == sum(
        1 for e in view.events if e["EventType"] == "InvocationCompleted"
    )
    for lane in timeline["lanes"].values():
        for segment in lane:
            assert 0.0 <= segment["x0"] <= segment["x1"] <= 1.0
            assert segment["end"] is None or segment["end"] >= segment["start"]
        for earlier, later in itertools.pairwise(lane):
            assert earlier["x1"] <= later["x0"] + 1e-9
            assert earlier["end"] is not None
            assert earlier["end"] <= later["start"]
    for index, (kind, amount, _delay) in enumerate(plan):
        [op] = [op for op in view.operations if op.name == f"{kind}-{index}"]
        lane = timeline["lanes"][op.id]
        if kind == "step":
            attempts = [s for s in lane if s["kind"] == "attempt"]
            assert len(attempts) == min(amount, 3)
            assert sum(1 for s in lane if s["kind"] == "retry") == len(attempts) - 1
        elif kind == "wait":
            [wait] = lane
            assert wait["end"] - wait["start"] == amount
