"""Deadline awareness: the SDK stops before Lambda's timeout instead of being killed mid-call."""

from __future__ import annotations

import pytest

from durable_exec import InvocationError, MapConfig, TerminationReason, durable_execution
from durable_exec._handler import run_invocation
from durable_exec.testing import DurableTestRunner, LocalDurableService, VirtualClock


class SteppingClock(VirtualClock):
    """A virtual clock whose monotonic time moves only when a test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed


def test_durable_work_stops_before_the_deadline_and_resumes():
    """Steps stop at the margin before the timeout; the next invocation carries on."""
    clock = SteppingClock()
    runs = []

    @durable_execution
    def handler(event, context):
        total = 0
        for i in range(10):

            def body(_, i=i):
                runs.append(i)
                clock.elapsed += 1.0  # each step takes a second of the invocation
                return i

            total += context.step(body, name=f"s{i}")
        return total

    service = LocalDurableService(clock)
    runner = DurableTestRunner(handler, service=service, clock=clock, invocation_timeout=5.0)
    arn = runner.start()
    event = service.invocation_event(arn)
    with pytest.raises(InvocationError) as caught:
        run_invocation(handler, event, _context(clock, 5.0), client=service, clock=clock)
    assert caught.value.termination_reason is TerminationReason.DEADLINE_APPROACHING
    assert "before Lambda's timeout" in str(caught.value)
    done = [op for op in service.operations(arn) if op["Type"] == "STEP"]
    assert [op["Status"] for op in done] == ["SUCCEEDED"] * 4
    service.record_invocation(arn, None, error=caught.value)
    result = runner.resume(arn, first=True)
    assert (result.status, result.result) == ("SUCCEEDED", sum(range(10)))
    assert runs == list(range(10))


def test_map_stops_admitting_branches_near_the_deadline():
    """A map started close to the deadline lets running branches finish, then stops."""
    clock = SteppingClock()

    @durable_execution
    def handler(event, context):
        def item(ctx, x, i, xs):
            clock.elapsed += 1.0
            return ctx.step(lambda _: x, name="item")

        return context.map(list(range(20)), item, config=MapConfig(max_concurrency=1)).get_results()

    service = LocalDurableService(clock)
    runner = DurableTestRunner(handler, service=service, clock=clock)
    arn = runner.start()
    with pytest.raises(InvocationError):
        run_invocation(
            handler,
            service.invocation_event(arn),
            _context(clock, 5.0),
            client=service,
            clock=clock,
        )
    items = [op for op in service.operations(arn) if op["Type"] == "STEP"]
    assert 0 < len(items) < 20
    assert all(op["Status"] == "SUCCEEDED" for op in items)


def test_no_deadline_without_a_lambda_context(make_runner):
    """Without a Lambda context (or one without a deadline) nothing is cut short."""

    @durable_execution
    def handler(event, context):
        return context.step(lambda _: "ok", name="s")

    assert make_runner(handler).run().result == "ok"


def _context(clock, timeout):
    class Context:
        def get_remaining_time_in_millis(self):
            return int((timeout - clock.monotonic()) * 1000)

    return Context()
