"""Enums and the error record of the durable-execution API (the official SDK's ``lambda_service``).

:class:`ErrorObject` is how an error is stored in a history (``ErrorMessage``,
``ErrorType``, ``ErrorData``, ``StackTrace``); ``BatchItem.error``, the test
runners' ``result.error`` and ``send_callback_failure`` use it. The enums name
operation types, statuses, actions and the SubTypes the SDKs record.

Example:
    >>> from durable_exec.lambda_service import ErrorObject
    >>> ErrorObject.from_exception(ValueError("bad input")).to_dict()
    {'ErrorMessage': 'bad input', 'ErrorType': 'ValueError'}
"""

from durable_exec._errors import CheckpointError, DurableOperationError, SerDesError
from durable_exec._wire import (
    CallbackTimeoutType,
    ErrorObject,
    InvocationStatus,
    OperationAction,
    OperationPayload,
    OperationStatus,
    OperationSubType,
    OperationType,
    ReplayChildren,
    TimeoutSeconds,
)

__all__ = [
    "CallbackTimeoutType",
    "CheckpointError",
    "DurableOperationError",
    "ErrorObject",
    "InvocationStatus",
    "OperationAction",
    "OperationPayload",
    "OperationStatus",
    "OperationSubType",
    "OperationType",
    "ReplayChildren",
    "SerDesError",
    "TimeoutSeconds",
]
