"""Members of the official classes behave as they do in the official SDK.

test_official_modules.py checks that every public member of an official class
exists here with the official parameters; these tests check what the members do,
through the public modules (compared with the official SDK where both run).
"""

from __future__ import annotations

import datetime
import logging

import pytest
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st

from durable_exec import Duration, durable_execution
from durable_exec.concurrency.models import (
    BatchCompletionError,
    BatchItem,
    BatchResult,
    CompletionReason,
)
from durable_exec.config import (
    BatchItemStatus,
    CallbackConfig,
    CompletionConfig,
    CompletionOutcome,
    ParallelConfig,
    WaitForCallbackConfig,
    complete_batch,
    continue_batch,
)
from durable_exec.exceptions import (
    CheckpointError,
    CheckpointErrorCategory,
    ChildContextError,
    DurableApiErrorCategory,
    DurableOperationError,
    StepError,
    SuspendExecution,
    ValidationError,
    register_operation_error,
)
from durable_exec.identifier import OperationIdNamespace
from durable_exec.lambda_service import ErrorObject
from durable_exec.logger import Logger
from durable_exec.serdes import ExtendedTypeSerDes
from durable_exec.testing import DurableTestRunner, FakeLambdaContext
from durable_exec.types import LambdaContext

OFFICIAL = "aws_durable_execution_sdk_python"


class AuditError(DurableOperationError):
    """A user's own operation error, registered for replay."""


register_operation_error(AuditError)


class TestErrorObjectFromException:
    def test_the_exception_can_be_passed_by_its_official_keyword(self):
        """from_exception(exception=...) records what the positional call records."""
        error = ValueError("bad input")
        assert ErrorObject.from_exception(exception=error) == ErrorObject.from_exception(error)
        assert ErrorObject.from_exception(exception=error).to_dict() == {
            "ErrorMessage": "bad input",
            "ErrorType": "ValueError",
        }


class TestCallbackTimeoutSeconds:
    @given(
        timeout=st.integers(min_value=0, max_value=10**6),
        heartbeat=st.integers(min_value=0, max_value=10**6),
    )
    def test_seconds_are_the_official_ones(self, timeout, heartbeat):
        """timeout_seconds and heartbeat_timeout_seconds equal the official config's."""
        from aws_durable_execution_sdk_python.config import CallbackConfig as Official
        from aws_durable_execution_sdk_python.config import Duration as OfficialDuration

        ours = CallbackConfig(Duration(timeout), Duration(heartbeat))
        theirs = Official(OfficialDuration(timeout), OfficialDuration(heartbeat))
        assert (ours.timeout_seconds, ours.heartbeat_timeout_seconds) == (
            theirs.timeout_seconds,
            theirs.heartbeat_timeout_seconds,
        )

    def test_a_timedelta_is_rounded_up_to_whole_seconds(self):
        """A timedelta timeout counts in whole seconds, rounded up, as it is checkpointed."""
        config = WaitForCallbackConfig(
            timeout=datetime.timedelta(seconds=90.5), heartbeat_timeout=datetime.timedelta()
        )
        assert (config.timeout_seconds, config.heartbeat_timeout_seconds) == (91, 0)

    def test_the_checkpointed_callback_carries_these_seconds(self):
        """The CALLBACK is started with the timeouts the properties report."""
        config = CallbackConfig(Duration.from_minutes(5), Duration.from_seconds(30))

        @durable_execution
        def handler(event, context):
            context.create_callback(name="approval", config=config)

        result = DurableTestRunner(handler).run()
        (started,) = [e for e in result.history if e["EventType"] == "CallbackStarted"]
        details = started["CallbackStartedDetails"]
        assert (details["Timeout"], details["HeartbeatTimeout"]) == (
            config.timeout_seconds,
            config.heartbeat_timeout_seconds,
        )
        assert (config.timeout_seconds, config.heartbeat_timeout_seconds) == (300, 30)


STATUSES = st.lists(st.sampled_from(["SUCCEEDED", "FAILED", "STARTED"]), min_size=0, max_size=8)


def _configs(sdk):
    """Completion configs to compare, built with ``sdk``'s own config module."""

    def quorum(status):
        if status.failure_count >= 2:
            return sdk.complete_batch(sdk.CompletionOutcome.FAILED)
        if status.success_count >= 2:
            return sdk.complete_batch(sdk.CompletionOutcome.SUCCEEDED)
        return sdk.continue_batch()

    return [
        None,
        sdk.CompletionConfig.first_successful(),
        sdk.CompletionConfig.all_completed(),
        sdk.CompletionConfig.all_successful(),
        sdk.CompletionConfig(min_successful=2),
        sdk.CompletionConfig(tolerated_failure_count=1),
        sdk.CompletionConfig(tolerated_failure_percentage=30),
        sdk.CompletionConfig(min_successful=3, tolerated_failure_count=2),
        sdk.CompletionConfig(should_complete=quorum),
    ]


class TestBatchResultFromItems:
    @given(statuses=STATUSES, which=st.integers(min_value=0, max_value=8))
    def test_the_reason_is_the_official_one(self, statuses, which):
        """from_items works out the completion reason the official from_items does."""
        import aws_durable_execution_sdk_python.concurrency.models as theirs
        import aws_durable_execution_sdk_python.config as official_config

        import durable_exec.config as our_config

        ours = BatchResult.from_items(
            [BatchItem(i, BatchItemStatus(s)) for i, s in enumerate(statuses)],
            _configs(our_config)[which],
        )
        official = theirs.BatchResult.from_items(
            [
                theirs.BatchItem(i, official_config.BatchItemStatus(s))
                for i, s in enumerate(statuses)
            ],
            _configs(official_config)[which],
        )
        assert ours.completion_reason.value == official.completion_reason.value
        assert [i.status.value for i in ours.all] == statuses

    def test_a_custom_failed_decision_makes_the_batch_raise(self):
        """A should_complete FAILED decision over the items is CUSTOM_COMPLETION_FAILED."""
        config = CompletionConfig(
            should_complete=lambda s: (
                complete_batch(CompletionOutcome.FAILED) if s.failure_count else continue_batch()
            )
        )
        result = BatchResult.from_items(
            [BatchItem(0, BatchItemStatus.SUCCEEDED, 1), BatchItem(1, BatchItemStatus.STARTED)],
            config,
        )
        assert result.completion_reason is CompletionReason.ALL_COMPLETED
        failed = BatchResult.from_items(
            [
                BatchItem(0, BatchItemStatus.SUCCEEDED, 1),
                BatchItem(1, BatchItemStatus.FAILED, error=ErrorObject.from_message("no")),
            ],
            config,
        )
        assert failed.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED

    def test_a_result_without_its_reason_is_rebuilt_from_its_items(self):
        """from_dict without completionReason infers it as from_items does."""
        data = {
            "all": [
                {"index": 0, "status": "SUCCEEDED", "result": 1},
                {"index": 1, "status": "STARTED"},
            ]
        }
        config = CompletionConfig.first_successful()
        rebuilt = BatchResult.from_dict(data, config)
        assert rebuilt.completion_reason is CompletionReason.MIN_SUCCESSFUL_REACHED
        assert rebuilt == BatchResult.from_items(rebuilt.all, config)


WIRE_TYPES = [
    f"{OFFICIAL}.exceptions.StepError",
    f"{OFFICIAL}.exceptions.InvokeError",
    f"{OFFICIAL}.exceptions.ChildContextError",
    f"{OFFICIAL}.exceptions.WaitForConditionError",
    f"{OFFICIAL}.exceptions.CallbackError",
    f"{OFFICIAL}.exceptions.CallbackExternalError",
    f"{OFFICIAL}.exceptions.CallbackTimeoutError",
    f"{OFFICIAL}.exceptions.CallbackSubmitterError",
    f"{OFFICIAL}.concurrency.models.BatchCompletionError",
    f"{OFFICIAL}.exceptions.DurableOperationError",
    "ValueError",
    "my_app.errors.NotRegistered",
    None,
]


class TestFromErrorFields:
    @pytest.mark.parametrize("error_type", WIRE_TYPES)
    def test_the_class_and_fields_are_the_official_ones(self, error_type):
        """from_error_fields rebuilds the class the official SDK rebuilds, with the fields."""
        import aws_durable_execution_sdk_python.concurrency.models  # noqa: F401 - registers
        from aws_durable_execution_sdk_python.exceptions import DurableOperationError as Theirs

        ours = DurableOperationError.from_error_fields(error_type, "went wrong", "d", ["l1"])
        theirs = Theirs.from_error_fields(error_type, "went wrong", "d", ["l1"])
        assert type(ours).__name__ == type(theirs).__name__
        assert (ours.message, ours.error_type, ours.data, ours.stack_trace) == (
            theirs.message,
            theirs.error_type,
            theirs.data,
            theirs.stack_trace,
        )

    def test_the_class_depends_on_the_type_only(self):
        """Called on a subclass, from_error_fields still follows the recorded type."""
        error = StepError.from_error_fields("ValueError", "v", None, None)
        assert type(error) is DurableOperationError

    def test_a_registered_class_comes_back_as_itself(self):
        """A class given to register_operation_error is rebuilt as itself."""
        recorded = ErrorObject.from_exception(AuditError("audit failed", data="x"))
        error = DurableOperationError.from_error_fields(
            recorded.type, recorded.message, recorded.data, recorded.stack_trace
        )
        assert type(error) is AuditError
        assert (error.message, error.data) == ("audit failed", "x")

    def test_a_rebuilt_batch_completion_error_keeps_its_reason(self):
        """A BatchCompletionError record comes back with CUSTOM_COMPLETION_FAILED."""
        error = DurableOperationError.from_error_fields(WIRE_TYPES[8], None, None, None)
        assert isinstance(error, BatchCompletionError)
        assert error.completion_reason is CompletionReason.CUSTOM_COMPLETION_FAILED
        assert error.message

    def test_a_failed_batch_is_the_cause_of_its_context_on_first_run_and_replay(self):
        """A child failing with a custom FAILED batch has BatchCompletionError as its cause."""
        seen = []

        def quorum_lost(child):
            config = ParallelConfig(
                completion_config=CompletionConfig(
                    should_complete=lambda s: (
                        complete_batch(CompletionOutcome.FAILED)
                        if s.completed_count
                        else continue_batch()
                    )
                )
            )
            child.parallel([lambda c: 1], config=config).throw_if_error()

        @durable_execution
        def handler(event, context):
            try:
                context.run_in_child_context(quorum_lost, name="vote")
            except ChildContextError as error:
                cause = error.__cause__
                seen.append((type(cause).__name__, cause.completion_reason.value))
            context.wait(Duration(1), name="then replay")
            return seen[-1]

        result = DurableTestRunner(handler).run()
        assert result.status == "SUCCEEDED"
        assert seen == [("BatchCompletionError", "CUSTOM_COMPLETION_FAILED")] * 2


def _client_error(code, status, message):
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": "req-1"},
        },
        "CheckpointDurableExecution",
    )


API_ERRORS = [
    ("TooManyRequestsException", 429, "Rate exceeded"),
    ("ServiceException", 500, "Internal failure"),
    ("ServiceUnavailable", 503, "Unavailable"),
    ("KMSAccessDeniedException", 502, "Access denied to key"),
    ("KMSNotFoundException", 502, "Key not found"),
    ("InvalidParameterValueException", 400, "Invalid checkpoint token: already used"),
    ("InvalidParameterValueException", 400, "Payload size exceeds the limit"),
    ("ResourceNotFoundException", 404, "Execution not found"),
    ("ResourceConflictException", 409, "Execution is not running"),
]


class TestCheckpointError:
    def test_the_official_constructor_fills_every_attribute(self):
        """CheckpointError(message, error_category, error, response_metadata) as officially."""
        error = CheckpointError(
            "refused",
            DurableApiErrorCategory.EXECUTION,
            {"Code": "ResourceNotFoundException", "Message": "gone"},
            {"HTTPStatusCode": 404, "RequestId": "r"},
        )
        assert (error.error_category, error.is_retryable(), error.is_retriable()) == (
            DurableApiErrorCategory.EXECUTION,
            False,
            False,
        )
        assert (error.error_code, error.status_code) == ("ResourceNotFoundException", 404)
        assert error.build_logger_extras() == {
            "Error": {"Code": "ResourceNotFoundException", "Message": "gone"},
            "ResponseMetadata": {"HTTPStatusCode": 404, "RequestId": "r"},
        }

    def test_the_default_category_retries_the_invocation(self):
        """Without a category the invocation is retried, with nothing to log."""
        error = CheckpointError("blip")
        assert error.error_category is CheckpointErrorCategory.INVOCATION
        assert error.is_retryable()
        assert error.build_logger_extras() == {}

    def test_retryable_and_a_contradicting_category_are_refused(self):
        """retryable=True with EXECUTION is refused rather than one of them ignored."""
        with pytest.raises(ValidationError, match="contradict"):
            CheckpointError("x", DurableApiErrorCategory.EXECUTION, retryable=True)
        assert CheckpointError("x", retryable=False).error_category is (
            DurableApiErrorCategory.EXECUTION
        )

    @pytest.mark.parametrize(("code", "status", "message"), API_ERRORS)
    def test_from_exception_classifies_as_the_official_sdk(self, code, status, message):
        """from_exception reads a botocore error as the official CheckpointError does."""
        from aws_durable_execution_sdk_python.exceptions import CheckpointError as Theirs

        exc = _client_error(code, status, message)
        ours, theirs = CheckpointError.from_exception(exc), Theirs.from_exception(exc)
        assert ours.error_category.value == theirs.error_category.value
        assert (str(ours), ours.error, ours.response_metadata) == (
            str(theirs),
            theirs.error,
            theirs.response_metadata,
        )
        assert ours.build_logger_extras() == theirs.build_logger_extras()

    def test_from_exception_without_a_response_retries(self):
        """A transport error (no service response) is worth retrying."""
        error = CheckpointError.from_exception(ConnectionResetError("reset by peer"))
        assert error.is_retryable()
        assert (error.error, error.error_code, error.status_code) == (None, None, None)


class TestLogger:
    def test_records_carry_the_default_extra_and_their_own(self, caplog):
        """Logger(logger, default_extra) adds its fields; a record's own extra wins."""
        log = Logger(logging.getLogger("orders.test"), {"orderId": "o-1", "step": "a"})
        with caplog.at_level(logging.INFO, logger="orders.test"):
            log.info("placed %s", "o-1", extra={"step": "b"})
        (record,) = caplog.records
        assert (record.getMessage(), record.orderId, record.step) == ("placed o-1", "o-1", "b")

    def test_with_is_replaying_mutes_by_the_new_source(self, caplog):
        """with_is_replaying returns a logger silent while the new source says so."""
        replaying = [True]
        base = Logger(logging.getLogger("orders.test"), {"orderId": "o-1"})
        muted = base.with_is_replaying(lambda: replaying[0])
        with caplog.at_level(logging.INFO, logger="orders.test"):
            muted.info("during replay")
            base.info("standalone")
            replaying[0] = False
            muted.info("after replay")
        assert [r.getMessage() for r in caplog.records] == ["standalone", "after replay"]
        assert all(r.orderId == "o-1" for r in caplog.records)

    def test_get_logger_returns_the_destination(self):
        """get_logger is the logger records go to, also after set_logger in a handler."""
        destination = logging.getLogger("orders.destination")
        seen = []

        @durable_execution
        def handler(event, context):
            context.set_logger(destination)
            seen.append(context.logger.get_logger())

        DurableTestRunner(handler).run()
        assert seen == [destination]


class TestCreateChildContext:
    def test_a_virtual_child_namespaces_ids_under_this_context(self):
        """is_virtual=True: ids derive from the given id, the parent stays this context's."""

        @durable_execution
        def handler(event, context):
            child = context.create_child_context("audit", is_virtual=True)
            child.wait(Duration(1), name="pause")
            return [child.is_virtual, child.step(lambda _: "done", name="record")]

        result = DurableTestRunner(handler).run()
        assert result.result == [True, "done"]
        namespace = OperationIdNamespace("audit")
        step = result.get_step("record")
        assert (step.id, step.parent_id) == (namespace.create_id_for_step(2), None)

    def test_a_child_records_the_given_operation_as_its_parent(self):
        """is_virtual=False: the child's operations are recorded under operation_id."""

        def outer(child_context):
            own_id = OperationIdNamespace().create_id_for_step(1)
            again = child_context.create_child_context(own_id)
            return [again.is_virtual, again.step(lambda _: 2, name="inner")]

        @durable_execution
        def handler(event, context):
            return context.run_in_child_context(outer, name="outer")

        result = DurableTestRunner(handler).run()
        outer_id = result.get_context("outer").id
        inner = result.get_step("inner")
        assert result.result == [False, 2]
        assert (inner.id, inner.parent_id) == (
            OperationIdNamespace(outer_id).create_id_for_step(1),
            outer_id,
        )

    @pytest.mark.parametrize("bad", ["", None, 3])
    def test_an_operation_id_is_required(self, bad):
        """An empty or non-string operation id is refused."""
        seen = []

        @durable_execution
        def handler(event, context):
            try:
                context.create_child_context(bad)
            except ValidationError as error:
                seen.append(str(error))

        DurableTestRunner(handler).run()
        assert len(seen) == 1
        assert "operation id" in seen[0]


class TestLambdaContext:
    def test_the_fake_context_has_every_member(self):
        """FakeLambdaContext offers every member of types.LambdaContext."""
        members = set(LambdaContext.__annotations__) | {"get_remaining_time_in_millis", "log"}
        context = FakeLambdaContext("orders")
        assert {m for m in members if not hasattr(context, m)} == set()

    def test_log_writes_to_standard_output(self, capsys):
        """lambda_context.log writes the message as Lambda's context does."""

        @durable_execution
        def handler(event, context):
            context.lambda_context.log("checkpointing order o-1\n")

        DurableTestRunner(handler).run()
        assert "checkpointing order o-1\n" in capsys.readouterr().out


class TestKeywordNames:
    def test_extended_serdes_takes_its_context_by_the_official_keyword(self):
        """ExtendedTypeSerDes.serialize/deserialize accept context= as officially."""
        serdes = ExtendedTypeSerDes()
        value = {"when": datetime.date(2025, 1, 2)}
        assert serdes.deserialize(serdes.serialize(value, context=None), context=None) == value

    def test_suspend_execution_takes_its_message_by_keyword(self):
        """SuspendExecution(message=...) as officially; the message is its text."""
        assert str(SuspendExecution(message="waiting for approval")) == "waiting for approval"
