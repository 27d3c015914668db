"""Errors of the official testing package's API (``...testing.exceptions``)."""

from durable_exec.testing._compat_errors import (
    AwsApiException,
    DurableFunctionsLocalRunnerError,
    DurableFunctionsTestError,
    InvalidParameterValueException,
    ResourceNotFoundException,
)

__all__ = [
    "AwsApiException",
    "DurableFunctionsLocalRunnerError",
    "DurableFunctionsTestError",
    "InvalidParameterValueException",
    "ResourceNotFoundException",
]
