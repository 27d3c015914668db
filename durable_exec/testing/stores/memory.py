"""An in-memory store (``...testing.stores.memory``)."""

from durable_exec.testing._compat_stores import InMemoryExecutionStore

__all__ = ["InMemoryExecutionStore"]
