"""The official testing package's execution stores, as durable_exec's stores.

Pass one as ``DurableFunctionTestRunner(store=...)``. The in-memory store keeps
executions for the runner's life; the SQLite and "filesystem" stores keep them
in a SQLite file that outlives the process (the filesystem one in
``executions.db`` inside its directory, where the official store writes one JSON
file per execution).
"""

from __future__ import annotations

import enum
from pathlib import Path

from durable_exec.testing._sqlite_store import SqliteStore
from durable_exec.testing._store import MemoryStore

__all__ = [
    "FileSystemExecutionStore",
    "InMemoryExecutionStore",
    "SQLiteExecutionStore",
    "StoreType",
]


class StoreType(enum.Enum):
    """The kinds of execution store."""

    MEMORY = "memory"
    FILESYSTEM = "filesystem"
    SQLITE = "sqlite"


class InMemoryExecutionStore(MemoryStore):
    """Executions kept in memory, for the runner's life."""


class SQLiteExecutionStore(SqliteStore):
    """Executions kept in a SQLite file."""

    @classmethod
    def create_and_initialize(cls, db_path: Path | str | None = None) -> SQLiteExecutionStore:
        """Open (or create) the store at ``db_path`` (``durable-executions.db`` by default)."""
        return cls(Path(db_path) if db_path else Path("durable-executions.db"))


class FileSystemExecutionStore(SqliteStore):
    """Executions kept under a directory (in ``executions.db``, a SQLite file)."""

    @classmethod
    def create(cls, storage_dir: str | Path | None = None) -> FileSystemExecutionStore:
        """Open (or create) the store in ``storage_dir`` (``.durable_executions`` by default)."""
        directory = Path(storage_dir) if storage_dir else Path(".durable_executions")
        directory.mkdir(parents=True, exist_ok=True)
        return cls(directory / "executions.db")
