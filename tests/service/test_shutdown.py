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
    durable_execution,
)
from durable_exec._handler import run_invocation
from durable_exec.testing import FakeLambdaContext, LocalDurableService, VirtualClock

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


class Crash(BaseException):
    """The handler dies (as a process would), leaving an update queued."""


def orphaning_map(started: threading.Semaphore, release: threading.Event) -> Any:
    """A map that completes on its first item while STUCK others are blocked in user code."""

    def item(ctx: Any, x: int, index: int, items: Any) -> str:
        if index == 0:
            for _ in range(STUCK):
                assert started.acquire(timeout=10)
            return "quick"
        started.release()
        release.wait(30)
        return "late"

    def run(context: Any) -> Any:
        return context.map(
            list(range(STUCK + 1)),
            item,
            name="fan",
            config=MapConfig(
                max_concurrency=STUCK + 1,
                completion_config=CompletionConfig(min_successful=1),
            ),
        )

    return run


def release_and_join(release: threading.Event) -> None:
    release.set()
    for thread in threading.enumerate():
        if thread.name.startswith("durable"):
            thread.join(10)


@pytest.mark.timeout(10)
def test_twenty_stuck_branches_share_one_budget_and_raise():
    """20 branches stuck past the deadline cost one small budget, not one second each.

    The invocation then raises a retryable InvocationError naming them instead of
    returning as if nothing were running.
    """
    clock = SteppingClock()
    started = threading.Semaphore(0)
    release = threading.Event()
    fan_out = orphaning_map(started, release)

    @durable_execution
    def handler(event: Any, context: Any) -> Any:
        batch = fan_out(context)
        clock.elapsed = 100.0  # the invocation's time is all spent
        return batch.get_results()[0]

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
        assert f"{STUCK} threads" in caught.value.message
        assert sum(t.name.startswith("durable-map") for t in threading.enumerate()) == STUCK
    finally:
        release_and_join(release)


@pytest.mark.timeout(10)
def test_queued_updates_are_flushed_before_the_joins():
    """What the handler queued is durable before any thread is waited for.

    Here the stuck branches are released only by the final checkpoint call:
    joining first would wait for them until the deadline.
    """
    clock = VirtualClock()
    started = threading.Semaphore(0)
    release = threading.Event()
    fan_out = orphaning_map(started, release)
    service = LocalDurableService(clock)

    class Releasing:
        """Passes calls on; a call carrying the child's START releases the branches."""

        def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
            if any(u.get("Name") == "last" for u in kwargs["Updates"]):
                release.set()
            return service.checkpoint_durable_execution(**kwargs)

        def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
            return service.get_durable_execution_state(**kwargs)

    @durable_execution
    def handler(event: Any, context: Any) -> Any:
        fan_out(context)

        def dies(child: Any) -> None:
            raise Crash  # after the child's START was queued (asynchronously)

        context.run_in_child_context(dies, name="last")

    arn = service.start_execution("f")
    try:
        with pytest.raises(Crash):
            run_invocation(
                handler,
                service.invocation_event(arn),
                FakeLambdaContext("f", timeout=60.0, clock=clock),
                client=Releasing(),
                clock=clock,
            )
        names = [op.get("Name") for op in service.operations(arn)]
        assert "last" in names
    finally:
        release_and_join(release)
