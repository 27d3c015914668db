"""A checkpoint call that never answers at the end of an invocation: bounded, never silent.

The final flush, the joins of the branch pools and the join of the checkpoint
thread share one budget that ends a fifth of the deadline's margin before
Lambda's timeout (without a deadline: ``SHUTDOWN_WITHOUT_DEADLINE`` seconds).
A call still in flight then cannot be interrupted: the invocation raises a
retryable InvocationError, and the checkpoint thread, once its call returns,
sends nothing more. Nothing durable is lost: the service keeps what it
acknowledged and the next invocation replays from there.

The API is faked at the botocore edge (``FaultInjectingClient``); calls block on
events, and the invocation's deadline runs on a clock the test can leap forward,
so the real waits stay a few hundredths of a second.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from durable_exec import (
    CompletionConfig,
    InvocationError,
    MapConfig,
    TerminationReason,
    durable_execution,
)
from durable_exec import _clock as clock_module
from durable_exec._checkpointer import BatcherConfig
from durable_exec._handler import run_invocation
from durable_exec.testing import (
    DurableTestRunner,
    FakeLambdaContext,
    Fault,
    FaultInjectingClient,
    LocalDurableService,
    VirtualClock,
)

TIMEOUT = 60.0  # Lambda's timeout in these tests: a 5 s margin, the last wait ends 1 s before
LEFT = 0.05  # real seconds of budget left when the handler returns
PROMPT = BatcherConfig(max_delay=0.0)  # queued updates leave at once: no real-time batching wait


class LeapingClock(VirtualClock):
    """A virtual clock whose monotonic time runs in real time, plus leaps the test makes."""

    def __init__(self) -> None:
        super().__init__()
        self.leaped = 0.0

    def monotonic(self) -> float:
        return super().monotonic() + self.leaped


def leap_to_the_end(clock: LeapingClock, context: FakeLambdaContext) -> None:
    """Leave ``LEFT`` seconds until the deadline's end (a fifth of the margin before timeout)."""
    margin = min(5.0, TIMEOUT * 0.2)
    remaining = context.get_remaining_time_in_millis() / 1000
    clock.leaped += remaining - margin * clock_module.RETURN_SHARE - LEFT


class Blocked:
    """Checkpoint calls carrying the operation ``name`` block until released."""

    def __init__(self, service: LocalDurableService, name: str) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.client = FaultInjectingClient(service)

        def block(_: Any) -> None:
            self.entered.set()
            assert self.release.wait(10)

        self.client.inject(
            Fault.delay(block, name="never-answers"),
            operation=FaultInjectingClient.CHECKPOINT,
            when=lambda call: any(u.get("Name") == name for u in call.updates),
        )

    def checkpoint_calls(self) -> int:
        return self.client.count(FaultInjectingClient.CHECKPOINT)


def checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("durable-checkpoint")]


@pytest.fixture
def released() -> Iterator[list[Blocked]]:
    """Blocked clients registered here are released when the test ends, whatever happened."""
    blocked: list[Blocked] = []
    yield blocked
    for b in blocked:
        b.release.set()
    for thread in checkpoint_threads():
        thread.join(10)


def two_recorded_times(
    clock: LeapingClock, blocked: Blocked, context: Any, seen: list[str] | None = None
) -> Any:
    """Record a time (its call never answers), then a second one queued behind it; return both.

    ``context.now()`` only queues its updates, so both reach the service through the
    checkpoint thread, and the handler returns with the first call still in flight.
    With a Lambda context, the handler first leaps to just before the deadline's end.
    The first time each invocation sees goes to ``seen``.
    """

    @durable_execution
    def handler(event: Any, ctx: Any) -> list[str]:
        first = ctx.now(name="first")
        if seen is not None:
            seen.append(first.isoformat())
        assert blocked.entered.wait(10)
        second = ctx.now(name="second")
        if context is not None:
            leap_to_the_end(clock, context)
        return [first.isoformat(), second.isoformat()]

    return handler


@pytest.mark.timeout(20)
def test_a_final_call_that_never_answers_ends_the_invocation_before_lambdas_timeout(released):
    """The flush and the joins stop at the budget's end; the retryable deadline error follows.

    Once the call returns, the thread ends without sending what was queued behind
    it, and the next invocation completes the execution from what the service
    acknowledged.
    """
    clock = LeapingClock()
    service = LocalDurableService(clock)
    blocked = Blocked(service, "first")
    released.append(blocked)
    context = FakeLambdaContext("f", timeout=TIMEOUT, clock=clock)
    seen: list[str] = []
    handler = two_recorded_times(clock, blocked, context, seen)
    runner = DurableTestRunner(handler, service=service, clock=clock)
    arn = runner.start()
    threads_before = set(checkpoint_threads())

    with pytest.raises(InvocationError) as caught:
        run_invocation(
            handler,
            service.invocation_event(arn),
            context,
            client=blocked.client,
            clock=clock,
            batcher=PROMPT,
        )
    left_ms = context.get_remaining_time_in_millis()

    error = caught.value
    assert error.is_retryable()
    assert error.termination_reason is TerminationReason.DEADLINE_APPROACHING
    assert "the checkpoint thread" in error.message
    assert left_ms > 0, "the invocation outlasted Lambda's timeout"
    [stuck] = set(checkpoint_threads()) - threads_before

    blocked.release.set()
    stuck.join(10)
    assert not stuck.is_alive()
    # The call in flight reached the service; what was queued behind it never left.
    assert blocked.checkpoint_calls() == 1
    names = {op.get("Name") for op in service.operations(arn)}
    assert "first" in names
    assert "second" not in names

    # The next invocation replays the acknowledged first time and records the second.
    service.record_invocation(arn, None, error=error)
    result = runner.resume(arn, first=True)
    assert result.status == "SUCCEEDED"
    assert result.result[0] == seen[0]
    assert seen[1:] == [seen[0]]
    assert {op.name for op in result.operations} >= {"first", "second"}


@pytest.mark.timeout(20)
def test_without_a_deadline_a_final_call_that_never_answers_raises_after_the_default_budget(
    released, monkeypatch
):
    """No Lambda context: the end still has a bound, and a stuck call is reported, not hung on."""
    monkeypatch.setattr(clock_module, "SHUTDOWN_WITHOUT_DEADLINE", LEFT)
    clock = LeapingClock()
    service = LocalDurableService(clock)
    blocked = Blocked(service, "first")
    released.append(blocked)
    handler = two_recorded_times(clock, blocked, None)
    arn = service.start_execution("f")

    with pytest.raises(InvocationError) as caught:
        run_invocation(
            handler,
            service.invocation_event(arn),
            None,
            client=blocked.client,
            clock=clock,
            batcher=PROMPT,
        )

    error = caught.value
    assert error.is_retryable()
    assert error.termination_reason is TerminationReason.INVOCATION_ERROR
    assert "the checkpoint thread" in error.message
    assert "no Lambda deadline" in error.message
    blocked.release.set()
    for thread in checkpoint_threads():
        thread.join(10)
    assert blocked.checkpoint_calls() == 1


@pytest.mark.timeout(20)
def test_without_a_deadline_a_branch_stuck_in_user_code_is_reported_not_waited_for(monkeypatch):
    """A branch left running by a failed map does not hang the end of a deadline-free invocation.

    The map fails (a checkpoint call is refused for good) while another branch
    blocks in user code; the pool join ends with the default budget and names it.
    """
    monkeypatch.setattr(clock_module, "SHUTDOWN_WITHOUT_DEADLINE", LEFT)
    clock = VirtualClock()
    service = LocalDurableService(clock)
    client = FaultInjectingClient(service)
    client.inject(
        Fault.kms(),
        operation=FaultInjectingClient.CHECKPOINT,
        when=lambda call: any(u.get("Name") == "doomed" for u in call.updates),
    )
    running = threading.Event()
    release = threading.Event()

    def item(ctx: Any, x: int, index: int, items: Any) -> str:
        if index == 0:
            assert running.wait(10)
            return ctx.step(lambda _: "never recorded", name="doomed")
        running.set()
        release.wait(10)
        return "late"

    @durable_execution
    def handler(event: Any, context: Any) -> Any:
        return context.map(
            [0, 1],
            item,
            name="fan",
            config=MapConfig(
                max_concurrency=2, completion_config=CompletionConfig(min_successful=1)
            ),
        ).get_results()

    arn = service.start_execution("f")
    try:
        with pytest.raises(InvocationError) as caught:
            run_invocation(handler, service.invocation_event(arn), None, client=client, clock=clock)
        error = caught.value
        assert error.is_retryable()
        assert "1 thread started by this invocation still running (durable-map" in error.message
    finally:
        release.set()
        for thread in threading.enumerate():
            if thread.name.startswith("durable"):
                thread.join(10)
