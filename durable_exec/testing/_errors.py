"""Service faults and their translation into botocore ``ClientError``.

Internals raise :class:`ServiceFault` (code plus message); each public API
method of the local service turns it into the ``ClientError`` a botocore
``lambda`` client would raise for the same response, with the modelled
``Error.Code``, ``Error.Message``, HTTP status and the shape's own members
(``Type`` and ``message`` or ``Message``). botocore is imported lazily, so
importing the service stays cheap.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.exceptions import ClientError

__all__ = [
    "CALLBACK_TIMEOUT",
    "INVALID_PARAMETER",
    "RESOURCE_NOT_FOUND",
    "ServiceFault",
    "api_operation",
    "client_error",
]

INVALID_PARAMETER = "InvalidParameterValueException"
CALLBACK_TIMEOUT = "CallbackTimeoutException"
RESOURCE_NOT_FOUND = "ResourceNotFoundException"
ALREADY_STARTED = "DurableExecutionAlreadyStartedException"

_HTTP_STATUS: dict[str, int] = {
    INVALID_PARAMETER: 400,
    CALLBACK_TIMEOUT: 400,
    RESOURCE_NOT_FOUND: 404,
    "ResourceConflictException": 409,
    ALREADY_STARTED: 409,
    "TooManyRequestsException": 429,
    "ServiceException": 500,
}
# The model spells the message member in lower case for these shapes.
_LOWER_CASE_MESSAGE = frozenset(
    {INVALID_PARAMETER, "ResourceConflictException", "TooManyRequestsException"}
)

P = ParamSpec("P")
R = TypeVar("R")


class ServiceFault(Exception):  # noqa: N818 - internal signal, never leaves the package
    """A modelled service error raised inside the local service.

    Args:
        code: The modelled error code, e.g. ``InvalidParameterValueException``.
        message: The error message, as the service would word it.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> ServiceFault:
    """Return an ``InvalidParameterValueException`` fault with ``message``."""
    return ServiceFault(INVALID_PARAMETER, message)


@functools.cache
def _error_class(code: str) -> type[ClientError]:
    from botocore.exceptions import ClientError

    # botocore's error factory builds one ClientError subclass per modelled
    # code; mirror that so ``type(err).__name__`` reads like the real thing.
    return type(code, (ClientError,), {})


def client_error(code: str, message: str, operation_name: str) -> ClientError:
    """Build the ``ClientError`` botocore raises for a modelled error response.

    Args:
        code: The modelled error code.
        message: The error message.
        operation_name: The API operation, e.g. ``CheckpointDurableExecution``.

    Returns:
        A ``botocore.exceptions.ClientError`` subclass named after ``code``.
    """
    status = _HTTP_STATUS.get(code, 400)
    response: dict[str, Any] = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {
            "HTTPStatusCode": status,
            "HTTPHeaders": {"x-amzn-errortype": code, "content-type": "application/json"},
            "RetryAttempts": 0,
        },
        "Type": "User" if status < 500 else "Service",
        ("message" if code in _LOWER_CASE_MESSAGE else "Message"): message,
    }
    return _error_class(code)(response, operation_name)  # type: ignore[arg-type]


def api_operation(operation_name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a public method so a :class:`ServiceFault` surfaces as a ``ClientError``.

    Args:
        operation_name: The API operation name reported in the ``ClientError``.
    """

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return func(*args, **kwargs)
            except ServiceFault as fault:
                raise client_error(fault.code, fault.message, operation_name) from fault

        return wrapper

    return decorate
