"""A SQLite store (``...testing.stores.sqlite``)."""

from durable_exec.testing._compat_stores import SQLiteExecutionStore

__all__ = ["SQLiteExecutionStore"]
