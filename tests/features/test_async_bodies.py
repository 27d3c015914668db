"""Async step bodies: one SDK-owned event loop per invocation, closed before the handler returns."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from durable_exec import (
    Duration,
    MapConfig,
    RetryPresets,
    StepConfig,
    StepContext,
    ValidationError,
    durable_execution,
    durable_parallel_branch,
    durable_step,
)


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "durable-asyncio"]


def test_an_async_step_returns_its_result(make_runner):
    """An async def step body is awaited; its result is checkpointed like any other."""

    @durable_step
    async def double(step_context: StepContext, n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    @durable_execution
    def handler(event, context):
        return context.step(double(21))

    result = make_runner(handler).run()
    assert result.result == 42
    assert result.get_step("double").result == "42"


def test_one_loop_per_invocation_shared_by_steps_and_branches(make_runner):
    """Every async body of an invocation runs on the same loop, on its own thread."""
    seen: list[tuple[int, Any, str]] = []
    handler_threads: list[str] = []

    async def where(step_context: StepContext) -> int:
        seen.append((invocation[0], asyncio.get_running_loop(), threading.current_thread().name))
        return 1

    invocation = [0]

    async def item(context, value, index, items) -> int:
        seen.append((invocation[0], asyncio.get_running_loop(), threading.current_thread().name))
        return value

    @durable_execution
    def handler(event, context):
        invocation[0] += 1
        handler_threads.append(threading.current_thread().name)
        context.step(where, name="first")
        context.map([1, 2, 3], item, config=MapConfig(max_concurrency=3))
        context.wait(Duration(1))
        context.step(where, name="second")

    result = make_runner(handler).run()
    assert result.status == "SUCCEEDED"
    loops = {n: {id(loop) for i, loop, _ in seen if i == n} for n in (1, 2)}
    assert len(loops[1]) == 1  # first invocation: one loop for the step and all branches
    assert len(loops[2]) == 1
    assert loops[1] != loops[2]  # each invocation owns its own
    assert {name for _, _, name in seen} == {"durable-asyncio"}
    assert all(loop.is_closed() for _, loop, _ in seen)
    assert loop_threads() == []


def test_no_loop_unless_an_async_body_runs(make_runner):
    """Synchronous workflows never start a loop (asyncio is not even needed)."""
    started: list[int] = []

    @durable_execution
    def handler(event, context):
        context.step(lambda _: 1, name="sync")
        started.append(len(loop_threads()))

    make_runner(handler).run()
    assert started == [0]


def test_an_async_failure_is_retried_like_any_step(make_runner):
    """An exception from a coroutine goes to the step's retry strategy."""
    attempts: list[int] = []

    @durable_step
    async def flaky(step_context: StepContext) -> str:
        attempts.append(step_context.attempt)
        if step_context.attempt < 3:
            raise ConnectionError("reset")
        return "ok"

    @durable_execution
    def handler(event, context):
        return context.step(flaky())

    result = make_runner(handler).run()
    assert result.result == "ok"
    assert attempts == [1, 2, 3]


def test_the_deadline_cancels_a_coroutine_and_the_step_runs_again(make_runner):
    """A coroutine still running at the deadline is cancelled; the next invocation reruns it."""
    events: list[str] = []

    @durable_step
    async def slow(step_context: StepContext) -> str:
        if not events:
            events.append("started")
            try:
                await asyncio.Event().wait()  # never set: only the deadline ends it
            except asyncio.CancelledError:
                events.append("cancelled")
                raise
        return "done"

    @durable_execution
    def handler(event, context):
        return context.step(slow())

    result = make_runner(handler, invocation_timeout=0.5).run()
    assert result.result == "done"
    assert events == ["started", "cancelled"]
    assert result.invocations == 2
    assert loop_threads() == []


def test_a_stuck_branch_is_cancelled_at_the_deadline_and_no_thread_outlives_it(make_runner):
    """A map branch's coroutine still running at the deadline is cancelled; the map resumes."""
    cancelled: list[bool] = []

    async def item(context, value, index, items) -> int:
        if value == "stuck" and not cancelled:
            try:
                await asyncio.Event().wait()  # only the deadline ends it
            except asyncio.CancelledError:
                cancelled.append(True)
                raise
        return 1

    @durable_step
    async def warm_up(step_context: StepContext) -> int:  # the loop exists before the map's pool
        return 0

    @durable_execution
    def handler(event, context):
        context.step(warm_up())
        batch = context.map(["fast", "stuck"], item)
        return batch.success_count

    result = make_runner(handler, invocation_timeout=0.5).run()
    assert result.result == 2
    assert cancelled == [True]
    assert result.invocations == 2
    assert loop_threads() == []


def test_async_parallel_branches(make_runner):
    """Parallel branch functions may be async def."""

    @durable_parallel_branch("a")
    async def branch_a(context) -> str:
        await asyncio.sleep(0)
        return "a"

    async def branch_b(context) -> str:
        return "b"

    @durable_execution
    def handler(event, context):
        return context.parallel([branch_a(), branch_b]).get_results()

    assert make_runner(handler).run().result == ["a", "b"]


def test_starting_an_async_body_from_inside_another_is_refused(make_runner):
    """A durable call with an async body from inside a coroutine fails clearly, not by deadlock."""

    @durable_step
    async def inner(step_context: StepContext) -> int:
        return 1

    async def item(context, value, index, items) -> int:
        return context.step(inner(), config=StepConfig(retry_strategy=RetryPresets.none()))

    @durable_execution
    def handler(event, context):
        batch = context.map([1], item)
        return batch.get_errors()[0].message

    message = make_runner(handler).run().result
    assert "cannot be started from inside another async body" in message


def test_async_child_context_function_is_refused(make_runner):
    """run_in_child_context needs a synchronous function."""

    async def child(context) -> int:
        return 1

    @durable_execution
    def handler(event, context):
        with pytest.raises(ValidationError, match="synchronous function"):
            context.run_in_child_context(child)
        return "refused"

    assert make_runner(handler).run().result == "refused"
