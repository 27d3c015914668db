"""The public error tree. Standard library only: the bottom of the import graph.

Errors are grouped by *what happens next*::

    Exception
    └─ DurableExecutionsError             root of everything the SDK raises
       ├─ ValidationError (ValueError)    bad arguments or configuration; nothing checkpointed
       ├─ PluginLoadError                 a plugin cannot be registered (at cold start)
       ├─ SerDesError                     a value could not be (de)serialised; the operation fails
       │  └─ PayloadSizeError             a value is too large to checkpoint
       ├─ DurableOperationError           a durable operation failed; rebuilt identically on replay
       │  ├─ StepError
       │  ├─ InvokeError
       │  ├─ ChildContextError
       │  ├─ WaitForConditionError
       │  ├─ BatchCompletionError             map/parallel ended with a custom FAILED decision
       │  └─ CallbackError
       │     ├─ CallbackExternalError         the external system reported failure
       │     ├─ CallbackTimeoutError          the callback (or its heartbeat) timed out
       │     └─ CallbackSubmitterError        wait_for_callback's submitter failed for good
       ├─ SagaCompensationError           a saga's compensations failed after its error
       └─ UnrecoverableError                  ends the invocation; ``termination_reason`` says why
          ├─ ExecutionError                   the execution FAILS; Lambda does not retry
          │  └─ NonDeterministicExecutionError  code and history disagree
          └─ InvocationError                  re-raised from the handler: Lambda retries
             ├─ CheckpointError               the durable-execution API refused or failed a call
             ├─ StepInterruptedError          an at-most-once step was found interrupted
             └─ RetryableSerDesError          a serdes asks for the invocation to be retried

Control flow that must cross user code (suspension, orphaned branches) is not
here: it lives in ``durable_exec._signals`` as private ``BaseException``
subclasses, so a user's ``except Exception`` cannot swallow it.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping
from typing import Any, ClassVar, Self

__all__ = [
    "BAD_REQUEST_ERROR",
    "INVALID_CHECKPOINT_TOKEN_PREFIX",
    "INVALID_PARAMETER_VALUE_EXCEPTION",
    "KMS_ERROR_CODES",
    "SERVICE_ERROR",
    "THROTTLING_ERROR_CODES",
    "TOO_MANY_REQUESTS_ERROR",
    "BatchCompletionError",
    "CallbackError",
    "CallbackExternalError",
    "CallbackSubmitterError",
    "CallbackTimeoutError",
    "CheckpointError",
    "CheckpointErrorCategory",
    "ChildContextError",
    "CompletionReason",
    "DurableApiErrorCategory",
    "DurableExecutionsError",
    "DurableOperationError",
    "ExecutionError",
    "InvocationError",
    "InvokeError",
    "NonDeterministicExecutionError",
    "PayloadSizeError",
    "PluginLoadError",
    "RetryableSerDesError",
    "SagaCompensationError",
    "SerDesError",
    "StepError",
    "StepInterruptedError",
    "TerminationReason",
    "UnrecoverableError",
    "ValidationError",
    "WaitForConditionError",
    "api_error_category",
    "is_stale_token",
    "is_transient",
    "register_operation_error",
]


class TerminationReason(enum.Enum):
    """Why an invocation stopped early."""

    UNHANDLED_ERROR = "UNHANDLED_ERROR"
    INVOCATION_ERROR = "INVOCATION_ERROR"
    EXECUTION_ERROR = "EXECUTION_ERROR"
    CHECKPOINT_FAILED = "CHECKPOINT_FAILED"
    NON_DETERMINISTIC_EXECUTION = "NON_DETERMINISTIC_EXECUTION"
    STEP_INTERRUPTED = "STEP_INTERRUPTED"
    SERIALIZATION_ERROR = "SERIALIZATION_ERROR"
    DEADLINE_APPROACHING = "DEADLINE_APPROACHING"


class CompletionReason(enum.Enum):
    """Why a batch (map or parallel) ended."""

    ALL_COMPLETED = "ALL_COMPLETED"
    MIN_SUCCESSFUL_REACHED = "MIN_SUCCESSFUL_REACHED"
    FAILURE_TOLERANCE_EXCEEDED = "FAILURE_TOLERANCE_EXCEEDED"
    CUSTOM_COMPLETION_SUCCEEDED = "CUSTOM_COMPLETION_SUCCEEDED"
    CUSTOM_COMPLETION_FAILED = "CUSTOM_COMPLETION_FAILED"


class DurableExecutionsError(Exception):
    """Root of every error the SDK raises."""


class ValidationError(DurableExecutionsError, ValueError):
    """An argument or configuration value is invalid.

    Raised before anything is checkpointed, so nothing durable is affected.
    The message names the bad value and the accepted range.
    """


class PluginLoadError(DurableExecutionsError):
    """An instrumentation plugin cannot be registered.

    Raised when the handler is decorated: an entry of ``plugins=`` is not a
    factory, ``DURABLE_EXECUTION_PLUGINS`` names a plugin that is not installed
    (or is installed twice, or fails to import), or two factories of one
    exclusive group are registered together.
    """


class DurableOperationError(DurableExecutionsError):
    """A durable operation failed.

    The same error is raised on the first run and on every replay: it is
    rebuilt from the checkpointed error object, never kept from the original
    exception.

    Attributes:
        message: Human-readable description (``ErrorMessage`` on the wire).
        error_type: Name of the original exception class (``ErrorType``).
        data: Optional extra data (``ErrorData``).
        stack_trace: Optional stack trace lines (``StackTrace``).
    """

    def __init__(
        self,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        super().__init__(message or "")
        self.message = message or ""
        self.error_type = error_type or wire_type_name(type(self))
        self.data = data
        self.stack_trace = stack_trace

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.error_type, self.data, self.stack_trace))

    @classmethod
    def from_error_fields(
        cls,
        error_type: str | None,
        message: str | None,
        data: str | None,
        stack_trace: list[str] | None,
    ) -> DurableOperationError:
        """Rebuild a recorded operation error as the class its ``error_type`` names.

        The SDK's own operation errors (``StepError``, ``CallbackTimeoutError``...,
        recorded under the official SDK's names) and classes registered with
        :func:`register_operation_error` come back as themselves; any other type
        (a ``ValueError``, a class that was not registered) as a plain
        :class:`DurableOperationError` that keeps the recorded type name. The
        class is chosen from ``error_type`` alone, whichever class this is called on.

        Args:
            error_type: The recorded ``ErrorType``.
            message: The recorded ``ErrorMessage``.
            data: The recorded ``ErrorData``.
            stack_trace: The recorded ``StackTrace``.

        Example:
            >>> error = DurableOperationError.from_error_fields(
            ...     "aws_durable_execution_sdk_python.exceptions.StepError", "failed", None, None
            ... )
            >>> type(error).__name__, error.message
            ('StepError', 'failed')
        """
        named = class_for_wire_type(error_type)
        target = (
            named
            if isinstance(named, type) and issubclass(named, DurableOperationError)
            else DurableOperationError
        )
        return target(message=message, error_type=error_type, data=data, stack_trace=stack_trace)


class StepError(DurableOperationError):
    """A step failed after its retry strategy gave up."""


class InvokeError(DurableOperationError):
    """A chained invoke ended FAILED, TIMED_OUT or STOPPED."""


class ChildContextError(DurableOperationError):
    """A child context (or a map/parallel branch) raised."""


class WaitForConditionError(DurableOperationError):
    """wait_for_condition's check raised, or its wait strategy gave up."""


class BatchCompletionError(DurableOperationError):
    """A map or parallel ended with a custom FAILED completion decision.

    Attributes:
        completion_reason: The batch's completion reason (``CUSTOM_COMPLETION_FAILED``,
            the one reason it is raised for, unless given).
    """

    def __init__(
        self,
        completion_reason: CompletionReason = CompletionReason.CUSTOM_COMPLETION_FAILED,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        reason = getattr(completion_reason, "value", completion_reason)
        super().__init__(
            message or f"the batch's should_complete decided it FAILED ({reason})",
            error_type,
            data,
            stack_trace,
        )
        self.completion_reason = completion_reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.completion_reason, self.message, self.error_type, self.data, self.stack_trace),
        )


class CallbackError(DurableOperationError):
    """A callback did not produce a result."""


class CallbackExternalError(CallbackError):
    """The external system completed the callback with a failure."""


class CallbackTimeoutError(CallbackError):
    """The callback timed out, or missed its heartbeat deadline."""


class CallbackSubmitterError(CallbackError):
    """wait_for_callback's submitter failed and its retries ran out."""


class SagaCompensationError(DurableExecutionsError):
    """Experimental: a saga failed, and some of its compensations failed too.

    Raised instead of the saga's original error (which is its ``__cause__`` and
    :attr:`original`) once every compensation has had its turn.

    Attributes:
        original: The error that made the saga compensate.
        failures: ``(compensation name, error)`` for each compensation that failed
            for good, in the order they ran.
    """

    def __init__(self, original: BaseException, failures: list[tuple[str, BaseException]]) -> None:
        names = ", ".join(repr(name) for name, _ in failures)
        super().__init__(
            f"the saga failed ({type(original).__name__}: {original}) and "
            f"{len(failures)} of its compensations failed too: {names}. Those actions were "
            "not undone; repair them by hand or with a follow-up execution."
        )
        self.original = original
        self.failures = failures

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.original, self.failures))


class SerDesError(DurableExecutionsError):
    """A value could not be serialised or deserialised.

    The operation that owned the value fails; what was already checkpointed
    stays intact.
    """

    def __init__(
        self,
        message: str | None = None,
        error_type: str | None = None,
        data: str | None = None,
        stack_trace: list[str] | None = None,
    ) -> None:
        super().__init__(message or "")
        self.message = message or ""
        self.error_type = error_type
        self.data = data
        self.stack_trace = stack_trace


class PayloadSizeError(SerDesError):
    """A serialised value is larger than the service stores for one operation.

    Raised instead of sending a checkpoint the service would refuse; the message
    names the operation, the size and the limit. A chained-invoke payload raises
    it before anything is checkpointed. A step result or wait_for_condition state
    is recorded as the operation's failure under the one wire name every serdes
    failure has (as in the official SDK), so the operation raises the
    :class:`SerDesError` rebuilt from that record, with this message, on the first
    run and on every replay alike.
    """


class UnrecoverableError(DurableExecutionsError):
    """An error that ends the current invocation.

    Attributes:
        termination_reason: Why the invocation ended.
    """

    default_reason: ClassVar[TerminationReason] = TerminationReason.UNHANDLED_ERROR

    def __init__(
        self, message: str = "", termination_reason: TerminationReason | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.termination_reason = termination_reason or self.default_reason


class ExecutionError(UnrecoverableError):
    """The execution must fail: the handler returns FAILED and Lambda does not retry."""

    default_reason = TerminationReason.EXECUTION_ERROR


class NonDeterministicExecutionError(ExecutionError):
    """The code asked for a different operation than the history recorded at this position.

    Attributes:
        step_id: The operation id where code and history disagree.
        recorded: What the history holds there, when known: ``{"type", "sub_type",
            "name", "parent_id"}``.
        requested: What the code asked for there, in the same shape (``None`` when
            the code asked for nothing: it ended before reaching the operation).
    """

    default_reason = TerminationReason.NON_DETERMINISTIC_EXECUTION
    recorded: dict[str, str | None] | None = None
    requested: dict[str, str | None] | None = None

    def __init__(self, message: str = "", step_id: str | None = None) -> None:
        super().__init__(message)
        self.step_id = step_id


class InvocationError(UnrecoverableError):
    """The invocation must be retried by Lambda: the handler re-raises it."""

    default_reason = TerminationReason.INVOCATION_ERROR

    def is_retryable(self) -> bool:
        """Return True: Lambda should invoke the function again."""
        return True


BAD_REQUEST_ERROR = 400
"""Lowest HTTP status of a client error: refused as sent, the execution fails (but see 429)."""
TOO_MANY_REQUESTS_ERROR = 429
"""Throttling: retried in-process, then by Lambda."""
SERVICE_ERROR = 500
"""Lowest HTTP status of a service error: retried in-process, then by Lambda."""
INVALID_PARAMETER_VALUE_EXCEPTION = "InvalidParameterValueException"
"""The error code of a refused parameter, a stale checkpoint token included."""
INVALID_CHECKPOINT_TOKEN_PREFIX = "Invalid checkpoint token"  # noqa: S105 - a message, not a secret
"""How a stale token's message starts (compared case-insensitively): Lambda retries."""
KMS_ERROR_CODES = frozenset(
    {
        "KMSAccessDeniedException",
        "KMSDisabledException",
        "KMSInvalidStateException",
        "KMSNotFoundException",
    }
)
"""Errors of the execution's KMS key: sent as 5xx, but only a fix of the key helps."""
THROTTLING_ERROR_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded"}
)
"""Error codes that mean throttling, whatever the HTTP status."""


class DurableApiErrorCategory(enum.Enum):
    """What a failed call to the durable-execution API means for the execution.

    Attributes:
        INVOCATION: Worth retrying (throttling, a 5xx, a lost connection, a stale
            checkpoint token): Lambda invokes the function again.
        EXECUTION: Retrying cannot help (a KMS key problem, any other 4xx): the
            execution fails.
    """

    INVOCATION = "INVOCATION"
    EXECUTION = "EXECUTION"


CheckpointErrorCategory = DurableApiErrorCategory
"""The same enum under the name the official SDK first gave it."""


def is_stale_token(code: str | None, message: str | None) -> bool:
    """Whether an API error says the checkpoint token is stale (another invocation moved on)."""
    return code == INVALID_PARAMETER_VALUE_EXCEPTION and (message or "").lower().startswith(
        INVALID_CHECKPOINT_TOKEN_PREFIX.lower()
    )


def is_transient(code: str | None, status: int | None) -> bool:
    """Whether an API error is throttling or a service fault (a KMS error never is)."""
    if code in KMS_ERROR_CODES:
        return False
    return (
        code in THROTTLING_ERROR_CODES
        or status == TOO_MANY_REQUESTS_ERROR
        or (status is not None and status >= SERVICE_ERROR)
    )


def api_error_category(
    code: str | None, status: int | None, message: str | None
) -> DurableApiErrorCategory:
    """Classify a failed API call from its error code, HTTP status and message.

    Without a code or a status (no response: a connection error) the call is worth
    retrying; a KMS error, or a 4xx other than throttling and a stale token, is not.
    """
    if code in KMS_ERROR_CODES:
        return DurableApiErrorCategory.EXECUTION
    if (code is None and status is None) or is_stale_token(code, message):
        return DurableApiErrorCategory.INVOCATION
    if is_transient(code, status):
        return DurableApiErrorCategory.INVOCATION
    return DurableApiErrorCategory.EXECUTION


class CheckpointError(InvocationError):
    """A call to the durable-execution API failed.

    Built as the official SDK builds it (``CheckpointError(message, error_category,
    error, response_metadata)``) or with the keywords below; the attributes are
    filled in either way.

    Args:
        message: What failed.
        error_category: Whether the invocation (INVOCATION, the default) or the
            execution (EXECUTION) should end; the opposite of ``retryable``.
        error: The service's ``Error`` member (``{"Code", "Message"}``), if any.
        response_metadata: The service's ``ResponseMetadata`` (``HTTPStatusCode``,
            ``RequestId``...), if any.
        error_code: The service's error code (default: ``error["Code"]``).
        status_code: The HTTP status (default: ``response_metadata["HTTPStatusCode"]``).
        retryable: ``False`` for EXECUTION, ``True`` for INVOCATION: another way of
            giving ``error_category``.

    Attributes:
        error_category: INVOCATION (Lambda retries) or EXECUTION (the execution fails).
        error: The service's ``Error`` member, if any.
        response_metadata: The service's ``ResponseMetadata``, if any.
        error_code: The service's error code (e.g. ``TooManyRequestsException``), if any.
        status_code: The HTTP status, if any.

    Raises:
        ValidationError: ``error_category`` and ``retryable`` disagree.
    """

    default_reason = TerminationReason.CHECKPOINT_FAILED

    def __init__(
        self,
        message: str = "",
        error_category: DurableApiErrorCategory | None = None,
        error: Mapping[str, Any] | None = None,
        response_metadata: Mapping[str, Any] | None = None,
        *,
        error_code: str | None = None,
        status_code: int | None = None,
        retryable: bool | None = None,
    ) -> None:
        super().__init__(message)
        if retryable is not None:
            implied = (
                DurableApiErrorCategory.INVOCATION
                if retryable
                else DurableApiErrorCategory.EXECUTION
            )
            if error_category is not None and error_category is not implied:
                raise ValidationError(
                    f"CheckpointError got error_category={error_category} and "
                    f"retryable={retryable}, which contradict each other; give one of them"
                )
            error_category = implied
        self.error_category = error_category or DurableApiErrorCategory.INVOCATION
        self.error = dict(error) if error is not None else None
        self.response_metadata = dict(response_metadata) if response_metadata is not None else None
        if error_code is None and self.error is not None:
            error_code = self.error.get("Code")
        if status_code is None and self.response_metadata is not None:
            status_code = self.response_metadata.get("HTTPStatusCode")
        self.error_code = error_code
        self.status_code = status_code

    @classmethod
    def from_exception(cls, exception: BaseException) -> Self:
        """Describe a failed botocore call (a ``ClientError``, or a transport error).

        The message is ``str(exception)``; ``error`` and ``response_metadata`` are
        taken from the exception's ``response``, and the category follows from them:
        EXECUTION for a KMS error or a 4xx other than throttling and a stale
        checkpoint token, INVOCATION otherwise (a lost connection included).
        """
        response = getattr(exception, "response", None)
        if not isinstance(response, Mapping):
            response = {}
        error = response.get("Error")
        metadata = response.get("ResponseMetadata")
        error = error if isinstance(error, Mapping) else None
        metadata = metadata if isinstance(metadata, Mapping) else None
        code = error.get("Code") if error else None
        status = metadata.get("HTTPStatusCode") if metadata else None
        category = api_error_category(
            code if isinstance(code, str) else None,
            status if isinstance(status, int) else None,
            str(error.get("Message") or "") if error else None,
        )
        return cls(str(exception), category, error, metadata)

    @property
    def retryable(self) -> bool:
        """Whether Lambda should retry the invocation (``error_category`` is INVOCATION)."""
        return self.error_category is DurableApiErrorCategory.INVOCATION

    def is_retryable(self) -> bool:
        """Return whether Lambda should retry the invocation."""
        return self.retryable

    def is_retriable(self) -> bool:
        """Return :meth:`is_retryable` (the official SDK's older spelling)."""
        return self.retryable

    def build_logger_extras(self) -> dict[str, Any]:
        """Return the service's ``Error`` and ``ResponseMetadata`` as logging ``extra`` fields.

        Only the members that are known are included, under those two keys.
        """
        extras: dict[str, Any] = {}
        if self.error:
            extras["Error"] = self.error
        if self.response_metadata:
            extras["ResponseMetadata"] = self.response_metadata
        return extras


class StepInterruptedError(InvocationError):
    """An at-most-once step was found started but never finished.

    It is handed to the step's retry strategy instead of running the body again.

    Attributes:
        step_id: The interrupted step's operation id.
    """

    default_reason = TerminationReason.STEP_INTERRUPTED

    def __init__(self, message: str = "", step_id: str | None = None) -> None:
        super().__init__(message)
        self.step_id = step_id


class RetryableSerDesError(InvocationError):
    """Raised by a serdes to ask for the invocation to be retried (e.g. a transient store error)."""

    default_reason = TerminationReason.SERIALIZATION_ERROR


# Histories are interchangeable with the official SDK's, so the SDK's own error
# classes are recorded (ErrorType) under the official SDK's fully qualified names.
_OFFICIAL_MODULE = "aws_durable_execution_sdk_python.exceptions"
_WIRE_NAMES: dict[type[BaseException], str] = {
    cls: f"{_OFFICIAL_MODULE}.{cls.__name__}"
    for cls in (
        DurableExecutionsError,
        ValidationError,
        PluginLoadError,
        DurableOperationError,
        StepError,
        InvokeError,
        ChildContextError,
        WaitForConditionError,
        CallbackError,
        CallbackExternalError,
        CallbackTimeoutError,
        CallbackSubmitterError,
        SerDesError,
        UnrecoverableError,
        ExecutionError,
        NonDeterministicExecutionError,
        InvocationError,
        CheckpointError,
        StepInterruptedError,
        RetryableSerDesError,
    )
}
_WIRE_NAMES[BatchCompletionError] = (
    "aws_durable_execution_sdk_python.concurrency.models.BatchCompletionError"
)
# The errors only this SDK has are recorded under their public names.
for _name in __all__:
    _obj = globals().get(_name)
    if isinstance(_obj, type) and issubclass(_obj, BaseException) and _obj not in _WIRE_NAMES:
        _WIRE_NAMES[_obj] = f"durable_exec.{_name}"
_BY_WIRE_NAME: dict[str, type[BaseException]] = {}
for _cls, _name in _WIRE_NAMES.items():
    _BY_WIRE_NAME[_name] = _cls
    _BY_WIRE_NAME[f"durable_exec.{_cls.__name__}"] = _cls


def wire_type_name(cls: type[BaseException]) -> str:
    """Return the ``ErrorType`` recorded for exceptions of class ``cls``.

    Builtins are recorded by bare name (``ValueError``), the SDK's own errors under
    the official SDK's names, anything else as ``module.QualName``.
    """
    name = _WIRE_NAMES.get(cls)
    if name is not None:
        return name
    if cls.__module__ == "builtins":
        return cls.__qualname__
    return f"{cls.__module__}.{cls.__qualname__}"


_registry_lock = threading.Lock()


def register_operation_error(error_cls: type[DurableOperationError]) -> None:
    """Make replay rebuild your own :class:`DurableOperationError` subclass as itself.

    An operation's error is rebuilt from its record on the first run and on every
    replay; its ``__cause__`` is the recorded error as the class its type names.
    Without registration a class of yours comes back as a plain
    :class:`DurableOperationError` carrying its fields; registered, as itself. The
    class must take ``(message, error_type, data, stack_trace)`` as
    :class:`DurableOperationError` does. Call it at import time.

    Raises:
        ValidationError: ``error_cls`` is not a DurableOperationError subclass.

    Example:
        >>> class QuotaExceededError(DurableOperationError): ...
        >>> register_operation_error(QuotaExceededError)
    """
    if not (isinstance(error_cls, type) and issubclass(error_cls, DurableOperationError)):
        raise ValidationError(
            f"register_operation_error takes a DurableOperationError subclass, got {error_cls!r}"
        )
    with _registry_lock:
        _BY_WIRE_NAME[wire_type_name(error_cls)] = error_cls


def class_for_wire_type(error_type: str | None) -> type[BaseException] | None:
    """Return the SDK error class recorded as ``error_type``, if it is one of ours."""
    if not error_type:
        return None
    return _BY_WIRE_NAME.get(error_type)
