"""Oversized and odd payloads: a clear error naming the limit and the operation, never a retry loop.

Sizes are drawn around each limit (with multi-byte characters, so bytes and
characters differ). A value over its limit fails its operation with an error
whose message names the operation and the limit (a step raises the SerDesError
rebuilt from its FAIL record, an invoke payload PayloadSizeError); the
execution then ends as the workflow decides, in as many invocations as
without the oversized value (no invocation is retried for it). Results too
large for the output envelope, or for a child context's checkpoint, take
their documented detours. Error messages holding lone surrogates (JSON input
may decode to them) are recorded, escaped, instead of failing the checkpoint.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_exec import (
    Duration,
    PayloadSizeError,
    SerDesError,
    StepError,
    WaitForConditionConfig,
    WaitForConditionDecision,
    durable_execution,
)
from durable_exec.testing import DurableTestRunner, LocalDurableService, VirtualClock

FULL = os.environ.get("DURABLE_RELIABILITY_FULL") == "1"
EXAMPLES = 60 if FULL else 8
STEP_LIMIT = 1024 * 1024  # MAX_STEP_PAYLOAD
INVOKE_LIMIT = 1024 * 1024
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def text_of(size: int, wide: bool) -> str:
    """A JSON string value whose serialised form is about ``size`` bytes."""
    if wide:
        return "é" * max(0, (size - 2) // 2)  # json.dumps escapes: 6 bytes each
    return "x" * max(0, size - 2)


def runner_for(handler: Any) -> DurableTestRunner:
    clock = VirtualClock()
    return DurableTestRunner(handler, service=LocalDurableService(clock), clock=clock)


def no_invocation_raised(result: Any) -> None:
    """The oversized value cost no Lambda retry: no invocation raised."""
    assert all(o["Status"] != "ERROR" for o in result.outputs), result.outputs


@pytest.mark.timeout(120 if FULL else 60)
class TestStepResults:
    @SETTINGS
    @given(delta=st.integers(-64, 64), wide=st.booleans())
    def test_around_the_limit(self, delta, wide, figures):
        """At or under 1 MiB a step result is stored; over it the step fails naming both."""
        value = text_of(STEP_LIMIT + delta, wide)
        size = len(json.dumps(value).encode())

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            try:
                return len(context.step(lambda _: value, name="big"))
            except SerDesError as error:
                return error.message

        result = runner_for(handler).run()
        assert result.status == "SUCCEEDED"
        no_invocation_raised(result)
        if size <= STEP_LIMIT:
            assert result.result == len(value)
        else:
            assert "'big'" in result.result
            assert f"{STEP_LIMIT:,} bytes" in result.result
            assert f"{size:,} bytes" in result.result
            assert result.get_step("big").status.value == "FAILED"
        figures.add("payload-limits", "step-results")

    def test_unhandled_oversized_result_fails_the_execution_once(self):
        """An oversized result nobody catches fails the execution in one invocation."""

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            return context.step(lambda _: "x" * (STEP_LIMIT + 1), name="big")

        result = runner_for(handler).run()
        assert result.status == "FAILED"
        assert result.invocations == 1
        assert result.error is not None
        assert f"{STEP_LIMIT:,} bytes" in (result.error.message or "")


@pytest.mark.timeout(60)
class TestOtherOperations:
    def test_condition_state_over_the_limit(self):
        """A wait_for_condition state over 1 MiB fails the operation naming the limit."""

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            config = WaitForConditionConfig(
                lambda state, attempt: WaitForConditionDecision.stop_polling(),
                initial_state="",
            )
            try:
                context.wait_for_condition(
                    lambda state, ctx: "y" * (STEP_LIMIT + 10), config, name="grow"
                )
            except Exception as error:
                return str(error)
            return None

        result = runner_for(handler).run()
        no_invocation_raised(result)
        assert "'grow'" in result.result
        assert f"{STEP_LIMIT:,} bytes" in result.result

    def test_invoke_payload_over_the_limit(self):
        """A chained-invoke payload over 1 MiB fails before anything is sent."""

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            try:
                context.invoke("target:live", {"blob": "z" * INVOKE_LIMIT}, name="call")
            except PayloadSizeError as error:
                return error.message
            return None

        result = runner_for(handler).run()
        no_invocation_raised(result)
        assert "'call'" in result.result
        assert "1,048,576 bytes" in result.result

    def test_callback_answer_over_the_limit_is_refused_to_its_sender(self):
        """An answer over 1 MiB is refused to its sender, naming the limit; the callback waits."""
        from botocore.exceptions import ClientError

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            return context.create_callback(name="cb").result()

        runner = runner_for(handler)
        waiting = runner.run(pause_on_callbacks=True)
        assert waiting.status == "RUNNING"
        callback_id = runner.callback_id(waiting.arn, "cb")
        with pytest.raises(ClientError, match="1048576 bytes"):
            runner.send_callback_success(callback_id, "q" * (INVOKE_LIMIT + 1))
        runner.send_callback_success(callback_id, '"fits"')
        assert runner.resume(waiting.arn).result == '"fits"'

    def test_execution_result_over_the_response_limit_is_checkpointed(self):
        """A result too big for the response is checkpointed and returned empty; it is kept."""
        big = "r" * (6 * 1024 * 1024 - 20)  # over the 6 MiB - 50 response limit, within 6 MiB

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            return big

        result = runner_for(handler).run()
        assert result.status == "SUCCEEDED"
        assert result.outputs[-1] == {"Status": "SUCCEEDED", "Result": ""}
        assert result.result == big

    def test_execution_result_over_six_mebibytes_fails_once_naming_the_limit(self):
        """A result over the service's 6 MiB fails the execution at once, naming the limit."""

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            return "r" * (6 * 1024 * 1024)

        result = runner_for(handler).run()
        assert result.status == "FAILED"
        assert result.invocations == 1
        assert "6291456 bytes" in (result.error.message if result.error else "")

    def test_child_result_over_the_limit_is_rebuilt_on_replay(self):
        """A child context result over 256 KiB is not stored; replay rebuilds it from its steps."""

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            def child(ctx: Any) -> list[str]:
                return [ctx.step(lambda _, i=i: "c" * 100_000, name=f"part{i}") for i in range(3)]

            parts = context.run_in_child_context(child, name="assemble")
            context.wait(Duration(1), name="pause")  # forces a replay of the child
            return sum(len(p) for p in parts)

        result = runner_for(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", 300_000)
        assert result.get_context("assemble").replay_children is True


@pytest.mark.timeout(60)
class TestSurrogates:
    def test_step_error_with_a_lone_surrogate_is_retried(self):
        """A step error whose message holds a lone surrogate is recorded escaped and retried."""

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            def body(step_context: Any) -> str:
                if step_context.attempt == 1:
                    raise ValueError(f"bad input {event['text']}")
                return "ok"

            return context.step(body, name="s")

        result = runner_for(handler).run(json.loads('{"text": "\\ud800"}'))
        assert (result.status, result.result) == ("SUCCEEDED", "ok")
        no_invocation_raised(result)

    def test_child_error_with_a_lone_surrogate_is_recorded(self):
        """A child context failing with a lone surrogate in its message records that failure."""

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            def child(ctx: Any) -> None:
                raise RuntimeError("odd \udc80 byte")

            try:
                context.run_in_child_context(child, name="c")
            except Exception as error:
                return type(error).__name__
            return None

        result = runner_for(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", "ChildContextError")
        assert result.get_context("c").error is not None
        assert "\\udc80" in (result.get_context("c").error.message or "")

    @SETTINGS
    @given(text=st.text(alphabet=st.characters(categories=["Cs", "Ll", "So"]), min_size=1))
    def test_any_error_text_is_recorded(self, text, figures):
        """Whatever characters an error message holds, the failed step is recorded and raised."""

        @durable_execution
        def handler(event: Any, context: Any) -> Any:
            from durable_exec import RetryPresets, StepConfig

            def body(_: Any) -> None:
                raise ValueError(text)

            try:
                context.step(body, name="s", config=StepConfig(retry_strategy=RetryPresets.none()))
            except StepError:
                return "failed as recorded"
            return None

        result = runner_for(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", "failed as recorded")
        figures.add("payload-limits", "odd-error-texts")
