"""The error tree, its attributes, and the wire names errors are recorded under."""

from __future__ import annotations

import importlib
import importlib.util
import json
import pickle

import pytest

import durable_exec
from durable_exec import (
    BatchCompletionError,
    CallbackError,
    CallbackExternalError,
    CallbackSubmitterError,
    CallbackTimeoutError,
    CheckpointError,
    ChildContextError,
    CompletionReason,
    DurableExecutionsError,
    DurableOperationError,
    ExecutionError,
    InvocationError,
    InvokeError,
    NonDeterministicExecutionError,
    RetryableSerDesError,
    SerDesError,
    StepError,
    StepInterruptedError,
    TerminationReason,
    UnrecoverableError,
    ValidationError,
    WaitForConditionError,
)
from durable_exec._errors import class_for_wire_type, wire_type_name

OFFICIAL = "aws_durable_execution_sdk_python.exceptions"

# (class, its parent in the tree)
TREE = [
    (DurableExecutionsError, Exception),
    (ValidationError, DurableExecutionsError),
    (ValidationError, ValueError),
    (SerDesError, DurableExecutionsError),
    (DurableOperationError, DurableExecutionsError),
    (StepError, DurableOperationError),
    (InvokeError, DurableOperationError),
    (ChildContextError, DurableOperationError),
    (WaitForConditionError, DurableOperationError),
    (BatchCompletionError, DurableOperationError),
    (CallbackError, DurableOperationError),
    (CallbackExternalError, CallbackError),
    (CallbackTimeoutError, CallbackError),
    (CallbackSubmitterError, CallbackError),
    (UnrecoverableError, DurableExecutionsError),
    (ExecutionError, UnrecoverableError),
    (NonDeterministicExecutionError, ExecutionError),
    (InvocationError, UnrecoverableError),
    (CheckpointError, InvocationError),
    (StepInterruptedError, InvocationError),
    (RetryableSerDesError, InvocationError),
]

# Every public error class, taken from the package itself (a new one cannot be missed).
PUBLIC_ERRORS = [
    cls
    for cls in (getattr(durable_exec, name) for name in durable_exec.__all__)
    if isinstance(cls, type) and issubclass(cls, BaseException)
]
HAS_OFFICIAL = importlib.util.find_spec("aws_durable_execution_sdk_python") is not None


def official_counterpart(cls):
    """The official SDK's class of the same name (package root or exceptions), if any."""
    official = importlib.import_module("aws_durable_execution_sdk_python")
    exceptions = importlib.import_module(OFFICIAL)
    return getattr(official, cls.__name__, None) or getattr(exceptions, cls.__name__, None)


OPERATION_ERRORS = [
    StepError,
    InvokeError,
    ChildContextError,
    WaitForConditionError,
    CallbackError,
    CallbackExternalError,
    CallbackTimeoutError,
    CallbackSubmitterError,
    DurableOperationError,
]


class UserError(Exception):
    class NestedError(Exception):
        pass


class UserStepError(StepError):
    pass


class TestTree:
    @pytest.mark.parametrize(("cls", "parent"), TREE)
    def test_class_sits_under_its_parent(self, cls, parent):
        """Each error class derives from the class the tree in _errors.py names."""
        assert issubclass(cls, parent)

    @pytest.mark.parametrize("cls", PUBLIC_ERRORS)
    def test_errors_are_ordinary_exceptions(self, cls):
        """SDK errors are Exceptions under one root, so except DurableExecutionsError sees all."""
        assert issubclass(cls, DurableExecutionsError)

    def test_validation_error_is_caught_as_value_error(self):
        """A ValidationError can be caught as a ValueError."""
        with pytest.raises(ValueError, match="bad"):
            raise ValidationError("bad")

    def test_termination_reasons_include_the_official_ones(self):
        """TerminationReason has every official member, value = name."""
        official = [
            "UNHANDLED_ERROR",
            "INVOCATION_ERROR",
            "EXECUTION_ERROR",
            "CHECKPOINT_FAILED",
            "NON_DETERMINISTIC_EXECUTION",
            "STEP_INTERRUPTED",
            "SERIALIZATION_ERROR",
        ]
        assert all(TerminationReason[name].value == name for name in official)


class TestDurableOperationError:
    @pytest.mark.parametrize("cls", OPERATION_ERRORS)
    def test_error_type_defaults_to_the_official_name(self, cls):
        """Without an error_type, an operation error names its own official class."""
        assert cls("m").error_type == wire_type_name(cls)

    @pytest.mark.parametrize("cls", OPERATION_ERRORS)
    def test_fields_are_kept(self, cls):
        """message, error_type, data and stack_trace are kept as given; str() is the message."""
        error = cls("went wrong", "ValueError", "d", ["l1", "l2"])
        assert (error.message, error.error_type, error.data, error.stack_trace) == (
            "went wrong",
            "ValueError",
            "d",
            ["l1", "l2"],
        )
        assert str(error) == "went wrong"

    def test_missing_message_is_empty(self):
        """A missing message reads as an empty string."""
        assert (StepError().message, str(StepError())) == ("", "")

    @pytest.mark.parametrize("cls", OPERATION_ERRORS)
    def test_pickles_with_all_fields(self, cls):
        """Operation errors survive pickling (e.g. across processes) with every field."""
        error = pickle.loads(pickle.dumps(cls("m", "T", "d", ["s"])))
        assert type(error) is cls
        assert (error.message, error.error_type, error.data, error.stack_trace) == (
            "m",
            "T",
            "d",
            ["s"],
        )

    def test_batch_completion_error_keeps_its_reason(self):
        """BatchCompletionError takes the completion reason first, as in the official SDK."""
        error = BatchCompletionError(CompletionReason.CUSTOM_COMPLETION_FAILED, "custom failed")
        copy = pickle.loads(pickle.dumps(error))
        assert (copy.completion_reason, copy.message) == (
            CompletionReason.CUSTOM_COMPLETION_FAILED,
            "custom failed",
        )


class TestUnrecoverableErrors:
    @pytest.mark.parametrize(
        ("error", "reason"),
        [
            (UnrecoverableError("x"), TerminationReason.UNHANDLED_ERROR),
            (ExecutionError("x"), TerminationReason.EXECUTION_ERROR),
            (NonDeterministicExecutionError("x"), TerminationReason.NON_DETERMINISTIC_EXECUTION),
            (InvocationError("x"), TerminationReason.INVOCATION_ERROR),
            (CheckpointError("x"), TerminationReason.CHECKPOINT_FAILED),
            (StepInterruptedError("x"), TerminationReason.STEP_INTERRUPTED),
            (RetryableSerDesError("x"), TerminationReason.SERIALIZATION_ERROR),
        ],
    )
    def test_default_termination_reasons(self, error, reason):
        """Each class ends the invocation for its own default reason."""
        assert error.termination_reason is reason

    def test_termination_reason_can_be_given(self):
        """An explicit termination reason overrides the default."""
        error = ExecutionError("x", TerminationReason.CHECKPOINT_FAILED)
        assert error.termination_reason is TerminationReason.CHECKPOINT_FAILED

    @pytest.mark.parametrize(
        ("error", "retryable"),
        [
            (InvocationError("x"), True),
            (StepInterruptedError("x"), True),
            (RetryableSerDesError("x"), True),
            (CheckpointError("x"), True),
            (CheckpointError("x", retryable=False), False),
        ],
    )
    def test_is_retryable(self, error, retryable):
        """Invocation errors ask Lambda to retry unless marked otherwise."""
        assert error.is_retryable() is retryable

    def test_checkpoint_error_keeps_service_details(self):
        """CheckpointError keeps the service's error code and HTTP status."""
        error = CheckpointError("throttled", error_code="TooManyRequestsException", status_code=429)
        assert (error.message, error.error_code, error.status_code) == (
            "throttled",
            "TooManyRequestsException",
            429,
        )

    @pytest.mark.parametrize(
        "error",
        [
            SerDesError("m", "T", "d", ["s"]),
            CheckpointError("x", error_code="C", status_code=400, retryable=False),
            NonDeterministicExecutionError("m", step_id="s"),
            StepInterruptedError("m", step_id="s"),
            ExecutionError("m", TerminationReason.CHECKPOINT_FAILED),
        ],
        ids=lambda error: type(error).__name__,
    )
    def test_pickles_with_all_attributes(self, error):
        """Errors survive pickling with every attribute, not just the message."""
        copy = pickle.loads(pickle.dumps(error))
        assert (type(copy), vars(copy)) == (type(error), vars(error))

    @pytest.mark.parametrize("cls", [NonDeterministicExecutionError, StepInterruptedError])
    def test_step_id_is_kept(self, cls):
        """Errors about one operation carry its id."""
        assert cls("m", step_id="abc").step_id == "abc"


class TestWireNames:
    @pytest.mark.skipif(not HAS_OFFICIAL, reason="needs the official SDK (the test extra)")
    @pytest.mark.parametrize("cls", PUBLIC_ERRORS)
    def test_sdk_errors_use_the_official_names(self, cls):
        """An error the official SDK also has is recorded under its fully qualified name;
        one it lacks under durable_exec.<Name>."""
        theirs = official_counterpart(cls)
        expected = (
            f"durable_exec.{cls.__name__}"
            if theirs is None
            else f"{theirs.__module__}.{theirs.__qualname__}"
        )
        assert wire_type_name(cls) == expected

    @pytest.mark.parametrize("cls", PUBLIC_ERRORS)
    def test_every_public_error_has_a_public_name_that_maps_back(self, cls):
        """Each is recorded under the official SDK's name or durable_exec.<Name>, never a
        private module's, and replay finds the class from it."""
        name = wire_type_name(cls)
        assert name == f"durable_exec.{cls.__name__}" or name.startswith(
            "aws_durable_execution_sdk_python."
        )
        assert name.rsplit(".", 1)[-1] == cls.__name__
        assert class_for_wire_type(name) is cls

    @pytest.mark.parametrize(
        ("cls", "name"),
        [
            (ValueError, "ValueError"),
            (KeyError, "KeyError"),
            (TimeoutError, "TimeoutError"),
            (json.JSONDecodeError, "json.decoder.JSONDecodeError"),
            (UserError, f"{__name__}.UserError"),
            (UserError.NestedError, f"{__name__}.UserError.NestedError"),
            (UserStepError, f"{__name__}.UserStepError"),
        ],
    )
    def test_other_errors_use_module_and_qualname(self, cls, name):
        """Builtins are recorded bare, anything else as module.QualName."""
        assert wire_type_name(cls) == name

    @pytest.mark.parametrize("cls", PUBLIC_ERRORS)
    def test_own_names_map_back_to_the_class(self, cls):
        """durable_exec.<Class> names are understood too."""
        assert class_for_wire_type(f"durable_exec.{cls.__name__}") is cls

    @pytest.mark.parametrize(
        "name", [None, "", "ValueError", "__main__.MyErr", f"{OFFICIAL}.NoSuchError"]
    )
    def test_foreign_names_map_to_nothing(self, name):
        """Names that are not SDK errors map to None."""
        assert class_for_wire_type(name) is None
