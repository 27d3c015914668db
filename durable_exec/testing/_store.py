"""Where the local service keeps executions.

:class:`ExecutionStore` is the seam for a second backend (SQLite, say). The
service calls every store method while holding its own lock, and wraps each
mutation in ``with store.transaction():`` followed by ``store.save(execution)``
for the execution it changed, so a persistent backend commits exactly once per
service mutation. A mutation raises before ``save`` only when it changed
nothing (validation runs before any change), so rolling back is always safe.

:class:`MemoryStore` keeps live records in dictionaries: ``load`` returns the
record itself, ``save`` only indexes new records, and a transaction costs
nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence
    from contextlib import AbstractContextManager
    from types import TracebackType

    from durable_exec.testing._model import ExecutionRecord

__all__ = ["ExecutionStore", "MemoryStore"]


class ExecutionStore(Protocol):
    """Storage for :class:`~durable_exec.testing._model.ExecutionRecord` objects."""

    def transaction(self) -> AbstractContextManager[object]:
        """Return a context manager that commits on clean exit and rolls back on error."""
        ...

    def load(self, arn: str) -> ExecutionRecord | None:
        """Return the execution with ``arn``, or ``None`` if there is none."""
        ...

    def save(self, execution: ExecutionRecord) -> None:
        """Insert or update ``execution`` (and its indexes) in the current transaction."""
        ...

    def find_by_name(self, function_name: str, execution_name: str) -> ExecutionRecord | None:
        """Return the execution of ``function_name`` called ``execution_name``, if any."""
        ...

    def list_by_function(self, function_name: str) -> Sequence[ExecutionRecord]:
        """Return the executions of ``function_name`` in start order."""
        ...

    def arns(self) -> Iterator[str]:
        """Iterate over every stored execution's ARN."""
        ...


class _NoTransaction:
    """A reusable context manager that does nothing (memory needs no commit)."""

    __slots__ = ()

    def __enter__(self) -> object:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


_NO_TRANSACTION = _NoTransaction()


class MemoryStore:
    """An :class:`ExecutionStore` holding live records in memory (the default)."""

    __slots__ = ("_by_arn", "_by_function", "_by_name")

    def __init__(self) -> None:
        self._by_arn: dict[str, ExecutionRecord] = {}
        self._by_name: dict[tuple[str, str], ExecutionRecord] = {}
        self._by_function: dict[str, list[ExecutionRecord]] = {}

    def transaction(self) -> AbstractContextManager[object]:
        """Return a no-op context manager: in-memory changes are already visible."""
        return _NO_TRANSACTION

    def load(self, arn: str) -> ExecutionRecord | None:
        """Return the live record for ``arn``, or ``None``."""
        return self._by_arn.get(arn)

    def save(self, execution: ExecutionRecord) -> None:
        """Index ``execution`` if it is new; a known record is already up to date."""
        execution.dirty.clear()
        if execution.arn in self._by_arn:
            return
        self._by_arn[execution.arn] = execution
        self._by_name[execution.function_name, execution.name] = execution
        self._by_function.setdefault(execution.function_name, []).append(execution)

    def find_by_name(self, function_name: str, execution_name: str) -> ExecutionRecord | None:
        """Return the execution of ``function_name`` named ``execution_name``, if any."""
        return self._by_name.get((function_name, execution_name))

    def list_by_function(self, function_name: str) -> Sequence[ExecutionRecord]:
        """Return the executions of ``function_name`` in start order."""
        return self._by_function.get(function_name, ())

    def arns(self) -> Iterator[str]:
        """Iterate over every stored ARN."""
        return iter(list(self._by_arn))

    def __len__(self) -> int:
        return len(self._by_arn)
