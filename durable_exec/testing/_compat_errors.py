"""The errors of the official testing package's runner API (``...testing.exceptions``)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "AwsApiException",
    "DurableFunctionsLocalRunnerError",
    "DurableFunctionsTestError",
    "InvalidParameterValueException",
    "ResourceNotFoundException",
]


class DurableFunctionsLocalRunnerError(Exception):
    """Root of the errors of the local service, as the official testing package names it."""


class DurableFunctionsTestError(Exception):
    """A test asked the runner something it cannot answer (no such operation, callback...)."""


class AwsApiException(DurableFunctionsLocalRunnerError):  # noqa: N818 - the official name
    """An error shaped like an API error: its type and HTTP status.

    Attributes:
        http_status_code: The HTTP status the API answers with.
    """

    http_status_code: int = 500

    def to_dict(self) -> dict[str, Any]:
        """Return the error as the API serialises it."""
        return {"Type": type(self).__name__, "Message": str(self)}


class InvalidParameterValueException(AwsApiException):
    """A parameter is missing or malformed (e.g. a blank execution ARN).

    Attributes:
        message: What is wrong.
    """

    http_status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"Type", "message"}`` (lower case, as the API spells it here)."""
        return {"Type": type(self).__name__, "message": self.message}


class ResourceNotFoundException(AwsApiException):
    """No execution (or callback) has that identifier.

    Attributes:
        Message: What was not found (capitalised, as the API spells it).
    """

    http_status_code = 404

    def __init__(self, Message: str) -> None:  # noqa: N803 - the API's member name
        super().__init__(Message)
        self.Message = Message
