"""Short fake deadlines: the invocation stops before Lambda's timeout, flushed, and resumes later.

A Clock subclass whose ``monotonic()`` only moves when the test says so makes
"time spent" explicit: step bodies, map branches and slow checkpoint calls
advance it. Whatever the cut point, the invocation must end with the
DEADLINE_APPROACHING InvocationError (never be cut mid-checkpoint), every
update queued before the cut must be durable, no checkpoint thread may
outlive the invocation, and the next invocation must complete the execution
with the result a deadline-free run gives.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from durable_exec import (
    InvocationError,
    MapConfig,
    TerminationReason,
    durable_execution,
)
from durable_exec._handler import run_invocation
from durable_exec.testing import (
    DurableTestRunner,
    FakeLambdaContext,
    Fault,
    FaultInjectingClient,
    LocalDurableService,
    VirtualClock,
)

FULL = os.environ.get("DURABLE_RELIABILITY_FULL") == "1"
# Durable work stops at 80 % of the time (the margin is 20 %, at most 5 s). The
# sequential workflow checks the deadline every half second, alternately inside
# a child context (just after its START was queued) and between contexts.
# Timeouts are long enough that no body runs past the hard deadline: Lambda
# would kill such an invocation, which is the crash campaign's business.
CUTS = [(3.0, "inside"), (4.5, "between"), (5.5, "inside"), (8.5, "between")]
if FULL:
    CUTS += [(3.5, "between"), (6.0, "between"), (6.5, "inside"), (11.5, "inside")]
# (max_concurrency, timeout): the running round always ends before the hard deadline.
MAP_CUTS = [(1, 5.0), (1, 8.5), (4, 1.25), (4, 2.5)]
if FULL:
    MAP_CUTS += [(1, 6.0), (1, 11.0), (2, 2.5), (2, 5.0), (3, 2.5), (6, 1.25)]


class SteppingClock(VirtualClock):
    """A virtual clock whose monotonic time moves only when a test advances it."""

    def __init__(self) -> None:
        super().__init__()
        self.elapsed = 0.0
        self._elapsed_lock = threading.Lock()

    def monotonic(self) -> float:
        """Return the test-controlled elapsed time."""
        return self.elapsed

    def spend(self, seconds: float) -> None:
        """Let ``seconds`` of the invocation's time pass."""
        with self._elapsed_lock:
            self.elapsed += seconds

    def reach(self, elapsed: float) -> None:
        """Let time pass until ``elapsed`` (work done in parallel ends together)."""
        with self._elapsed_lock:
            self.elapsed = max(self.elapsed, elapsed)


class Context:
    """A Lambda context whose remaining time counts down the stepping clock."""

    def __init__(self, clock: SteppingClock, timeout: float) -> None:
        self._end = clock.monotonic() + timeout
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - self._clock.monotonic()) * 1000))


def sequential(clock: SteppingClock) -> Any:
    """Ten child contexts; each spends half a second, then runs a half-second step."""

    @durable_execution
    def handler(event: Any, context: Any) -> int:
        total = 0
        for i in range(10):

            def body(_: Any, i: int = i) -> int:
                clock.spend(0.5)
                return i

            def child(ctx: Any, body: Any = body, i: int = i) -> int:
                clock.spend(0.5)  # between the context's (queued) START and its step
                return ctx.step(body, name=f"s{i}")

            total += context.run_in_child_context(child, name=f"ctx{i}")
        return total

    return handler


def mapped(clock: SteppingClock, concurrency: int) -> Any:
    """A twelve-item map run in rounds: the items of one round take one second together."""

    @durable_execution
    def handler(event: Any, context: Any) -> list[int]:
        start = clock.monotonic()

        def item(ctx: Any, x: int, i: int, xs: Any) -> int:
            def body(_: Any) -> int:
                clock.reach(start + (i // concurrency + 1))
                return x * x

            return ctx.step(body, name="square")

        batch = context.map(
            list(range(12)), item, name="squares", config=MapConfig(max_concurrency=concurrency)
        )
        return batch.get_results()

    return handler


def cut_then_finish(
    handler: Any,
    clock: SteppingClock,
    timeout: float,
    *,
    client: Any = None,
) -> tuple[InvocationError, list[dict[str, Any]], Any]:
    """Run one invocation under ``timeout`` (it must hit the deadline), then finish the run.

    Returns:
        The deadline error, the service's operations right after the cut, and the
        finished run's result.
    """
    service = LocalDurableService(clock)
    api = client(service) if client is not None else service
    runner = DurableTestRunner(handler, service=service, clock=clock)
    arn = runner.start()
    with pytest.raises(InvocationError) as caught:
        run_invocation(
            handler, service.invocation_event(arn), Context(clock, timeout), client=api, clock=clock
        )
    leftovers = [t.name for t in threading.enumerate() if t.name.startswith("durable")]
    assert not leftovers, f"threads outlived the invocation: {leftovers}"
    after_cut = service.operations(arn)
    service.record_invocation(arn, None, error=caught.value)
    clock.elapsed = 0.0  # the next invocation starts with a fresh budget
    return caught.value, after_cut, runner.resume(arn, first=True)


def assert_deadline_error(error: InvocationError) -> None:
    """The error Lambda retries, saying why."""
    assert error.termination_reason is TerminationReason.DEADLINE_APPROACHING
    assert error.is_retryable()
    assert "before Lambda's timeout" in str(error)


@pytest.mark.timeout(60)
class TestSequentialWorkflow:
    @pytest.mark.parametrize(("timeout", "where"), CUTS)
    def test_cut_flushes_and_resumes(self, timeout, where, figures):
        """Cut anywhere in a sequence: queued context starts are durable, the rerun completes."""
        clock = SteppingClock()
        error, after_cut, result = cut_then_finish(sequential(clock), clock, timeout)
        assert_deadline_error(error)
        statuses = {op["Name"]: op["Status"] for op in after_cut if op["Type"] != "EXECUTION"}
        done = [i for i in range(10) if statuses.get(f"s{i}") == "SUCCEEDED"]
        assert done == list(range(len(done)))
        assert 0 < len(done) < 10
        assert f"s{len(done)}" not in statuses
        if where == "inside":
            # The context's START was only queued (asynchronously): the flush sent it.
            assert statuses.get(f"ctx{len(done)}") == "STARTED"
        else:
            assert f"ctx{len(done)}" not in statuses
        assert (result.status, result.result) == ("SUCCEEDED", sum(range(10)))
        figures.add("deadline", "sequential-cuts")


@pytest.mark.timeout(60)
class TestMap:
    @pytest.mark.parametrize(("concurrency", "timeout"), MAP_CUTS)
    def test_cut_inside_a_map(self, concurrency, timeout, figures):
        """A map cut by the deadline keeps its finished items; the next invocation completes it."""
        clock = SteppingClock()
        error, after_cut, result = cut_then_finish(mapped(clock, concurrency), clock, timeout)
        assert_deadline_error(error)
        batch = [op for op in after_cut if op.get("Name") == "squares"]
        assert [op["Status"] for op in batch] == ["STARTED"]  # flushed, not completed
        items = [op for op in after_cut if op["Type"] == "STEP"]
        assert 0 < len(items) < 12
        assert {op["Status"] for op in items} == {"SUCCEEDED"}
        assert (result.status, result.result) == ("SUCCEEDED", [x * x for x in range(12)])
        figures.add("deadline", "map-cuts")


@pytest.mark.timeout(60)
class TestSlowCheckpoint:
    @pytest.mark.parametrize("position", range(1, 11))
    @pytest.mark.parametrize("seconds", [0.5, 1.5])
    def test_slow_call(self, position, seconds, figures):
        """A checkpoint call eating the spare time ends the invocation cleanly at the next step."""
        clock = SteppingClock()
        calls: list[FaultInjectingClient] = []

        def slow(service: LocalDurableService) -> FaultInjectingClient:
            client = FaultInjectingClient(service)
            client.inject(Fault.delay(lambda _: clock.spend(seconds), name="slow"), at=position)
            calls.append(client)
            return client

        error, after_cut, result = cut_then_finish(sequential(clock), clock, 11.5, client=slow)
        assert_deadline_error(error)
        [client] = calls
        assert [i.fault for i in client.injections] == ["slow"]
        assert all(op["Status"] in ("SUCCEEDED", "STARTED") for op in after_cut)
        assert (result.status, result.result) == ("SUCCEEDED", sum(range(10)))
        figures.add("deadline", "slow-checkpoint-cuts")


@pytest.mark.timeout(30)
def test_a_blocked_call_cannot_hold_the_invocation_past_its_deadline(figures):
    """In real time, a checkpoint call that never answers ends the invocation at its deadline."""
    clock = VirtualClock()
    release = threading.Event()
    entered = threading.Event()

    class Blocking:
        def __init__(self, service: LocalDurableService) -> None:
            self.service = service

        def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
            entered.set()
            release.wait(20)
            return self.service.checkpoint_durable_execution(**kwargs)

        def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
            return self.service.get_durable_execution_state(**kwargs)

    @durable_execution
    def handler(event: Any, context: Any) -> str:
        return context.step(lambda _: "done", name="only")

    service = LocalDurableService(clock)
    arn = service.start_execution("f")
    context = FakeLambdaContext("f", timeout=0.5, clock=clock)
    try:
        with pytest.raises(InvocationError) as caught:
            run_invocation(
                handler,
                service.invocation_event(arn),
                context,
                client=Blocking(service),
                clock=clock,
            )
        assert entered.is_set()
        assert_deadline_error(caught.value)
        assert context.get_remaining_time_in_millis() < 200
    finally:
        release.set()
        for thread in threading.enumerate():
            if thread.name.startswith("durable-checkpoint"):
                thread.join(10)
    figures.add("deadline", "blocked-call")
