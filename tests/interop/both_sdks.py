"""Workflows written once for both SDKs, and the namespace each SDK gives them."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import aws_durable_execution_sdk_python as official
from aws_durable_execution_sdk_python import config as official_config
from aws_durable_execution_sdk_python import retries as official_retries
from aws_durable_execution_sdk_python import waits as official_waits

import durable_exec


def sdk_namespace(name: str) -> types.SimpleNamespace:
    """The names a workflow needs, from one SDK."""
    if name == "durable_exec":
        d = durable_exec
        return types.SimpleNamespace(
            name=name,
            durable_execution=d.durable_execution,
            Duration=d.Duration,
            StepConfig=d.StepConfig,
            ChildConfig=d.ChildConfig,
            MapConfig=d.MapConfig,
            NestingType=d.NestingType,
            RetryDecision=d.RetryDecision,
            RetryStrategyConfig=d.RetryStrategyConfig,
            create_retry_strategy=d.create_retry_strategy,
            JitterStrategy=d.JitterStrategy,
            WaitForConditionConfig=d.WaitForConditionConfig,
            WaitForConditionDecision=d.WaitForConditionDecision,
        )
    return types.SimpleNamespace(
        name=name,
        durable_execution=official.durable_execution,
        Duration=official_config.Duration,
        StepConfig=official_config.StepConfig,
        ChildConfig=official_config.ChildConfig,
        MapConfig=official_config.MapConfig,
        NestingType=official_config.NestingType,
        RetryDecision=official_retries.RetryDecision,
        RetryStrategyConfig=official_retries.RetryStrategyConfig,
        create_retry_strategy=official_retries.create_retry_strategy,
        JitterStrategy=official_config.JitterStrategy,
        WaitForConditionConfig=official_waits.WaitForConditionConfig,
        WaitForConditionDecision=official_waits.WaitForConditionDecision,
    )


# -- workflows, written once for both SDKs ---------------------------------------------

Workflow = Callable[[types.SimpleNamespace], Callable[[Any, Any], Any]]


def steps_wait_child_map(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
    def handler(event: Any, ctx: Any) -> Any:
        a = ctx.step(lambda _: 1, name="one")
        ctx.wait(sdk.Duration.from_seconds(2), name="pause")
        b = ctx.run_in_child_context(lambda c: c.step(lambda _: 2, name="inner"), name="child")
        items = ctx.map([1, 2], lambda c, x, i, xs: c.step(lambda _: x * 10, name="mul"), name="m")
        return a + b + sum(items.get_results())

    return handler


def retried_step(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
    attempts: list[int] = []

    def flaky(_: Any) -> str:
        attempts.append(1)
        if len(attempts) < 3:
            raise ValueError("not yet")
        return "ok"

    strategy = sdk.create_retry_strategy(
        sdk.RetryStrategyConfig(
            max_attempts=5,
            initial_delay=sdk.Duration.from_seconds(1),
            jitter_strategy=sdk.JitterStrategy.NONE,
        )
    )

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.step(flaky, name="flaky", config=sdk.StepConfig(retry_strategy=strategy))

    return handler


def failed_step(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
    def bad(_: Any) -> None:
        raise RuntimeError("nope")

    def handler(event: Any, ctx: Any) -> Any:
        ctx.step(lambda _: "fine", name="fine")
        ctx.wait(sdk.Duration.from_seconds(1), name="breather")
        ctx.step(
            bad,
            name="bad",
            config=sdk.StepConfig(retry_strategy=lambda e, a: sdk.RetryDecision.no_retry()),
        )

    return handler


def callbacks(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
    def handler(event: Any, ctx: Any) -> Any:
        callback = ctx.create_callback(name="approval")
        ctx.step(lambda _: "sent", name="notify")
        first = callback.result()
        second = ctx.wait_for_callback(lambda callback_id, c: None, name="second")
        return [first, second]

    return handler


def invoke_and_condition(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
    def strategy(state: int, attempt: int) -> Any:
        if state >= 3:
            return sdk.WaitForConditionDecision.stop_polling()
        return sdk.WaitForConditionDecision.continue_waiting(sdk.Duration.from_seconds(1))

    def handler(event: Any, ctx: Any) -> Any:
        result = ctx.invoke("other-fn", {"a": 1}, name="call")
        polled = ctx.wait_for_condition(
            lambda state, c: state + 1,
            config=sdk.WaitForConditionConfig(wait_strategy=strategy, initial_state=0),
            name="poll",
        )
        return [result, polled]

    return handler


def parallel_and_flat_map(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
    def handler(event: Any, ctx: Any) -> Any:
        branches = ctx.parallel(
            [lambda c: c.step(lambda _: 1, name="a"), lambda c: c.step(lambda _: 2, name="b")],
            name="par",
        )
        flat = ctx.map(
            [1, 2, 3],
            lambda c, x, i, xs: c.step(lambda _: x, name="f"),
            name="flat",
            config=sdk.MapConfig(nesting_type=sdk.NestingType.FLAT),
        )
        return sum(branches.get_results()) + sum(flat.get_results())

    return handler


def wait_inside_child(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
    def child(c: Any) -> Any:
        c.step(lambda _: 1, name="before")
        c.wait(sdk.Duration.from_seconds(3), name="inner-wait")
        return c.step(lambda _: 2, name="after")

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(child, name="outer")

    return handler


def large_child_result(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
    def handler(event: Any, ctx: Any) -> Any:
        value = ctx.run_in_child_context(
            lambda c: c.step(lambda _: "x" * 300_000, name="big"), name="big-child"
        )
        ctx.wait(sdk.Duration.from_seconds(1), name="w")
        return len(value)

    return handler


def virtual_child(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
    def child(c: Any) -> Any:
        value = c.step(lambda _: 5, name="in-virtual")
        c.wait(sdk.Duration.from_seconds(1), name="virtual-wait")
        return value

    def handler(event: Any, ctx: Any) -> Any:
        return ctx.run_in_child_context(
            child, name="virtual", config=sdk.ChildConfig(is_virtual=True)
        )

    return handler


WORKFLOWS: dict[str, Workflow] = {
    "virtual-child": virtual_child,
    "steps-wait-child-map": steps_wait_child_map,
    "retried-step": retried_step,
    "failed-step": failed_step,
    "callbacks": callbacks,
    "invoke-and-condition": invoke_and_condition,
    "parallel-and-flat-map": parallel_and_flat_map,
    "wait-inside-child": wait_inside_child,
    "large-child-result": large_child_result,
}


STEP_KINDS = ["step", "wait", "child", "map", "flat", "virtual", "retry"]


def generated(program: list[str]) -> Workflow:
    """A workflow running ``program``: one operation of each kind named, in order."""

    def build(sdk: types.SimpleNamespace) -> Callable[[Any, Any], Any]:
        failures: dict[int, int] = {}
        no_jitter = sdk.create_retry_strategy(
            sdk.RetryStrategyConfig(
                max_attempts=3,
                initial_delay=sdk.Duration.from_seconds(1),
                jitter_strategy=sdk.JitterStrategy.NONE,
            )
        )

        def flaky(index: int) -> Callable[[Any], int]:
            def body(_: Any) -> int:
                failures[index] = failures.get(index, 0) + 1
                if failures[index] == 1:
                    raise ValueError("first attempt fails")
                return index

            return body

        def handler(event: Any, ctx: Any) -> Any:
            total = 0
            for index, kind in enumerate(program):
                name = f"{kind}-{index}"
                if kind == "step":
                    total += ctx.step(lambda _, i=index: i, name=name)
                elif kind == "wait":
                    ctx.wait(sdk.Duration.from_seconds(1 + index), name=name)
                elif kind == "child":
                    total += ctx.run_in_child_context(
                        lambda c, i=index: c.step(lambda _: i, name="in-child"), name=name
                    )
                elif kind in ("map", "flat"):
                    nesting = sdk.NestingType.FLAT if kind == "flat" else sdk.NestingType.NESTED
                    batch = ctx.map(
                        [index, index + 1],
                        lambda c, x, i, xs: c.step(lambda _: x, name="item"),
                        name=name,
                        config=sdk.MapConfig(nesting_type=nesting),
                    )
                    total += sum(batch.get_results())
                elif kind == "virtual":

                    def virtual(c: Any, i: int = index) -> int:
                        value = c.step(lambda _: i, name="in-virtual")
                        c.wait(sdk.Duration.from_seconds(1), name="virtual-wait")
                        return int(value)

                    total += ctx.run_in_child_context(
                        virtual, name=name, config=sdk.ChildConfig(is_virtual=True)
                    )
                else:
                    total += ctx.step(
                        flaky(index), name=name, config=sdk.StepConfig(retry_strategy=no_jitter)
                    )
            return total

        return handler

    return build
