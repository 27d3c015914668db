"""The store interface and kinds (``...testing.stores.base``)."""

from durable_exec.testing._compat_stores import StoreType
from durable_exec.testing._store import ExecutionStore

__all__ = ["ExecutionStore", "StoreType"]
