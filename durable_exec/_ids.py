"""Deterministic operation ids, identical to the official SDK's.

The n-th operation (counting from 1) started in a context gets
``blake2b(key).hexdigest()[:64]`` where the key is ``"n"`` at the root and
``"{context_operation_id}-{n}"`` inside a child context. The name is not part
of the id: reordering calls changes ids, renaming does not (renames are caught
by replay validation instead). Pure functions: ids can be derived ahead of time
and from any thread.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading

__all__ = ["IdSequence", "OperationIdNamespace", "operation_id"]


def operation_id(prefix: str | None, position: int) -> str:
    """Return the id of the operation at ``position`` within the context ``prefix``.

    Args:
        prefix: The enclosing context's operation id, or ``None`` at the root.
        position: 1-based position of the operation within that context (for
            map/parallel branches, the item index as the official SDK numbers it).
    """
    key = f"{prefix}-{position}" if prefix else str(position)
    return hashlib.blake2b(key.encode()).hexdigest()[:64]


@dataclasses.dataclass(frozen=True)
class OperationIdNamespace:
    """The operation ids of one context, by position: compute ids ahead of time.

    Attributes:
        prefix: The context's own operation id, or ``None`` at the handler's root.

    Example:
        >>> OperationIdNamespace().create_id_for_step(1)[:8]
        '1ced8f5b'
    """

    prefix: str | None = None

    def create_id_for_step(self, step: int) -> str:
        """Return the id of the ``step``-th operation (1-based; a branch's index for map items)."""
        return operation_id(self.prefix, step)


class IdSequence:
    """The ordered, thread-safe counter of one context."""

    __slots__ = ("_count", "_lock", "prefix")

    def __init__(self, prefix: str | None) -> None:
        self.prefix = prefix
        self._count = 0  # guarded by _lock
        self._lock = threading.Lock()

    def next(self) -> str:
        """Allocate the next operation id."""
        with self._lock:
            self._count += 1
            position = self._count
        return operation_id(self.prefix, position)

    def peek(self) -> str:
        """Return the id the next call to :meth:`next` will allocate."""
        with self._lock:
            position = self._count + 1
        return operation_id(self.prefix, position)
