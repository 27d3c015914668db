"""Workflows that exercise every durable operation, for the emulator tests.

Each handler is deterministic (same input, same operations, same payloads), so
the differential test can run it on ``durable_exec.testing`` and on the emulator
and compare the histories. Durations are a second or two: the emulator tests
run on real time.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

from durable_exec import (
    CallbackConfig,
    CallbackExternalError,
    CallbackTimeoutError,
    ChildContextError,
    DurableContext,
    Duration,
    InvokeConfig,
    InvokeError,
    JitterStrategy,
    MapConfig,
    ParallelConfig,
    RetryStrategyConfig,
    StepConfig,
    StepContext,
    StepError,
    StepSemantics,
    WaitForCallbackConfig,
    WaitForCallbackContext,
    WaitForConditionCheckContext,
    WaitForConditionConfig,
    WaitStrategyConfig,
    create_retry_strategy,
    create_wait_strategy,
    durable_execution,
    durable_step,
    durable_with_child_context,
)

ONE_SECOND_RETRIES = create_retry_strategy(
    RetryStrategyConfig(
        max_attempts=3,
        initial_delay=Duration(1),
        max_delay=Duration(1),
        backoff_rate=1.0,
        jitter_strategy=JitterStrategy.NONE,
    )
)


# -- steps and retries -----------------------------------------------------------------------------


@durable_step
def flaky(step_context: StepContext, failures: int) -> str:
    """Fail the first ``failures`` attempts, then succeed."""
    if step_context.attempt <= failures:
        raise ConnectionError(f"attempt {step_context.attempt} timed out")
    return f"ok on attempt {step_context.attempt}"


@durable_execution
def steps_and_retries(event: dict, context: DurableContext) -> dict:
    """A plain step, a step that succeeds on its third attempt, one that runs out of attempts."""
    plain = context.step(lambda _: {"order": event["order"], "lines": [1, 2]}, name="load")
    retried = context.step(flaky(2), config=StepConfig(retry_strategy=ONE_SECOND_RETRIES))
    try:
        context.step(
            flaky(9), name="hopeless", config=StepConfig(retry_strategy=ONE_SECOND_RETRIES)
        )
    except StepError as error:
        hopeless = [error.error_type, error.message]
    return {"plain": plain, "retried": retried, "hopeless": hopeless}


@durable_execution
def fails(event: dict, context: DurableContext) -> None:
    """Fail the execution after one step."""
    context.step(lambda _: "done", name="before")
    raise ValueError(f"order {event['order']} is invalid")


# -- waits and child contexts ----------------------------------------------------------------------


@durable_with_child_context
def prepare(context: DurableContext, order: str) -> dict:
    """A child context with a step and a wait."""
    normalised = context.step(lambda _: order.upper(), name="normalise")
    context.wait(Duration(1), name="settle")
    return {"order": normalised}


def broken(context: DurableContext) -> None:
    """A child context that fails."""
    context.step(lambda _: 1, name="inside")
    raise KeyError("missing-sku")


@durable_execution
def wait_and_child(event: dict, context: DurableContext) -> dict:
    """A wait, a child context that waits, nested children, a failing child."""
    context.wait(Duration(1), name="cool-off")
    prepared = context.run_in_child_context(prepare(event["order"]))
    deep = context.run_in_child_context(
        lambda outer: outer.run_in_child_context(
            lambda inner: inner.step(lambda _: 42, name="deep-step"), name="inner"
        ),
        name="outer",
    )
    try:
        context.run_in_child_context(broken, name="broken")
    except ChildContextError as error:
        failure = [error.error_type, error.message]
    return {"prepared": prepared, "deep": deep, "broken": failure}


# -- callbacks -------------------------------------------------------------------------------------


def submit_review(callback_id: str, context: WaitForCallbackContext) -> None:
    """A submitter: a real one would hand ``callback_id`` to a reviewer."""
    context.logger.info("review requested: %s", callback_id)


@durable_execution
def callbacks(event: dict, context: DurableContext) -> dict:
    """A callback kept alive by heartbeats, a wait_for_callback, a callback that fails."""
    approval = context.create_callback(
        name="approve",
        config=CallbackConfig(timeout=Duration(60), heartbeat_timeout=Duration(3)),
    )
    approved = approval.result()
    review = context.wait_for_callback(
        submit_review, name="review", config=WaitForCallbackConfig(timeout=Duration(60))
    )
    rejection = context.create_callback(name="reject", config=CallbackConfig(timeout=Duration(60)))
    try:
        rejected = rejection.result()
    except CallbackExternalError as error:
        rejected = [error.error_type, error.message, error.data]
    return {"approve": approved, "review": review, "reject": rejected}


@durable_execution
def callback_timeout(event: dict, context: DurableContext) -> str:
    """A callback nobody answers times out on the service's clock."""
    callback = context.create_callback(name="late", config=CallbackConfig(timeout=Duration(1)))
    try:
        return str(callback.result())
    except CallbackTimeoutError as error:
        return f"timed out: {error.error_type}"


# -- chained invokes -------------------------------------------------------------------------------


@durable_execution
def counter(event: dict, context: DurableContext) -> dict:
    """A durable invoke target: a step, a wait, a step."""
    doubled = context.step(lambda _: event["n"] * 2, name="double")
    context.wait(Duration(1), name="breathe")
    return {"n": event["n"], "doubled": context.step(lambda _: doubled, name="report")}


def pricer(event: dict, lambda_context: object) -> int:
    """A plain invoke target."""
    if event["qty"] < 0:
        raise ValueError("negative quantity")
    return int(event["qty"]) * 5


@durable_execution
def invokes(event: dict, context: DurableContext) -> dict:
    """Invoke a durable target, a plain target and a failing plain target."""
    counted = context.invoke("counter:live", {"n": 3}, name="count")
    price = context.invoke("pricer", {"qty": 4}, name="price", config=InvokeConfig(tenant_id="t-1"))
    try:
        context.invoke("pricer", {"qty": -1}, name="bad-price")
    except InvokeError as error:
        bad = [error.error_type, error.message]
    return {"count": counted, "price": price, "bad": bad}


# -- wait_for_condition ----------------------------------------------------------------------------


def check_job(state: dict, context: WaitForConditionCheckContext) -> dict:
    """A poll: the job is done on the third look."""
    polls = state["polls"] + 1
    return {"polls": polls, "status": "DONE" if polls >= 3 else "RUNNING"}


POLL_EVERY_SECOND = create_wait_strategy(
    WaitStrategyConfig[dict](
        should_continue_polling=lambda state: state["status"] != "DONE",
        max_attempts=5,
        initial_delay=Duration(1),
        max_delay=Duration(1),
        backoff_rate=1.0,
        jitter_strategy=JitterStrategy.NONE,
    )
)


@durable_execution
def wait_for_condition(event: dict, context: DurableContext) -> dict:
    """Poll until the job is done: three checks, one second apart."""
    return context.wait_for_condition(
        check_job,
        WaitForConditionConfig(POLL_EVERY_SECOND, {"polls": 0, "status": "NEW"}),
        name="job",
    )


# -- map and parallel ------------------------------------------------------------------------------


def scale(context: DurableContext, item: int, index: int, items: Sequence[int]) -> int:
    """A map item that suspends on a wait between two steps."""
    scaled = context.step(lambda _: item * 10, name="scale")
    context.wait(Duration(1), name="pause")
    return context.step(lambda _: scaled + index, name="offset")


def quick(context: DurableContext) -> str:
    """A parallel branch with a short wait."""
    context.wait(Duration(1), name="short")
    return "quick"


def slow(context: DurableContext) -> str:
    """A parallel branch with a longer wait."""
    context.wait(Duration(2), name="long")
    return context.step(lambda _: "slow", name="finish")


@durable_execution
def map_and_parallel(event: dict, context: DurableContext) -> dict:
    """A map of three suspending items, two at a time, then two suspending parallel branches."""
    mapped = context.map([1, 2, 3], scale, name="items", config=MapConfig(max_concurrency=2))
    branches = context.parallel([quick, slow], name="branches", config=ParallelConfig())
    return {
        "map": mapped.get_results(),
        "map_reason": mapped.completion_reason.value,
        "parallel": branches.get_results(),
    }


# -- a process that dies ---------------------------------------------------------------------------


def _die_once(marker: pathlib.Path) -> None:
    """Kill this process the first time (the marker records it), as a crash would."""
    if not marker.exists():
        marker.write_text("died")
        os._exit(17)


@durable_execution
def crash_in_step(event: dict, context: DurableContext) -> list:
    """Each step's first attempt kills the process; the execution still completes."""
    markers = pathlib.Path(event["marker_dir"])

    def at_least_once(step_context: StepContext) -> str:
        _die_once(markers / "at-least-once")
        return f"at-least-once ran again as attempt {step_context.attempt}"

    def at_most_once(step_context: StepContext) -> str:
        _die_once(markers / "at-most-once")
        return f"at-most-once retried as attempt {step_context.attempt}"

    first = context.step(at_least_once, name="at-least-once")
    second = context.step(
        at_most_once,
        name="at-most-once",
        config=StepConfig(
            retry_strategy=ONE_SECOND_RETRIES, step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
        ),
    )
    return [first, second]


# -- sizes: paged state, a result too big for the Invoke response ----------------------------------


@durable_execution
def many_steps(event: dict, context: DurableContext) -> dict:
    """Enough operations that the invocation envelope is paged (with a small page size)."""
    padding = "x" * int(event.get("padding", 200))
    values = [
        context.step(lambda _, i=i: f"{i}:{padding}", name=f"s{i}")  # type: ignore[misc]
        for i in range(event["steps"])
    ]
    context.wait(Duration(1), name="replay-all")
    total = context.step(lambda _: sum(len(v) for v in values), name="total")
    return {"steps": len(values), "total": total}


@durable_execution
def large_result(event: dict, context: DurableContext) -> dict:
    """A result bigger than Lambda's 6 MB response: checkpointed, returned empty."""
    size = context.step(lambda _: int(event["megabytes"] * 1024 * 1024), name="size")
    return {"blob": "y" * size}


@durable_execution
def unknown_target(event: dict, context: DurableContext) -> list:
    """Invoke a function the service does not know."""
    try:
        context.invoke("nobody", {}, name="unknown")
    except InvokeError as error:
        return [error.error_type, error.message]
    return []


# -- faults in transit -----------------------------------------------------------------------------


@durable_execution
def charge(event: dict, context: DurableContext) -> dict:
    """Two steps; the fault tests break the first one's checkpoint call on the way."""
    charged = context.step(lambda _: f"charged {event['reference']}", name="charge")
    receipt = context.step(lambda _: f"receipt for {charged}", name="receipt")
    return {"charged": charged, "receipt": receipt}
