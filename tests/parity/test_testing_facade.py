"""durable_exec.testing.runner: the official testing API on durable_exec, and its time model.

The official runner skips waits but lets timeouts run in real time; this one
skips both, measuring timeouts in blocked time (time the execution can only wait
for the test). These tests pin that model and the API's edges.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec import (
    CallbackConfig,
    CallbackTimeoutError,
    Duration,
    InvocationError,
    InvokeError,
    ValidationError,
    durable_execution,
)
from durable_exec.execution import InvocationStatus
from durable_exec.testing.exceptions import (
    DurableFunctionsTestError,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from durable_exec.testing.execution import ExecutionStatus
from durable_exec.testing.runner import DurableFunctionTestRunner


@durable_execution
def echo(event, context):
    return {"event": event, "arn": context.lambda_context.invoked_function_arn}


@durable_execution
def long_wait(event, context):
    context.wait(Duration.from_hours(2), name="two hours")
    return "done"


@durable_execution
def one_callback(event, context):
    timeout = Duration.from_seconds(event["timeout"]) if event.get("timeout") else Duration()
    callback = context.create_callback(name="answer", config=CallbackConfig(timeout=timeout))
    try:
        return callback.result()
    except CallbackTimeoutError:
        return "timed out"


@durable_execution
def second_callback_after_a_timeout(event, context):
    first = context.create_callback(name="first", config=CallbackConfig(timeout=Duration(1)))
    with contextlib.suppress(CallbackTimeoutError):
        first.result()
    return context.create_callback(name="second").result()


class TestTime:
    def test_waits_do_not_count_against_the_execution_timeout(self):
        """A two-hour wait passes within a five-second execution timeout, as officially."""
        with DurableFunctionTestRunner(handler=long_wait) as runner:
            result = runner.run(execution_timeout=5)
        assert (result.status, json.loads(result.result)) == (InvocationStatus.SUCCEEDED, "done")

    def test_an_unanswered_callback_times_the_execution_out(self):
        """With no answer, the execution times out after its timeout of blocked time."""
        with DurableFunctionTestRunner(handler=one_callback) as runner:
            arn = runner.run_async(input={}, execution_timeout=3)
            result = runner.wait_for_result(arn, timeout=10)
        assert (result.status, result.execution_status) == (
            InvocationStatus.FAILED,
            ExecutionStatus.TIMED_OUT,
        )
        assert result.error.message == "Execution timed out after 3 seconds."

    def test_run_gives_up_when_its_timeout_ends_first(self):
        """run() raises TimeoutError when its own timeout and the execution's end together."""
        with DurableFunctionTestRunner(handler=one_callback) as runner, pytest.raises(TimeoutError):
            runner.run(input={}, execution_timeout=2)

    def test_a_callback_timeout_passes_while_the_test_waits(self):
        """A callback's timeout fires within wait_for_result's timeout, not before it."""
        with DurableFunctionTestRunner(handler=one_callback) as runner:
            arn = runner.run_async(input={"timeout": 10}, execution_timeout=60)
            with pytest.raises(TimeoutError):
                runner.wait_for_result(arn, timeout=5)
            result = runner.wait_for_result(arn, timeout=10)
        assert json.loads(result.result) == "timed out"

    def test_wait_for_callback_waits_through_an_earlier_callback_timeout(self):
        """A callback created after another one timed out is found within the timeout."""
        with DurableFunctionTestRunner(handler=second_callback_after_a_timeout) as runner:
            arn = runner.run_async(input={}, execution_timeout=60)
            with pytest.raises(TimeoutError):
                runner.wait_for_callback(arn, name="second", timeout=0.5)
            callback_id = runner.wait_for_callback(arn, name="second", timeout=5)
            runner.send_callback_success(callback_id, b"late")
            result = runner.wait_for_result(arn)
        assert json.loads(result.result) == "late"


@durable_execution
def invoke_child(event, context):
    try:
        return context.invoke("child:live", event, name="child")
    except InvokeError as error:
        return ["failed", error.message]


class TestChildExecutions:
    def test_a_child_waits_without_using_its_timeout(self):
        """A chained child's two-hour wait passes within its default 120-second timeout."""
        with DurableFunctionTestRunner(handler=invoke_child) as runner:
            runner.register_durable_function("child", long_wait)
            result = runner.run(input={}, execution_timeout=30)
        assert json.loads(result.result) == "done"

    def test_a_child_waiting_for_the_test_times_out_in_blocked_time(self):
        """A chained child stuck on an unanswered callback times out after its timeout."""
        with DurableFunctionTestRunner(handler=invoke_child) as runner:
            runner.register_durable_function("child", one_callback, execution_timeout=5)
            result = runner.run(input={}, execution_timeout=30)
        assert result.status is InvocationStatus.SUCCEEDED
        outcome = json.loads(result.result)
        assert outcome[0] == "failed"
        assert result.get_invoke("child").status.value == "TIMED_OUT"


class TestCallbacks:
    def test_a_named_callback_that_completed_is_an_error(self):
        """wait_for_callback on a completed callback raises DurableFunctionsTestError."""
        with DurableFunctionTestRunner(handler=one_callback) as runner:
            arn = runner.run_async(input={}, execution_timeout=60)
            runner.send_callback_success(runner.wait_for_callback(arn), b"ok")
            runner.wait_for_result(arn)
            with pytest.raises(DurableFunctionsTestError, match="finished already"):
                runner.wait_for_callback(arn, name="answer")

    def test_history_events_expose_callback_ids(self):
        """get_execution_history's events read like the official model's."""
        with DurableFunctionTestRunner(handler=one_callback) as runner:
            arn = runner.run_async(input={}, execution_timeout=60)
            callback_id = runner.wait_for_callback(arn, name="answer")
            events = runner.get_execution_history(arn).events
        started = [e for e in events if e.event_type == "CallbackStarted"]
        assert [e.callback_started_details.callback_id for e in started] == [callback_id]
        assert started[0].name == "answer"
        assert started[0].step_started_details is None


class TestInputAndNames:
    @given(
        value=st.none()
        | st.text()
        | st.integers()
        | st.dictionaries(st.text(), st.integers(), max_size=3)
    )
    def test_input_is_stored_as_the_official_runner_stores_it(self, value):
        """run()'s input is normalised exactly as the official runner normalises it."""
        from aws_durable_execution_sdk_python_testing.model import StartDurableExecutionInput

        from durable_exec.testing._compat_runner import normalized_input

        official = StartDurableExecutionInput(
            account_id="1",
            function_name="f",
            function_qualifier="$LATEST",
            execution_name="e",
            execution_timeout_seconds=1,
            execution_retention_period_days=1,
            input=value,
        ).get_normalized_input()
        assert normalized_input(value) == official

    @pytest.mark.parametrize(
        ("given_input", "event"),
        [({"a": 1}, {"a": 1}), ('{"a": 1}', {"a": 1}), ("plain text", "plain text"), (None, None)],
    )
    def test_the_handler_sees_the_input_as_officially(self, given_input, event):
        """Dicts, JSON strings, other strings and None reach the handler as officially."""
        with DurableFunctionTestRunner(handler=echo) as runner:
            result = runner.run(input=given_input, execution_timeout=10)
        assert json.loads(result.result)["event"] == event

    def test_runs_with_the_default_name_are_separate_executions(self):
        """Every run() is a new execution, though all use the default execution name."""
        with DurableFunctionTestRunner(handler=echo) as runner:
            first = runner.run_async(input={"n": 1})
            second = runner.run_async(input={"n": 1})
            assert first != second
            assert json.loads(runner.wait_for_result(second).result)["event"] == {"n": 1}

    def test_the_region_reaches_the_lambda_context(self):
        """The runner's region is the one Lambda's context reports."""
        with DurableFunctionTestRunner(handler=echo, region="eu-central-1") as runner:
            result = runner.run(input={}, execution_timeout=10)
        assert ":eu-central-1:" in json.loads(result.result)["arn"]

    def test_timeout_is_a_deprecated_name(self):
        """run(timeout=...) still works and warns, as the official runner does."""
        with (
            DurableFunctionTestRunner(handler=echo) as runner,
            pytest.warns(DeprecationWarning, match="deprecated"),
        ):
            result = runner.run(input={}, timeout=10)
        assert result.status is InvocationStatus.SUCCEEDED


@durable_execution
def keeps_raising(event, context):
    context.step(lambda _: 1, name="before")
    raise InvocationError("transient trouble")


class TestInvocationErrors:
    def test_a_handler_that_keeps_raising_fails_after_five_invocations(self):
        """As with the official runner: five invocations, then FAILED with the raised error."""
        with DurableFunctionTestRunner(handler=keeps_raising) as runner:
            arn = runner.run_async(input={})
            result = runner.wait_for_result(arn)
            invocations = [
                e
                for e in runner.get_execution_history(arn).events
                if e.event_type == "InvocationCompleted"
            ]
        assert (result.status, result.execution_status) == (
            InvocationStatus.FAILED,
            ExecutionStatus.FAILED,
        )
        assert result.error.type == "aws_durable_execution_sdk_python.exceptions.InvocationError"
        assert result.error.message == "transient trouble"
        assert len(invocations) == 5


class TestRefusals:
    def test_unknown_and_blank_arns(self):
        """An unknown ARN is ResourceNotFoundException; a blank one is a parameter error."""
        with DurableFunctionTestRunner(handler=echo) as runner:
            with pytest.raises(ResourceNotFoundException):
                runner.wait_for_result("arn:nope")
            with pytest.raises(InvalidParameterValueException):
                runner.pause_execution(" ")

    @pytest.mark.parametrize(
        "kwargs",
        [{"max_invocation_page_bytes": 1024}, {"poll_interval": 0}, {"execution_timeout": -1}],
        ids=["page-bytes", "poll-interval", "execution-timeout"],
    )
    def test_options_it_cannot_honour_are_refused(self, kwargs):
        """An option the runner cannot honour is a ValidationError, never ignored."""
        with pytest.raises(ValidationError):
            DurableFunctionTestRunner(handler=echo, **kwargs)

    def test_another_account_is_refused(self):
        """The local service models one account; another is a ValidationError."""
        with DurableFunctionTestRunner(handler=echo) as runner, pytest.raises(ValidationError):
            runner.run_async(input={}, account_id="999999999999")

    def test_a_plain_function_is_refused(self):
        """The handler must be decorated with durable_exec's @durable_execution."""
        with pytest.raises(ValidationError, match="durable_execution"):
            DurableFunctionTestRunner(handler=lambda event, context: None)


class TestPauseAndRealTime:
    def test_a_paused_execution_waits_until_resumed(self):
        """While paused, waiting for the result times out; once resumed it completes."""
        with DurableFunctionTestRunner(handler=one_callback) as runner:
            arn = runner.run_async(input={}, execution_timeout=60)
            callback_id = runner.wait_for_callback(arn)
            runner.pause_execution(arn)
            runner.send_callback_success(callback_id, b"ok")
            with pytest.raises(TimeoutError):
                runner.wait_for_result(arn, timeout=5)
            runner.resume_execution(arn)
            assert json.loads(runner.wait_for_result(arn).result) == "ok"

    def test_real_time_runs_handlers_without_waits_at_once(self):
        """skip_time=False runs on real time: a handler without waits still completes."""
        with DurableFunctionTestRunner(handler=echo, skip_time=False) as runner:
            result = runner.run(input={"x": 1}, execution_timeout=10)
        assert json.loads(result.result)["event"] == {"x": 1}
