"""A store under a directory (``...testing.stores.filesystem``)."""

from durable_exec.testing._compat_stores import FileSystemExecutionStore

__all__ = ["FileSystemExecutionStore"]
