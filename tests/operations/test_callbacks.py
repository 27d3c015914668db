"""Behaviour of create_callback and wait_for_callback."""

from __future__ import annotations

import datetime
import json
from collections import Counter

import pytest

from durable_exec import (
    CallbackConfig,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    Duration,
    JsonSerDes,
    PassThroughSerDes,
    RetryPresets,
    SerDesError,
    ValidationError,
    WaitForCallbackConfig,
    durable_execution,
    durable_wait_for_callback,
)
from durable_exec._wire import OperationStatus


class TestCreateCallback:
    def test_result_suspends_until_the_callback_is_answered(self, make_runner):
        """result() ends the invocation; answering the callback lets the execution finish."""

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(name="approve")
            return {"id": callback.callback_id, "answer": callback.result()}

        runner = make_runner(handler)
        waiting = runner.run()
        assert waiting.status == "RUNNING"
        assert waiting.outputs == [{"Status": "PENDING"}]
        callback_id = runner.callback_id(waiting.arn, "approve")
        runner.send_callback_success(callback_id, "yes")
        done = runner.resume(waiting.arn)
        assert (done.status, done.result) == ("SUCCEEDED", {"id": callback_id, "answer": "yes"})

    def test_callback_id_is_stable_across_replays(self, make_runner):
        """Replaying create_callback returns the same id and sends nothing new."""
        ids = []

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(name="cb")
            ids.append(callback.callback_id)
            return callback.result()

        runner = make_runner(handler).on_callback("cb", result="done")
        result = runner.run()
        assert result.result == "done"
        assert len(ids) == 2
        assert ids[0] == ids[1]
        callback = result.get_callback("cb")
        assert (callback.status, callback.sub_type) == (OperationStatus.SUCCEEDED, "Callback")

    def test_external_failure_is_raised_from_result(self, make_runner):
        """A failure sent by the external system raises CallbackExternalError with its message."""
        caught = []

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(name="cb")
            try:
                callback.result()
            except CallbackExternalError as error:
                caught.append((error.message, error.data))
                return "handled"
            return "no"

        runner = make_runner(handler).on_callback(
            "cb",
            error={"ErrorType": "Rejected", "ErrorMessage": "manager said no", "ErrorData": "d"},
        )
        result = runner.run()
        assert result.result == "handled"
        assert caught[-1] == ("manager said no", "d")

    def test_timeout_raises_callback_timeout_error(self, make_runner, clock):
        """An unanswered callback with a timeout raises CallbackTimeoutError (virtual time)."""

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(
                name="cb", config=CallbackConfig(timeout=Duration.from_hours(24))
            )
            try:
                return callback.result()
            except CallbackTimeoutError:
                return "timed out"

        start = clock.now()
        result = make_runner(handler).run()
        assert result.result == "timed out"
        assert clock.now() - start >= 24 * 3600

    def test_missed_heartbeat_times_out(self, make_runner):
        """A callback whose heartbeat deadline passes times out even without a total timeout."""

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(
                name="cb", config=CallbackConfig(heartbeat_timeout=Duration.from_minutes(5))
            )
            try:
                return callback.result()
            except CallbackTimeoutError:
                return "no heartbeat"

        assert make_runner(handler).run().result == "no heartbeat"

    def test_heartbeats_keep_the_callback_alive(self, make_runner, clock):
        """Heartbeats push the heartbeat deadline back; the callback then succeeds."""

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(
                name="cb", config=CallbackConfig(heartbeat_timeout=Duration.from_minutes(5))
            )
            return callback.result()

        runner = make_runner(handler)
        first = runner.run(pause_on_callbacks=True)
        callback_id = runner.callback_id(first.arn, "cb")
        for _ in range(3):
            clock.advance(240)
            runner.send_callback_heartbeat(callback_id)
        runner.send_callback_success(callback_id, "alive")
        assert runner.resume(first.arn).result == "alive"

    def test_custom_serdes_decodes_the_result(self, make_runner):
        """A callback config's serdes decodes the raw result."""

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(
                name="cb", config=CallbackConfig(serdes=JsonSerDes())
            )
            return callback.result()["approved"]

        runner = make_runner(handler).on_callback("cb", result=json.dumps({"approved": True}))
        assert runner.run().result is True

    def test_undecodable_result_raises_serdes_error(self, make_runner):
        """A result the serdes cannot decode raises SerDesError naming the operation."""

        @durable_execution
        def handler(event, context):
            callback = context.create_callback(
                name="cb", config=CallbackConfig(serdes=JsonSerDes())
            )
            try:
                return callback.result()
            except SerDesError as error:
                return error.message

        result = make_runner(handler).on_callback("cb", result="not json").run()
        assert "cannot deserialise" in result.result

    @pytest.mark.parametrize(
        "config_kwargs",
        [
            {"timeout": datetime.timedelta(seconds=-1)},
            {"heartbeat_timeout": 3},
            {"timeout": Duration(100_000_000)},
        ],
    )
    def test_invalid_timeouts_are_rejected(self, config_kwargs):
        """Negative, mistyped or too-long timeouts raise ValidationError."""
        with pytest.raises(ValidationError):
            CallbackConfig(**config_kwargs)


class TestWaitForCallback:
    def test_submitter_receives_the_callback_id(self, make_runner):
        """The submitter runs once, in a step, with the callback's id."""
        submitted = []

        @durable_wait_for_callback
        def send_email(callback_id, wait_context, manager):
            submitted.append((callback_id, manager))

        @durable_execution
        def handler(event, context):
            return context.wait_for_callback(
                send_email("boss@example.com"), name="manager-approval"
            )

        runner = make_runner(handler).on_callback("manager-approval", result="approved")
        result = runner.run()
        assert (result.status, result.result) == ("SUCCEEDED", "approved")
        assert len(submitted) == 1
        assert submitted[0][1] == "boss@example.com"
        outer = result.get_context("manager-approval")
        names = sorted(op.name for op in result.children(outer))
        assert outer.sub_type == "WaitForCallback"
        assert names == ["manager-approval create callback id", "manager-approval submitter"]

    def test_pass_through_serdes_returns_the_raw_answer(self, make_runner):
        """With PassThroughSerDes the submitter's None result is stored as no payload."""

        @durable_execution
        def handler(event, context):
            return context.wait_for_callback(
                lambda callback_id, ctx: None,
                name="raw",
                config=WaitForCallbackConfig(serdes=PassThroughSerDes()),
            )

        result = make_runner(handler).on_callback("raw", result="as sent").run()
        assert (result.status, result.result) == ("SUCCEEDED", "as sent")
        assert result.get_step("raw submitter").result is None

    def test_failing_submitter_raises_callback_submitter_error(self, make_runner):
        """A submitter that fails for good raises CallbackSubmitterError."""
        attempts = Counter()

        def submitter(callback_id, wait_context):
            attempts["n"] += 1
            raise RuntimeError("mail server down")

        @durable_execution
        def handler(event, context):
            try:
                context.wait_for_callback(
                    submitter,
                    name="w",
                    config=WaitForCallbackConfig(retry_strategy=RetryPresets.transient()),
                )
            except CallbackSubmitterError as error:
                return error.message
            return "unexpected"

        result = make_runner(handler).run()
        assert result.result == "mail server down"
        assert attempts["n"] == 3

    def test_timeout_propagates_as_callback_timeout_error(self, make_runner):
        """A timed-out wait_for_callback raises CallbackTimeoutError, not a context error."""

        @durable_execution
        def handler(event, context):
            try:
                context.wait_for_callback(
                    lambda cid, ctx: None,
                    name="w",
                    config=WaitForCallbackConfig(timeout=Duration.from_hours(1)),
                )
            except CallbackTimeoutError:
                return "expired"
            return "answered"

        assert make_runner(handler).run().result == "expired"

    def test_replay_after_answer_does_not_resubmit(self, make_runner):
        """Once answered, replays return the stored result without calling the submitter."""
        calls = Counter()

        @durable_execution
        def handler(event, context):
            value = context.wait_for_callback(lambda cid, ctx: calls.update(["s"]), name="w")
            context.wait(Duration(1))
            return value

        result = make_runner(handler).on_callback("w", result="ok").run()
        assert (result.result, calls["s"]) == ("ok", 1)
