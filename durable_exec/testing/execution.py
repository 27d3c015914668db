"""Execution statuses of the official testing package (``...testing.execution``)."""

from durable_exec.testing._compat_result import ExecutionStatus

__all__ = ["ExecutionStatus"]
