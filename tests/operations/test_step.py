"""Behaviour of context.step, driven through the public API and the in-process runner."""

from __future__ import annotations

import datetime
import decimal
import logging
from collections import Counter
from typing import Any

import pytest
from tenacity import retry_if_exception_type, stop_after_attempt, stop_after_delay, wait_fixed

from durable_exec import (
    DurableOperationError,
    Duration,
    JsonSerDes,
    NonDeterministicExecutionError,
    RetryDecision,
    RetryPolicy,
    RetryPresets,
    RetryStrategyConfig,
    SerDesError,
    StepConfig,
    StepContext,
    StepError,
    StepSemantics,
    create_retry_strategy,
    durable_execution,
    durable_step,
)
from durable_exec._wire import OperationStatus, OperationType
from durable_exec.testing import SimulatedCrash

STEP_ERROR = "aws_durable_execution_sdk_python.exceptions.StepError"


class TestFirstRun:
    def test_returns_the_step_result(self, make_runner):
        """A step's return value comes back from context.step and into the result."""

        @durable_step
        def add(step_context: StepContext, a: int, b: int) -> int:
            return a + b

        @durable_execution
        def handler(event, context):
            return context.step(add(event["a"], 2))

        result = make_runner(handler).run({"a": 40})
        assert (result.status, result.result) == ("SUCCEEDED", 42)

    def test_decorated_step_is_named_after_the_function(self, make_runner):
        """@durable_step names the operation after the function."""

        @durable_step
        def reserve_stock(step_context: StepContext) -> str:
            return "ok"

        @durable_execution
        def handler(event, context):
            return context.step(reserve_stock())

        result = make_runner(handler).run()
        op = result.get_step("reserve_stock")
        assert (op.status, op.sub_type, result.decoded(op)) == (
            OperationStatus.SUCCEEDED,
            "Step",
            "ok",
        )

    def test_lambda_steps_are_unnamed_unless_named(self, make_runner):
        """A plain callable records no name; an explicit name wins."""

        @durable_execution
        def handler(event, context):
            context.step(lambda _: 1)
            context.step(lambda _: 2, name="two")

        result = make_runner(handler).run()
        steps = [op for op in result.operations if op.type is OperationType.STEP]
        assert [op.name for op in steps] == [None, "two"]

    def test_first_run_returns_the_round_tripped_value(self, make_runner):
        """The first run returns what replay will return: the value after serialisation."""
        seen = []

        @durable_execution
        def handler(event, context):
            value = context.step(lambda _: (1, decimal.Decimal("1.5")), name="v")
            seen.append(value)
            context.wait(Duration(1))
            seen.append(context.step(lambda _: (1, decimal.Decimal("1.5")), name="v2"))
            return None

        make_runner(handler).run()
        assert seen[0] == (1, decimal.Decimal("1.5"))
        assert isinstance(seen[0], tuple)

    def test_start_and_succeed_share_one_api_call(self, make_runner):
        """With default semantics each sequential step costs one checkpoint call."""

        @durable_execution
        def handler(event, context):
            for i in range(20):
                context.step(lambda _, i=i: i, name=f"s{i}")
            return "done"

        result = make_runner(handler).run()
        assert result.status == "SUCCEEDED"
        assert result.api_calls == 20
        assert result.updates == 40


class TestReplay:
    def test_completed_steps_are_not_run_again(self, make_runner):
        """After a wait, replay returns stored step results without calling the body."""
        calls = Counter()

        @durable_step
        def work(step_context: StepContext, n: int) -> int:
            calls[n] += 1
            return n * 10

        @durable_execution
        def handler(event, context):
            a = context.step(work(1))
            context.wait(Duration.from_minutes(5))
            b = context.step(work(2))
            context.wait(Duration.from_days(300))
            return a + b

        result = make_runner(handler).run()
        assert (result.status, result.result, result.invocations) == ("SUCCEEDED", 30, 3)
        assert calls == {1: 1, 2: 1}

    def test_replayed_failure_raises_the_same_error(self, make_runner):
        """A step that failed for good raises an equal StepError on every replay."""
        errors = []

        @durable_execution
        def handler(event, context):
            try:
                context.step(
                    lambda _: (_ for _ in ()).throw(KeyError("missing")),
                    name="bad",
                    config=StepConfig(retry_strategy=RetryPresets.none()),
                )
            except StepError as error:
                errors.append((type(error), error.message, error.error_type))
            context.wait(Duration(2))
            return "recovered"

        result = make_runner(handler).run()
        assert result.result == "recovered"
        assert errors == [(StepError, "'missing'", "KeyError")] * 2

    def test_changing_the_code_between_invocations_fails_the_execution(self, make_runner):
        """A step replaced by another name at the same position is non-deterministic."""
        invocations = Counter()

        @durable_execution
        def handler(event, context):
            invocations["n"] += 1
            name = "first" if invocations["n"] == 1 else "renamed"
            context.step(lambda _: 1, name=name)
            context.wait(Duration(1))
            return "unreachable"

        result = make_runner(handler).run()
        assert result.status == "FAILED"
        assert result.error is not None
        assert result.error.type == (
            "aws_durable_execution_sdk_python.exceptions.NonDeterministicExecutionError"
        )
        assert "name: history has 'first', code asks for 'renamed'" in (result.error.message or "")

    def test_non_determinism_error_is_catchable_by_type(self):
        """NonDeterministicExecutionError is part of the public tree."""
        assert issubclass(NonDeterministicExecutionError, Exception)


class TestRetries:
    def test_default_strategy_retries_durably_until_success(self, make_runner):
        """A failing step is retried in later invocations; attempts count from 1."""
        attempts = []

        @durable_step
        def flaky(step_context: StepContext) -> str:
            attempts.append(step_context.attempt)
            if step_context.attempt < 3:
                raise ConnectionError("try again")
            return "ok"

        @durable_execution
        def handler(event, context):
            return context.step(flaky())

        result = make_runner(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", "ok")
        assert attempts == [1, 2, 3]
        assert result.invocations == 3
        assert result.get_step("flaky").attempt == 3

    def test_exhausted_retries_fail_the_execution_with_step_error(self, make_runner):
        """When the strategy gives up, StepError (official name) fails the execution."""

        @durable_execution
        def handler(event, context):
            return context.step(
                lambda _: 1 / 0,
                name="divide",
                config=StepConfig(
                    retry_strategy=create_retry_strategy(
                        RetryStrategyConfig(max_attempts=2, initial_delay=Duration(1))
                    )
                ),
            )

        result = make_runner(handler).run()
        assert result.status == "FAILED"
        assert result.error is not None
        assert (result.error.type, result.error.message) == (STEP_ERROR, "division by zero")
        step = result.get_step("divide")
        assert step.status is OperationStatus.FAILED
        assert step.error is not None
        assert step.error.type == "ZeroDivisionError"

    def test_retry_waits_the_strategy_delay_on_the_clock(self, make_runner, clock):
        """The retry delay is checkpointed and skipped by the virtual clock, never slept."""

        @durable_execution
        def handler(event, context):
            return context.step(
                lambda sc: 1 / (sc.attempt - 1),
                name="once",
                config=StepConfig(retry_strategy=lambda e, n: RetryDecision.retry(Duration(600))),
            )

        start = clock.now()
        result = make_runner(handler).run()
        assert result.result == 1.0
        assert clock.now() - start >= 600

    def test_retryable_error_types_filter_which_errors_retry(self, make_runner):
        """Errors outside retryable_error_types fail at once."""
        attempts = []

        def body(step_context: StepContext) -> Any:
            attempts.append(step_context.attempt)
            raise ValueError("permanent")

        @durable_execution
        def handler(event, context):
            return context.step(
                body,
                name="typed",
                config=StepConfig(
                    retry_strategy=create_retry_strategy(
                        RetryStrategyConfig(max_attempts=5, retryable_error_types=[ConnectionError])
                    )
                ),
            )

        result = make_runner(handler).run()
        assert (result.status, attempts) == ("FAILED", [1])

    def test_tenacity_policy_drives_durable_retries(self, make_runner):
        """A RetryPolicy of tenacity objects decides on the checkpointed attempt count."""
        attempts = []

        def body(step_context: StepContext) -> Any:
            attempts.append(step_context.attempt)
            raise ConnectionError("down")

        policy = RetryPolicy(
            stop=stop_after_attempt(3),
            wait=wait_fixed(30),
            retry=retry_if_exception_type(ConnectionError),
        )

        @durable_execution
        def handler(event, context):
            return context.step(body, name="p", config=StepConfig(retry_strategy=policy))

        result = make_runner(handler).run()
        assert (result.status, attempts) == ("FAILED", [1, 2, 3])

    def test_tenacity_stop_after_delay_measures_across_invocations(self, make_runner):
        """stop_after_delay counts from the first attempt, through checkpointed timestamps."""
        attempts = []

        def body(step_context: StepContext) -> Any:
            attempts.append(step_context.attempt)
            raise ConnectionError("down")

        policy = RetryPolicy(stop=stop_after_delay(100), wait=wait_fixed(40))

        @durable_execution
        def handler(event, context):
            return context.step(body, name="p", config=StepConfig(retry_strategy=policy))

        result = make_runner(handler).run()
        assert result.status == "FAILED"
        assert attempts == [1, 2, 3, 4]


class TestBrokenStrategies:
    @pytest.mark.parametrize(
        "strategy",
        [
            pytest.param(lambda error, attempts: 1 / 0, id="raises"),
            pytest.param(lambda error, attempts: "retry please", id="returns-no-decision"),
            pytest.param(
                RetryPolicy(wait=lambda state: state.no_such_attribute), id="policy-raises"
            ),
        ],
    )
    def test_the_users_error_stays_in_the_fail_record(self, make_runner, caplog, strategy):
        """A strategy that fails ends the step with the error it was given, and says so in a log."""
        seen = []

        @durable_execution
        def handler(event, context):
            try:
                context.step(
                    lambda _: (_ for _ in ()).throw(KeyError("sku-42")),
                    name="reserve",
                    config=StepConfig(retry_strategy=strategy),
                )
            except StepError as error:
                seen.append((error.error_type, error.message, type(error.__cause__).__name__))
            context.wait(Duration(1))
            return None

        with caplog.at_level(logging.ERROR):
            result = make_runner(handler).run()
        step = result.get_step("reserve")
        assert step.status is OperationStatus.FAILED
        assert step.error is not None
        assert (step.error.type, step.error.message) == ("KeyError", "'sku-42'")
        assert seen == [("KeyError", "'sku-42'", "DurableOperationError")] * 2
        logged = [r for r in caplog.records if "retry strategy" in r.getMessage()]
        assert len(logged) == 1
        assert "reserve" in logged[0].getMessage()


class TestSemantics:
    def test_at_most_once_step_is_never_run_twice_for_one_attempt(self, make_runner):
        """An interrupted at-most-once attempt goes to the retry strategy, not into the body."""
        runs = []
        crashed = []

        def body(step_context: StepContext) -> str:
            runs.append(step_context.attempt)
            if not crashed:
                crashed.append(True)
                raise SimulatedCrash
            return "charged"

        seen_errors = []

        def strategy(error: Exception, attempts: int) -> RetryDecision:
            seen_errors.append((type(error).__name__, attempts))
            return RetryDecision.retry(Duration(1))

        @durable_execution
        def handler(event, context):
            return context.step(
                body,
                name="charge",
                config=StepConfig(
                    retry_strategy=strategy, step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY
                ),
            )

        result = make_runner(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", "charged")
        assert runs == [1, 2]
        assert seen_errors == [("StepInterruptedError", 1)]

    def test_at_least_once_step_runs_again_after_a_crash(self, make_runner):
        """An interrupted at-least-once attempt simply runs again."""
        runs = []

        def body(step_context: StepContext) -> str:
            runs.append(step_context.attempt)
            if len(runs) == 1:
                raise SimulatedCrash
            return "done"

        @durable_execution
        def handler(event, context):
            return context.step(body, name="s")

        result = make_runner(handler).run()
        assert (result.status, runs) == ("SUCCEEDED", [1, 1])

    def test_interrupted_at_most_once_step_without_retries_fails(self, make_runner):
        """With no retries left, the interruption fails the step with StepError."""

        def body(step_context: StepContext) -> str:
            raise SimulatedCrash

        @durable_execution
        def handler(event, context):
            return context.step(
                body,
                name="once",
                config=StepConfig(
                    retry_strategy=RetryPresets.none(),
                    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
                ),
            )

        result = make_runner(handler).run()
        assert result.status == "FAILED"
        assert result.error is not None
        assert result.error.type == STEP_ERROR
        assert "was previously interrupted" in (result.error.message or "")


class TestSerDes:
    def test_unserialisable_result_fails_the_step_with_serdes_error(self, make_runner):
        """A result the serdes cannot encode fails with SerDesError naming the operation."""
        caught = []

        @durable_execution
        def handler(event, context):
            first = context.step(lambda _: "kept", name="before")
            try:
                context.step(lambda _: object(), name="bad")
            except SerDesError as error:
                caught.append(error.message)
            return first

        result = make_runner(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", "kept")
        assert "cannot serialise object" in caught[0]
        assert result.get_step("bad").status is OperationStatus.FAILED
        assert result.get_step("before").status is OperationStatus.SUCCEEDED

    def test_custom_serdes_is_used_on_first_run_and_replay(self, make_runner):
        """A step's serdes encodes the payload and decodes it the same way on replay."""
        values = []

        @durable_execution
        def handler(event, context):
            values.append(
                context.step(
                    lambda _: {"k": [1, 2]}, name="j", config=StepConfig(serdes=JsonSerDes())
                )
            )
            context.wait(Duration(1))
            return values[-1]

        result = make_runner(handler).run()
        assert result.get_step("j").result == '{"k": [1, 2]}'
        assert values == [{"k": [1, 2]}, {"k": [1, 2]}]

    def test_datetimes_survive_the_default_serdes(self, make_runner):
        """The default serdes round-trips datetimes, which plain JSON cannot."""
        when = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)

        @durable_execution
        def handler(event, context):
            value = context.step(lambda _: when, name="t")
            return value.isoformat()

        assert make_runner(handler).run().result == when.isoformat()


@pytest.mark.parametrize(
    ("semantics", "calls"),
    [
        (StepSemantics.AT_LEAST_ONCE_PER_RETRY, 1),
        (StepSemantics.AT_MOST_ONCE_PER_RETRY, 2),
    ],
)
def test_api_calls_per_step_by_semantics(make_runner, semantics, calls):
    """At-most-once pays a synchronous START; at-least-once sends START with the result."""

    @durable_execution
    def handler(event, context):
        return context.step(lambda _: 1, name="s", config=StepConfig(step_semantics=semantics))

    assert make_runner(handler).run().api_calls == calls


class TestLimits:
    def test_oversized_result_fails_the_step_naming_the_limit(self, make_runner):
        """A result over 1 MiB fails the step with SerDesError, on the first run as on replay.

        The FAIL record names the size and the limit; the error is rebuilt from it on
        every run (as the official SDK rebuilds any serdes failure), never a retry loop.
        """
        seen = []

        @durable_execution
        def handler(event, context):
            try:
                context.step(lambda _: "x" * 1_100_000, name="huge")
            except SerDesError as error:
                seen.append((type(error), error.message, type(error.__cause__)))
            context.wait(Duration(1), name="then-replay")
            return seen[-1][1]

        result = make_runner(handler).run()
        assert result.status == "SUCCEEDED"
        assert result.invocations == 2
        assert "'huge'" in result.result
        assert "1,048,576 bytes" in result.result
        assert result.get_step("huge").status is OperationStatus.FAILED
        assert seen[0] == seen[1]
        assert seen[0][0] is SerDesError
        assert seen[0][2] is DurableOperationError

    def test_huge_error_messages_are_cut_to_fit(self, make_runner):
        """An exception with a megabyte message is recorded, cut, instead of being refused."""

        @durable_execution
        def handler(event, context):
            return context.step(
                lambda _: (_ for _ in ()).throw(ValueError("e" * 1_000_000)),
                name="loud",
                config=StepConfig(retry_strategy=RetryPresets.none()),
            )

        result = make_runner(handler).run()
        assert result.status == "FAILED"
        assert result.error is not None
        assert len(result.error.message or "") < 20_000
        assert "characters cut" in (result.error.message or "")
