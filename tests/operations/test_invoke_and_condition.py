"""Behaviour of context.invoke and context.wait_for_condition."""

from __future__ import annotations

from collections import Counter

import pytest

from durable_exec import (
    Duration,
    InvokeConfig,
    InvokeError,
    JitterStrategy,
    PassThroughSerDes,
    ValidationError,
    WaitForConditionConfig,
    WaitForConditionDecision,
    WaitForConditionError,
    WaitStrategyConfig,
    create_wait_strategy,
    durable_execution,
    durable_step,
)
from durable_exec._wire import OperationStatus


@durable_execution
def report_builder(event, context):
    """A durable target: two steps."""
    rows = context.step(lambda _: [1, 2, 3], name="load")
    return {"order": event["order"], "total": sum(rows)}


def plain_pricer(event, lambda_context):
    """A plain (non-durable) target."""
    if event["qty"] < 0:
        raise ValueError("negative quantity")
    return event["qty"] * 5


class TestInvoke:
    def test_durable_target_result_is_returned(self, make_runner):
        """Invoking a durable function suspends until it finishes, then returns its result."""

        @durable_execution
        def handler(event, context):
            return context.invoke("report-builder:live", {"order": "o-7"}, name="build-report")

        runner = make_runner(handler).register_function("report-builder", report_builder)
        result = runner.run()
        assert (result.status, result.result) == ("SUCCEEDED", {"order": "o-7", "total": 6})
        op = result.get_invoke("build-report")
        assert (op.sub_type, op.status) == ("ChainedInvoke", OperationStatus.SUCCEEDED)
        assert result.outputs[0] == {"Status": "PENDING"}

    def test_plain_target_result_is_returned(self, make_runner):
        """A plain function target is called once with the JSON payload."""

        @durable_execution
        def handler(event, context):
            return context.invoke("pricer", {"qty": 4}, config=InvokeConfig(tenant_id="t-1"))

        result = make_runner(handler).register_function("pricer", plain_pricer).run()
        assert result.result == 20

    def test_failed_target_raises_invoke_error_with_its_type(self, make_runner):
        """A failing target raises InvokeError carrying the target's error type."""

        @durable_execution
        def handler(event, context):
            try:
                context.invoke("pricer", {"qty": -1}, name="price")
            except InvokeError as error:
                return [error.message, error.error_type]
            return None

        result = make_runner(handler).register_function("pricer", plain_pricer).run()
        assert result.result == ["negative quantity", "ValueError"]

    def test_unknown_target_fails_the_invoke(self, make_runner):
        """Invoking an unregistered function raises InvokeError (resource not found)."""

        @durable_execution
        def handler(event, context):
            try:
                context.invoke("nobody", {})
            except InvokeError as error:
                return error.error_type
            return None

        assert make_runner(handler).run().result == "ResourceNotFoundException"

    def test_replay_returns_the_stored_result(self, make_runner):
        """After completion the target is not invoked again on replay."""
        calls = Counter()

        def counting(event, ctx):
            calls["n"] += 1
            return "v"

        @durable_execution
        def handler(event, context):
            value = context.invoke("counting", None)
            context.wait(Duration(1))
            return value

        result = make_runner(handler).register_function("counting", counting).run()
        assert (result.result, calls["n"]) == ("v", 1)

    @pytest.mark.parametrize("function_name", ["", "   ", "x" * 257, None])
    def test_bad_function_names_are_rejected(self, make_runner, function_name):
        """An empty, blank or over-long function name raises ValidationError; nothing is sent."""

        @durable_execution
        def handler(event, context):
            try:
                context.invoke(function_name, {})
            except ValidationError as error:
                return str(error)
            return None

        result = make_runner(handler).run()
        assert "function_name" in result.result
        assert result.api_calls == 0


@durable_step
def check_job(step_context, job_id):
    return "done"


class TestWaitForCondition:
    def test_polls_until_the_strategy_stops(self, make_runner):
        """Each check gets the previous state; the final state is returned."""
        seen = []

        def check(state, ctx):
            seen.append((state["n"], ctx.attempt))
            return {"n": state["n"] + 1}

        strategy = create_wait_strategy(
            WaitStrategyConfig(
                should_continue_polling=lambda s: s["n"] < 3,
                initial_delay=Duration(10),
                jitter_strategy=JitterStrategy.NONE,
            )
        )

        @durable_execution
        def handler(event, context):
            return context.wait_for_condition(
                check, WaitForConditionConfig(strategy, {"n": 0}), name="job"
            )

        result = make_runner(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", {"n": 3})
        assert seen == [(0, 1), (1, 2), (2, 3)]
        op = result.get_step("job")
        assert (op.sub_type, op.status) == ("WaitForCondition", OperationStatus.SUCCEEDED)
        assert result.invocations == 3

    def test_exhaustion_raises_wait_for_condition_error(self, make_runner):
        """Running out of attempts raises WaitForConditionError with the official message."""
        strategy = create_wait_strategy(
            WaitStrategyConfig(should_continue_polling=lambda s: True, max_attempts=2)
        )

        @durable_execution
        def handler(event, context):
            try:
                context.wait_for_condition(lambda s, c: s, WaitForConditionConfig(strategy, 1))
            except WaitForConditionError as error:
                return error.message
            return None

        result = make_runner(handler).run()
        assert result.result == (
            "wait_for_condition gave up after max_attempts=2 checks: should_continue_polling "
            "still returned True; raise max_attempts or check the polled state"
        )

    def test_a_raising_check_fails_the_operation(self, make_runner):
        """A check that raises fails the operation with WaitForConditionError."""

        def check(state, ctx):
            raise TimeoutError("status endpoint down")

        @durable_execution
        def handler(event, context):
            return context.wait_for_condition(
                check,
                WaitForConditionConfig(lambda s, n: WaitForConditionDecision.stop_polling(), 0),
                name="c",
            )

        result = make_runner(handler).run()
        assert result.status == "FAILED"
        assert result.error is not None
        assert result.error.type == (
            "aws_durable_execution_sdk_python.exceptions.WaitForConditionError"
        )
        assert result.get_step("c").error.type == "TimeoutError"

    def test_state_travels_in_the_retry_payload(self, make_runner):
        """Between checks the state is the step's stored result (the RETRY payload)."""

        @durable_execution
        def handler(event, context):
            return context.wait_for_condition(
                lambda s, c: s + [c.attempt],
                WaitForConditionConfig(
                    lambda s, n: (
                        WaitForConditionDecision.continue_waiting(Duration(5))
                        if n < 2
                        else WaitForConditionDecision.stop_polling()
                    ),
                    [],
                ),
                name="acc",
            )

        result = make_runner(handler).run()
        assert result.result == [1, 2]

    def test_an_empty_state_travels_too(self, make_runner):
        """A state serialised to an empty payload reaches the next check, not the initial one."""
        received = []

        @durable_execution
        def handler(event, context):
            def check(state, check_context):
                received.append(state)
                return ["", "done"][check_context.attempt - 1]

            return context.wait_for_condition(
                check,
                WaitForConditionConfig(
                    lambda s, n: (
                        WaitForConditionDecision.continue_waiting(Duration(5))
                        if n < 2
                        else WaitForConditionDecision.stop_polling()
                    ),
                    "start",
                    serdes=PassThroughSerDes(),
                ),
                name="empty",
            )

        result = make_runner(handler).run()
        assert result.result == "done"
        assert received == ["start", ""]

    def test_missing_config_is_a_validation_error(self, make_runner):
        """wait_for_condition without a config raises ValidationError."""

        @durable_execution
        def handler(event, context):
            try:
                context.wait_for_condition(lambda s, c: s, None)
            except ValidationError:
                return "invalid"
            return None

        assert make_runner(handler).run().result == "invalid"


def test_target_named_by_arn_is_found(make_runner):
    """A chained invoke naming its target by ARN reaches the function registered by name."""

    @durable_execution
    def handler(event, context):
        return context.invoke(
            "arn:aws:lambda:us-east-1:123456789012:function:report-builder:live", {"order": "o-1"}
        )

    result = make_runner(handler).register_function("report-builder", report_builder).run()
    assert result.result == {"order": "o-1", "total": 6}


def test_durable_child_waiting_on_a_callback_pauses_the_run(make_runner):
    """With pause_on_callbacks, a durable child's unanswered callback pauses the whole run."""

    @durable_execution
    def child(event, context):
        return context.create_callback(name="child-cb").result()

    @durable_execution
    def handler(event, context):
        return context.invoke("child:live", None, name="call-child")

    runner = make_runner(handler).register_function("child", child)
    paused = runner.run(pause_on_callbacks=True)
    assert paused.status == "RUNNING"
