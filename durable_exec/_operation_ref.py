"""Who an operation is, before it has a checkpoint: the identity the plugin hooks report.

It lives apart from the plugin runtime so that operations can name an operation
without loading the plugin machinery (which only invocations with plugins need).
"""

from __future__ import annotations

from typing import NamedTuple

from durable_exec._wire import OperationType

__all__ = ["OperationRef"]


class OperationRef(NamedTuple):
    """Who an operation is, for the hooks the SDK fires before it has a checkpoint."""

    operation_id: str
    operation_type: OperationType
    sub_type: str | None
    name: str | None
    parent_id: str | None
