"""Workflows used for golden histories, written once for either SDK.

``build(sdk)`` takes a namespace holding the public names of an SDK
(``durable_exec``, or the official SDK's equivalents) and returns the handlers.
The same code recorded with the official SDK must replay on ``durable_exec``
without sending a single update: same ids, names, subtypes and encodings.
"""

from __future__ import annotations

import datetime
import decimal
from types import SimpleNamespace
from typing import Any

NAMES = [
    "steps_wait_child",
    "step_retries",
    "map_tolerated",
    "parallel_branches",
    "callback",
    "condition",
    "nested",
    "large_child",
]


def build(sdk: SimpleNamespace) -> dict[str, Any]:
    """Return ``{name: handler}`` built from ``sdk``'s names."""
    handlers: dict[str, Any] = {}

    @sdk.durable_step
    def add(step_context: Any, a: int, b: int) -> int:
        return a + b

    @sdk.durable_with_child_context
    def pack(context: Any, base: int) -> dict[str, Any]:
        label = context.step(lambda _: f"label-{base}", name="label")
        when = context.step(lambda _: datetime.date(2026, 3, 1), name="ship-date")
        return {"label": label, "when": when, "price": decimal.Decimal("19.99"), "dims": (1, 2)}

    @sdk.durable_execution
    def steps_wait_child(event: Any, context: Any) -> Any:
        total = context.step(add(event["a"], 5))
        context.wait(sdk.Duration.from_seconds(10), name="cool-off")
        packed = context.run_in_child_context(pack(total))
        return {"total": total, "label": packed["label"], "when": packed["when"].isoformat()}

    handlers["steps_wait_child"] = steps_wait_child

    retry = sdk.StepConfig(
        retry_strategy=sdk.create_retry_strategy(
            sdk.RetryStrategyConfig(
                max_attempts=3,
                initial_delay=sdk.Duration.from_seconds(2),
                jitter_strategy=sdk.JitterStrategy.NONE,
            )
        )
    )

    @sdk.durable_execution
    def step_retries(event: Any, context: Any) -> Any:
        def flaky(step_context: Any) -> str:
            if step_context.attempt < 3:
                raise ConnectionError(f"attempt {step_context.attempt} failed")
            return "third time lucky"

        return context.step(flaky, name="flaky", config=retry)

    handlers["step_retries"] = step_retries

    @sdk.durable_execution
    def map_tolerated(event: Any, context: Any) -> Any:
        def item(ctx: Any, x: int, index: int, items: Any) -> int:
            def work(_: Any) -> int:
                if x == 3:
                    raise ValueError(f"item {x} is bad")
                return x * x

            return ctx.step(
                work,
                name="square",
                config=sdk.StepConfig(
                    retry_strategy=sdk.create_retry_strategy(
                        sdk.RetryStrategyConfig(max_attempts=1)
                    )
                ),
            )

        batch = context.map(
            [1, 2, 3, 4, 5],
            item,
            name="squares",
            config=sdk.MapConfig(
                max_concurrency=1,
                completion_config=sdk.CompletionConfig(tolerated_failure_count=2),
            ),
        )
        return {"results": batch.get_results(), "failed": batch.failure_count}

    handlers["map_tolerated"] = map_tolerated

    @sdk.durable_execution
    def parallel_branches(event: Any, context: Any) -> Any:
        def slow(ctx: Any) -> str:
            ctx.wait(sdk.Duration.from_seconds(3), name="slow-wait")
            return "slow"

        batch = context.parallel(
            [sdk.ParallelBranch(slow, name="slow-branch"), lambda ctx: "fast"],
            name="fan",
            config=sdk.ParallelConfig(max_concurrency=1),
        )
        return batch.get_results()

    handlers["parallel_branches"] = parallel_branches

    @sdk.durable_execution
    def callback(event: Any, context: Any) -> Any:
        answer = context.wait_for_callback(
            lambda callback_id, ctx: None,
            name="approval",
            config=sdk.WaitForCallbackConfig(timeout=sdk.Duration.from_seconds(3600)),
        )
        return {"answer": answer}

    handlers["callback"] = callback

    @sdk.durable_execution
    def condition(event: Any, context: Any) -> Any:
        strategy = sdk.create_wait_strategy(
            sdk.WaitStrategyConfig(
                should_continue_polling=lambda state: state["n"] < 3,
                initial_delay=sdk.Duration.from_seconds(5),
                jitter_strategy=sdk.JitterStrategy.NONE,
            )
        )
        return context.wait_for_condition(
            lambda state, ctx: {"n": state["n"] + 1, "seen": ctx.attempt},
            sdk.WaitForConditionConfig(strategy, {"n": 0, "seen": 0}),
            name="poll",
        )

    handlers["condition"] = condition

    @sdk.durable_execution
    def nested(event: Any, context: Any) -> Any:
        def inner(ctx: Any) -> Any:
            batch = ctx.parallel(
                [
                    lambda c: c.map(
                        [1, 2], lambda cc, x, i, xs: x + 100, name="inner-map"
                    ).get_results(),
                    lambda c: c.step(lambda _: "side", name="side"),
                ],
                name="inner-parallel",
                config=sdk.ParallelConfig(max_concurrency=1),
            )
            return batch.get_results()

        return context.run_in_child_context(inner, name="outer")

    handlers["nested"] = nested

    @sdk.durable_execution
    def large_child(event: Any, context: Any) -> Any:
        def big(ctx: Any) -> str:
            parts = [ctx.step(lambda _: "x" * 100_000, name=f"part-{i}") for i in range(3)]
            return "".join(parts)

        value = context.run_in_child_context(
            big, name="big", config=sdk.ChildConfig(summary_generator=lambda v: f"{len(v)}")
        )
        return len(value)

    handlers["large_child"] = large_child
    return handlers


INPUTS: dict[str, Any] = {"steps_wait_child": {"a": 37}}
CALLBACK_ANSWERS: dict[str, str] = {"callback": '"approved"'}
