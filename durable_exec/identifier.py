"""Deterministic operation ids (the official SDK's ``identifier`` module).

The n-th operation of a context gets the same id under both SDKs, so ids can be
computed ahead of time, for instance to look operations up in a test.

Example:
    >>> from durable_exec.identifier import OperationIdNamespace
    >>> first = OperationIdNamespace().create_id_for_step(1)
    >>> inside = OperationIdNamespace(first).create_id_for_step(1)
"""

from durable_exec._errors import NonDeterministicExecutionError
from durable_exec._ids import OperationIdNamespace
from durable_exec._wire import OperationType

__all__ = ["NonDeterministicExecutionError", "OperationIdNamespace", "OperationType"]
