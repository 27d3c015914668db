"""Behaviour of context.wait and context.run_in_child_context."""

from __future__ import annotations

import datetime
import inspect
import logging
from collections import Counter

import pytest

from durable_exec import (
    ChildConfig,
    ChildContextError,
    Duration,
    JsonSerDes,
    SerDesError,
    StepError,
    ValidationError,
    durable_execution,
    durable_with_child_context,
)
from durable_exec._ids import operation_id
from durable_exec._wire import OperationStatus, OperationType


class TestWait:
    def test_wait_suspends_then_continues(self, make_runner, clock):
        """A wait ends the invocation; the next one continues after it."""

        @durable_execution
        def handler(event, context):
            context.wait(Duration.from_days(365), name="a year")
            return "later"

        start = clock.now()
        result = make_runner(handler).run()
        assert (result.status, result.result, result.invocations) == ("SUCCEEDED", "later", 2)
        assert result.outputs[0] == {"Status": "PENDING"}
        assert clock.now() - start >= 365 * 86400
        wait = result.get_wait("a year")
        assert (wait.status, wait.sub_type) == (OperationStatus.SUCCEEDED, "Wait")

    def test_wait_accepts_a_timedelta(self, make_runner):
        """Every duration parameter also takes datetime.timedelta."""

        @durable_execution
        def handler(event, context):
            context.wait(datetime.timedelta(minutes=2), name="td")
            return True

        assert make_runner(handler).run().result is True

    @pytest.mark.parametrize(
        ("duration", "message"),
        [
            (Duration(0), "from 1 to"),
            (datetime.timedelta(seconds=-1), "cannot be negative"),
            (Duration(31_622_401), "from 1 to"),
            (5, "must be a Duration or datetime.timedelta"),
        ],
    )
    def test_invalid_waits_fail_before_any_checkpoint(self, make_runner, duration, message):
        """A wait outside 1 s - 366 days raises ValidationError and checkpoints nothing."""

        @durable_execution
        def handler(event, context):
            try:
                context.wait(duration)
            except ValidationError as error:
                return str(error)
            return "accepted"

        result = make_runner(handler).run()
        assert message in result.result
        assert result.api_calls == 0

    def test_fractional_seconds_round_up(self, make_runner, clock):
        """A wait of 1.2 s waits 2 s: never less than asked."""

        @durable_execution
        def handler(event, context):
            context.wait(datetime.timedelta(seconds=1.2), name="w")

        start = clock.now()
        make_runner(handler).run()
        assert clock.now() - start >= 2


class TestChildContext:
    def test_child_operations_are_nested_under_the_context(self, make_runner):
        """Operations in a child context carry its id as ParentId and hash from it."""

        @durable_with_child_context
        def ship(context, order: str) -> str:
            return context.step(lambda _: f"shipped {order}", name="label")

        @durable_execution
        def handler(event, context):
            return context.run_in_child_context(ship("o-1"))

        result = make_runner(handler).run()
        child = result.get_context("ship")
        step = result.get_step("label")
        assert result.result == "shipped o-1"
        assert child.sub_type == "RunInChildContext"
        assert step.parent_id == child.id
        assert step.id == operation_id(child.id, 1)

    def test_finished_child_is_not_run_again(self, make_runner):
        """On replay a succeeded child returns its stored result without running."""
        runs = Counter()

        @durable_execution
        def handler(event, context):
            def body(child):
                runs["child"] += 1
                return child.step(lambda _: 7, name="seven")

            value = context.run_in_child_context(body, name="c")
            context.wait(Duration(1))
            return value

        result = make_runner(handler).run()
        assert (result.result, runs["child"]) == (7, 1)

    def test_child_failure_raises_child_context_error(self, make_runner):
        """An error escaping the child is recorded and raised as ChildContextError."""
        seen = []

        @durable_execution
        def handler(event, context):
            def body(child):
                raise LookupError("no such order")

            try:
                context.run_in_child_context(body, name="c")
            except ChildContextError as error:
                seen.append((error.message, error.error_type))
            context.wait(Duration(1))
            return len(seen)

        result = make_runner(handler).run()
        assert result.result == 2
        assert seen == [("no such order", "LookupError")] * 2
        assert result.get_context("c").status is OperationStatus.FAILED

    def test_step_error_inside_child_is_recorded_under_its_class(self, make_runner):
        """A StepError escaping a child is stored with the StepError type name."""

        @durable_execution
        def handler(event, context):
            def body(child):
                return child.step(lambda _: {}["k"], name="lookup", config=None)

            return context.run_in_child_context(body, name="c")

        result = make_runner(handler).run()
        context_op = result.get_context("c")
        assert context_op.error is not None
        assert context_op.error.type == "aws_durable_execution_sdk_python.exceptions.StepError"
        assert issubclass(StepError, Exception)

    def test_large_result_is_rebuilt_from_children_on_replay(self, make_runner):
        """A result over 256 KiB is not stored; replay re-runs the child to rebuild it."""
        big = "x" * (300 * 1024)
        runs = Counter()

        @durable_execution
        def handler(event, context):
            def body(child):
                runs["body"] += 1
                parts = [child.step(lambda _: big[:100_000], name=f"part-{i}") for i in range(3)]
                return "".join(parts) + big[300_000:]

            value = context.run_in_child_context(
                body, name="big", config=ChildConfig(summary_generator=lambda v: f"{len(v)} chars")
            )
            context.wait(Duration(1))
            return len(value)

        result = make_runner(handler).run()
        child = result.get_context("big")
        assert result.result == len(big)
        assert child.replay_children is True
        assert child.result == f"{len(big)} chars"
        assert runs["body"] == 2

    def test_large_result_goes_through_the_serdes_on_replay_too(self, make_runner):
        """A rebuilt large result is round-tripped as on the first run: JsonSerDes gives a list."""
        seen = []

        @durable_execution
        def handler(event, context):
            def body(child):
                return (child.step(lambda _: "x" * (300 * 1024), name="part"), 2)

            value = context.run_in_child_context(
                body, name="big", config=ChildConfig(serdes=JsonSerDes())
            )
            seen.append(value)
            context.wait(Duration(1))
            return None

        result = make_runner(handler).run()
        assert result.get_context("big").replay_children is True
        assert [type(v) for v in seen] == [list, list]
        assert seen[0] == seen[1]

    def test_a_result_the_serdes_refuses_fails_the_context(self, make_runner):
        """An unserialisable result is recorded as the context's failure (SerDesError), not lost."""
        seen = []

        @durable_execution
        def handler(event, context):
            try:
                context.run_in_child_context(lambda child: {1, 2}, name="bad")
            except SerDesError as error:
                seen.append(error.message)
            context.wait(Duration(1))
            return seen[-1]

        result = make_runner(handler).run()
        assert result.get_context("bad").status is OperationStatus.FAILED
        assert len(seen) == 2
        assert seen[0] == seen[1]
        assert "Unsupported type" in result.result


class TestLogger:
    def test_logs_are_not_repeated_on_replay(self, make_runner, caplog):
        """context.logger drops records while the context replays."""

        @durable_execution
        def handler(event, context):
            context.logger.info("before wait")
            context.wait(Duration(1))
            context.logger.info("after wait")
            return None

        with caplog.at_level(logging.INFO):
            make_runner(handler).run()
        messages = [r.getMessage() for r in caplog.records if "wait" in r.getMessage()]
        assert messages == ["before wait", "after wait"]

    def test_records_carry_execution_and_operation_fields(self, make_runner, caplog):
        """Step loggers add the ARN, operation id, name and attempt as extra fields."""

        @durable_execution
        def handler(event, context):
            context.step(lambda sc: sc.logger.info("inside"), name="logged")

        with caplog.at_level(logging.INFO):
            result = make_runner(handler).run()
        record = next(r for r in caplog.records if r.getMessage() == "inside")
        step = result.get_step("logged")
        assert (record.executionArn, record.operationId, record.operationName, record.attempt) == (
            result.arn,
            step.id,
            "logged",
            1,
        )

    def test_set_logger_redirects_records(self, make_runner):
        """set_logger swaps the target logger and keeps the enrichment."""
        records = []

        class Sink:
            def info(self, msg, *args, **kwargs):
                records.append((msg, kwargs["extra"]))

            debug = warning = error = exception = info

        @durable_execution
        def handler(event, context):
            context.set_logger(Sink())
            context.logger.info("hello")

        result = make_runner(handler).run()
        assert records == [("hello", {"executionArn": result.arn})]

    def test_records_point_at_the_callers_line(self, make_runner, caplog):
        """pathname, lineno and funcName of a record are the user's, not the SDK's."""
        lines = {}

        @durable_execution
        def handler(event, context):
            lines["context"] = inspect.currentframe().f_lineno + 1
            context.logger.warning("from the handler")

            def body(step_context):
                lines["step"] = inspect.currentframe().f_lineno + 1
                step_context.logger.warning("from the step")

            context.step(body, name="logged")

        with caplog.at_level(logging.INFO):
            make_runner(handler).run()
        where = {
            r.getMessage(): (r.pathname, r.lineno, r.funcName)
            for r in caplog.records
            if r.getMessage().startswith("from the")
        }
        assert where == {
            "from the handler": (__file__, lines["context"], "handler"),
            "from the step": (__file__, lines["step"], "body"),
        }

    def test_a_logger_with_its_own_stacklevel_points_at_the_caller_too(self, make_runner, caplog):
        """A set_logger target taking stacklevel (as Powertools' does) gets ours added."""

        class OwnFrame:
            """Like Powertools' Logger: its methods skip their own frame by default."""

            def __init__(self):
                self._logger = logging.getLogger("own-frame")

            def info(self, msg, *args, stacklevel=2, **kwargs):
                self._logger.info(msg, *args, stacklevel=stacklevel, **kwargs)

            debug = warning = error = exception = info

        lines = {}

        @durable_execution
        def handler(event, context):
            context.set_logger(OwnFrame())
            lines["call"] = inspect.currentframe().f_lineno + 1
            context.logger.info("through the wrapper")

        with caplog.at_level(logging.INFO):
            make_runner(handler).run()
        record = next(r for r in caplog.records if r.getMessage() == "through the wrapper")
        assert (record.pathname, record.lineno, record.funcName) == (
            __file__,
            lines["call"],
            "handler",
        )

    def test_is_replaying_flips_after_the_last_recorded_operation(self, make_runner):
        """is_replaying is True before recorded operations and False after them."""
        flags = []

        @durable_execution
        def handler(event, context):
            flags.append(("start", context.is_replaying()))
            context.step(lambda _: 1, name="s")
            context.wait(Duration(1))
            flags.append(("end", context.is_replaying()))

        make_runner(handler).run()
        assert flags == [("start", False), ("start", True), ("end", False)]


def test_operations_types_are_recorded(make_runner):
    """wait and child operations carry the official types and subtypes."""

    @durable_execution
    def handler(event, context):
        context.run_in_child_context(lambda c: c.wait(Duration(1), name="inner"), name="outer")

    result = make_runner(handler).run()
    assert result.get_context("outer").type is OperationType.CONTEXT
    assert result.get_wait("inner").parent_id == result.get_context("outer").id


class TestWithRetry:
    def test_block_is_retried_with_durable_backoff(self, make_runner):
        """with_retry runs the block again after a named durable wait, until it succeeds."""
        from durable_exec import (
            JitterStrategy,
            RetryStrategyConfig,
            WithRetryConfig,
            create_retry_strategy,
            with_retry,
        )

        @durable_execution
        def handler(event, context):
            def block(ctx, attempt):
                value = ctx.step(lambda _: attempt, name="try")
                if attempt < 3:
                    raise ValueError("again")
                return value

            strategy = create_retry_strategy(
                RetryStrategyConfig(max_attempts=5, jitter_strategy=JitterStrategy.NONE)
            )
            return with_retry(context, block, WithRetryConfig(retry_strategy=strategy), name="wr")

        result = make_runner(handler).run()
        assert result.result == 3
        waits = [op.name for op in result.operations if op.type is OperationType.WAIT]
        assert waits == ["wr-backoff-1", "wr-backoff-2"]

    def test_exhausted_block_raises_the_last_error(self, make_runner):
        """When the strategy gives up, the block's error fails the child context."""
        from durable_exec import RetryPresets, WithRetryConfig, with_retry

        @durable_execution
        def handler(event, context):
            def block(ctx, attempt):
                raise KeyError(attempt)

            try:
                with_retry(context, block, WithRetryConfig(retry_strategy=RetryPresets.none()))
            except ChildContextError as error:
                return error.error_type
            return None

        assert make_runner(handler).run().result == "KeyError"
