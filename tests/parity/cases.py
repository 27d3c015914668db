"""Workflows written once against the API both SDKs share; ``build(name, api)`` makes one.

``api`` is :func:`tests.parity.harness.official_api` or ``our_api``: the same names,
from one SDK or the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

CASES: dict[str, Callable[[Any], tuple[Any, Any]]] = {}


def case(func: Callable[[Any], tuple[Any, Any]]) -> Callable[[Any], tuple[Any, Any]]:
    CASES[func.__name__] = func
    return func


def build(name: str, api: Any) -> tuple[Any, Any]:
    """Return ``(handler, input)`` of case ``name`` built with ``api``."""
    return CASES[name](api)


@case
def virtual_child(api):
    @api.durable_with_child_context
    def virtual_block(ctx, base):
        first = ctx.step(lambda _: base + 1, name="inner-1")
        return ctx.step(lambda _: first * 2, name="inner-2")

    @api.durable_with_child_context
    def outer(ctx):
        return ctx.run_in_child_context(virtual_block(10), config=api.ChildConfig(is_virtual=True))

    @api.durable_execution
    def handler(event, context):
        top = context.run_in_child_context(
            virtual_block(1), config=api.ChildConfig(is_virtual=True)
        )
        nested = context.run_in_child_context(outer())
        return [top, nested, context.step(lambda _: "after", name="after")]

    return handler, None


@case
def virtual_child_failure(api):
    def fail(ctx):
        ctx.step(
            lambda _: int("not a number"),
            name="parse",
            config=api.StepConfig(retry_strategy=api.RetryPresets.none()),
        )

    @api.durable_execution
    def handler(event, context):
        try:
            context.run_in_child_context(fail, config=api.ChildConfig(is_virtual=True))
        except api.ChildContextError as error:
            return [type(error).__name__, error.error_type, str(error)]
        return "no error"

    return handler, None


@case
def virtual_child_with_wait(api):
    @api.durable_execution
    def handler(event, context):
        def body(ctx):
            ctx.wait(api.Duration.from_seconds(5), name="pause")
            return ctx.step(lambda _: "done", name="finish")

        return context.run_in_child_context(body, config=api.ChildConfig(is_virtual=True))

    return handler, None


def _fast_branch(index):
    def branch(ctx):
        return ctx.step(lambda _: index * 10, name=f"work-{index}")

    return branch


@case
def parallel_first_successful(api):
    @api.durable_execution
    def handler(event, context):
        batch = context.parallel(
            [_fast_branch(i) for i in range(3)],
            name="race",
            config=api.ParallelConfig(completion_config=api.CompletionConfig.first_successful()),
        )
        return batch.completion_reason.value

    return handler, None


@case
def map_min_successful(api):
    @api.durable_execution
    def handler(event, context):
        batch = context.map(
            list(range(10)),
            lambda ctx, item, index, items: ctx.step(lambda _: item + 100, name="square"),
            name="quorum",
            config=api.MapConfig(completion_config=api.CompletionConfig(min_successful=2)),
        )
        return batch.completion_reason.value

    return handler, None


@case
def map_fail_fast(api):
    def item(ctx, value, index, items):
        return ctx.step(
            lambda _: 1 // value,
            name="divide",
            config=api.StepConfig(retry_strategy=api.RetryPresets.none()),
        )

    @api.durable_execution
    def handler(event, context):
        batch = context.map([1, 0, 2, 4], item, name="divisions")
        return [batch.completion_reason.value, batch.failure_count]

    return handler, None
