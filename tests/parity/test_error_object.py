"""ErrorObject, register_operation_error and OperationIdNamespace behave as the official ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec import Duration, StepConfig, durable_execution
from durable_exec.exceptions import (
    DurableOperationError,
    SerDesError,
    StepError,
    register_operation_error,
)
from durable_exec.identifier import OperationIdNamespace
from durable_exec.lambda_service import ErrorObject
from durable_exec.retries import RetryPresets
from durable_exec.testing import DurableTestRunner


class QuotaExceededError(DurableOperationError):
    """A user's own operation error, registered for replay."""


class NotRegisteredError(DurableOperationError):
    """A user's own operation error, not registered."""


register_operation_error(QuotaExceededError)


class CustomError(Exception):
    pass


def _official_error_object():
    from aws_durable_execution_sdk_python.lambda_service import ErrorObject as Official

    return Official


class TestErrorObject:
    @pytest.mark.parametrize(
        "make",
        [
            lambda sdk: ValueError("bad input"),
            lambda sdk: CustomError("custom"),
            lambda sdk: sdk.StepError("failed", "KeyError", "d"),
        ],
        ids=["builtin", "user-class", "sdk-error"],
    )
    def test_from_exception_records_what_the_official_sdk_records(self, make):
        """from_exception gives the same message, type and data as the official ErrorObject."""
        import aws_durable_execution_sdk_python.exceptions as theirs

        import durable_exec.exceptions as ours

        official = _official_error_object().from_exception(make(theirs)).to_dict()
        assert ErrorObject.from_exception(make(ours)).to_dict() == official

    @given(
        message=st.none() | st.text(),
        error_type=st.none() | st.text(),
        data=st.none() | st.text(),
        stack=st.none() | st.lists(st.text(), max_size=3),
    )
    def test_dict_round_trip_matches_the_official_form(self, message, error_type, data, stack):
        """to_dict/from_dict round-trip and produce the official dict form."""
        ours = ErrorObject(message, error_type, data, stack)
        official = _official_error_object()(message, error_type, data, stack)
        assert ours.to_dict() == official.to_dict()
        assert ErrorObject.from_dict(ours.to_dict()) == ours

    def test_from_message_carries_only_the_message(self):
        """from_message builds an error with just a message (e.g. for send_callback_failure)."""
        assert ErrorObject.from_message("declined").to_dict() == {"ErrorMessage": "declined"}

    def test_raise_as_operation_error_wraps_and_keeps_the_recorded_cause(self):
        """raise_as_operation_error raises the operation's class, caused by the recorded type."""
        record = ErrorObject.from_exception(QuotaExceededError("over quota", data="42"))
        with pytest.raises(StepError) as info:
            record.raise_as_operation_error(StepError)
        assert (info.value.message, info.value.data) == ("over quota", "42")
        assert type(info.value.__cause__) is QuotaExceededError

    def test_a_recorded_serdes_failure_is_raised_as_serdes_error(self):
        """A SerDesError record is raised as SerDesError whatever the operation."""
        record = ErrorObject.from_exception(SerDesError("cannot encode"))
        with pytest.raises(SerDesError, match="cannot encode"):
            record.raise_as_operation_error(StepError)

    def test_to_durable_operation_error_uses_registered_classes_only(self):
        """A registered class comes back as itself; any other as DurableOperationError."""
        record = ErrorObject.from_exception(QuotaExceededError("q"))
        registered = record.to_durable_operation_error()
        other = ErrorObject.from_exception(NotRegisteredError("n")).to_durable_operation_error()
        assert type(registered) is QuotaExceededError
        assert type(other) is DurableOperationError
        assert other.error_type.endswith("NotRegisteredError")


class TestRegisterOperationError:
    def test_a_registered_error_is_the_cause_on_first_run_and_on_replay(self):
        """A step failing with a registered class has it as StepError's cause, on every run."""
        seen = []

        def over_quota(_):
            raise QuotaExceededError("over quota")

        @durable_execution
        def handler(event, context):
            try:
                context.step(over_quota, name="s", config=StepConfig(RetryPresets.none()))
            except StepError as error:
                seen.append(type(error.__cause__).__name__)
            context.wait(Duration(1), name="then replay")
            return seen[-1]

        result = DurableTestRunner(handler).run()
        assert result.result == "QuotaExceededError"
        assert seen == ["QuotaExceededError", "QuotaExceededError"]

    def test_only_operation_errors_can_be_registered(self):
        """Registering anything but a DurableOperationError subclass is refused."""
        from durable_exec import ValidationError

        with pytest.raises(ValidationError):
            register_operation_error(ValueError)  # type: ignore[arg-type]


class TestOperationIdNamespace:
    @given(prefix=st.none() | st.text(min_size=1), step=st.integers(min_value=1))
    def test_ids_are_the_official_ids(self, prefix, step):
        """create_id_for_step gives the official SDK's id for every prefix and position."""
        from aws_durable_execution_sdk_python.identifier import OperationIdNamespace as Official

        assert OperationIdNamespace(prefix).create_id_for_step(step) == Official(
            prefix
        ).create_id_for_step(step)

    def test_ids_name_the_operations_of_a_run(self):
        """The n-th operation of a context has the namespace's n-th id."""

        @durable_execution
        def handler(event, context):
            context.step(lambda _: 1, name="first")
            context.run_in_child_context(lambda c: c.step(lambda _: 2, name="inner"), name="kid")

        result = DurableTestRunner(handler).run()
        root = OperationIdNamespace()
        assert result.get_step("first").id == root.create_id_for_step(1)
        kid = result.get_context("kid").id
        assert kid == root.create_id_for_step(2)
        assert result.get_step("inner").id == OperationIdNamespace(kid).create_id_for_step(1)
