"""The end of an invocation: flush first, join every thread within one budget, never stay silent.

When the handler is done, what it queued is made durable before anything else;
then every map/parallel pool is joined, all threads sharing one time budget
that ends before Lambda's timeout; a thread still running after that (user code
stuck in an orphaned branch) makes the invocation raise a retryable
InvocationError, so no thread silently outlives it into the next warm start.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from durable_exec import (
    CompletionConfig,
    InvocationError,
    MapConfig,
    TerminationReason,
    durable_execution,
)
from durable_exec._handler import run_invocation
from durable_exec.testing import LocalDurableService, VirtualClock

STUCK = 20


class SteppingClock(VirtualClock):
    """A virtual clock whose monotonic time moves only when the test says so."""

    def __init__(self) -> None:
        super().__init__()
        self.elapsed = 0.0

    def monotonic(self) -> float:
        return self.elapsed


class Context:
    """A Lambda context counting down the stepping clock."""

    def __init__(self, clock: SteppingClock, timeout: float) -> None:
        self._end = clock.monotonic() + timeout
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._end - self._clock.monotonic()) * 1000))


def stuck_map(
    clock: SteppingClock,
    timeout: float,
    left: float,
    stuck: int,
    started: threading.Semaphore,
    release: threading.Event,
    then: Any = None,
) -> Any:
    """A map whose first item completes it while ``stuck`` others block in user code.

    The first item returns once the others are running, leaving ``left`` seconds
    of the invocation: the map waits that long for them, then stops at the deadline.
    ``then(ctx)``, if given, runs in each stuck branch before it blocks (and then
    moving the clock is its business).
    """

    def item(ctx: Any, x: int, index: int, items: Any) -> str:
        if index == 0:
            for _ in range(stuck):
                assert started.acquire(timeout=10)
            if then is None:
                clock.elapsed = timeout - left
            return "quick"
        started.release()
        if then is not None:
            then(ctx)
        release.wait(30)
        return "late"

    @durable_execution
    def handler(event: Any, context: Any) -> Any:
        batch = context.map(
            list(range(stuck + 1)),
            item,
            name="fan",
            config=MapConfig(
                max_concurrency=stuck + 1,
                completion_config=CompletionConfig(min_successful=1),
            ),
        )
        return batch.get_results()[0]

    return handler


def release_and_join(release: threading.Event) -> None:
    release.set()
    for thread in threading.enumerate():
        if thread.name.startswith("durable"):
            thread.join(10)


@pytest.mark.timeout(10)
def test_twenty_stuck_branches_share_one_budget_and_raise():
    """20 branches stuck past the deadline cost one small budget, not one second each.

    The invocation then raises the retryable deadline InvocationError naming the
    threads still running, instead of returning as if they had stopped.
    """
    clock = SteppingClock()
    started = threading.Semaphore(0)
    release = threading.Event()
    handler = stuck_map(clock, 60.0, 0.0, STUCK, started, release)
    service = LocalDurableService(clock)
    arn = service.start_execution("f")
    try:
        with pytest.raises(InvocationError) as caught:
            run_invocation(
                handler,
                service.invocation_event(arn),
                Context(clock, timeout=60.0),
                client=service,
                clock=clock,
            )
        assert caught.value.is_retryable()
        assert caught.value.termination_reason is TerminationReason.DEADLINE_APPROACHING
        assert f"{STUCK} threads" in caught.value.message
        assert sum(t.name.startswith("durable-map") for t in threading.enumerate()) == STUCK
    finally:
        release_and_join(release)


@pytest.mark.timeout(10)
def test_queued_updates_are_flushed_before_any_thread_is_joined(monkeypatch):
    """What is queued when the handler stops is sent before the first join begins."""
    clock = SteppingClock()
    started = threading.Semaphore(0)
    release = threading.Event()
    service = LocalDurableService(clock)
    order: list[str] = []
    first_done = threading.Event()

    queued = threading.Semaphore(0)

    def start_a_step(ctx: Any) -> None:
        # Once the map's first item is being checkpointed, queue a step's START
        # (asynchronously) and block in its body: that START must be flushed at the end.
        first_done.wait(10)

        def body(_: Any) -> None:
            queued.release()
            release.wait(30)

        ctx.step(body, name="slow")

    class Recording:
        def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
            names = [u.get("Name") for u in kwargs["Updates"]]
            if "map-item-0" in names:
                # Hold the first item's SUCCEED until the STARTs are queued; then the
                # invocation has half a second left.
                first_done.set()
                for _ in range(3):
                    assert queued.acquire(timeout=10)
                clock.elapsed = 9.5
            if "slow" in names:
                order.append("flush")
            return service.checkpoint_durable_execution(**kwargs)

        def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
            return service.get_durable_execution_state(**kwargs)

    join = threading.Thread.join

    def recording_join(thread: threading.Thread, timeout: float | None = None) -> None:
        if thread.name.startswith("durable-map") and "join" not in order:
            order.append("join")
        join(thread, timeout)

    monkeypatch.setattr(threading.Thread, "join", recording_join)
    handler = stuck_map(clock, 10.0, 0.5, 3, started, release, then=start_a_step)
    arn = service.start_execution("f")
    try:
        with pytest.raises(InvocationError):
            run_invocation(
                handler,
                service.invocation_event(arn),
                Context(clock, timeout=10.0),
                client=Recording(),
                clock=clock,
            )
        assert order == ["flush", "join"]
        slow = [op for op in service.operations(arn) if op.get("Name") == "slow"]
        assert len(slow) == 3
    finally:
        monkeypatch.undo()
        release_and_join(release)


@pytest.mark.parametrize("min_successful", [1, 2], ids=["map-complete", "map-incomplete"])
@pytest.mark.timeout(10)
def test_waits_for_running_branches_leave_the_final_flush_its_half_of_the_margin(
    min_successful: int,
):
    """Past half the margin before Lambda's timeout, a map stops waiting for its branches.

    The other half of the margin is the final flush's. Here the map's first item
    ends 2.4 s before the timeout (the margin is 5 s), while the second is still
    running and would end a second later: whether the map is complete (waiting
    only to record that branch) or still needs it, it does not wait, and the
    invocation ends with the retryable deadline error after flushing the first
    item, instead of spending the flush's time on the branch.
    """
    clock = SteppingClock()
    timeout = 25.0
    started = threading.Event()
    release = threading.Event()

    def item(ctx: Any, x: int, index: int, items: Any) -> str:
        if index == 0:
            assert started.wait(10)
            clock.elapsed = timeout - 2.4
            return "quick"
        started.set()
        release.wait(1.0)  # ends within the remaining 2.4 s, past the waits' cutoff
        return "late"

    @durable_execution
    def handler(event: Any, context: Any) -> Any:
        config: MapConfig[Any] = MapConfig(
            completion_config=CompletionConfig(min_successful=min_successful)
        )
        return context.map([0, 1], item, name="pair", config=config).get_results()

    service = LocalDurableService(clock)
    arn = service.start_execution("f")
    try:
        with pytest.raises(InvocationError) as caught:
            run_invocation(
                handler,
                service.invocation_event(arn),
                Context(clock, timeout=timeout),
                client=service,
                clock=clock,
            )
        assert caught.value.termination_reason is TerminationReason.DEADLINE_APPROACHING
        statuses = {op.get("Name"): op["Status"] for op in service.operations(arn)}
        assert statuses["pair"] == "STARTED"
        assert statuses["map-item-0"] == "SUCCEEDED"
    finally:
        release_and_join(release)
