"""Cancel scopes: what makes a map/parallel branch stop once its batch has completed.

Every map or parallel batch owns one :class:`CancelScope`; the operations of
its branches (and of contexts nested in them) carry it. When the batch
completes, its outcome is queued and the scope cancelled under the
checkpointer's lock, so no update from inside the batch can follow the
outcome; a branch still running then stops at its next durable call with
:class:`~durable_exec._signals.BranchOrphaned`.

The checkpointer does not know this class: it accepts anything with a
``cancelled`` property and a ``cancel()`` method.
"""

from __future__ import annotations

__all__ = ["CancelScope"]


class CancelScope:
    """A flag shared by every operation inside one map/parallel batch.

    Scopes nest: a scope is cancelled when any ancestor is.

    Args:
        parent: The scope of the enclosing batch, if any.
    """

    __slots__ = ("_cancelled", "parent")

    def __init__(self, parent: CancelScope | None = None) -> None:
        self.parent = parent
        self._cancelled = False

    def cancel(self) -> None:
        """Cancel this scope (and so every scope nested in it). Sends nothing by itself."""
        self._cancelled = True

    @property
    def cancelled(self) -> bool:
        """Whether this scope or an ancestor has been cancelled."""
        return self._cancelled or (self.parent is not None and self.parent.cancelled)
