"""Test durable handlers in-process, with time skipped.

:class:`DurableTestRunner` runs a ``@durable_execution`` handler against
:class:`LocalDurableService`, an in-memory implementation of the Lambda
durable-execution API, invoking it again and again (as Lambda would) until
the execution ends. A :class:`VirtualClock` makes waits, retry back-offs and
callback timeouts complete at once. The service keeps executions in a
:class:`MemoryStore` by default, or in a :class:`SqliteStore` file that
outlives the process (what the ``durable-exec`` command line uses).

Tests written for the official ``aws-durable-execution-sdk-python-testing``
package run here too: its runner API (:class:`DurableFunctionTestRunner`,
:class:`DurableFunctionTestResult`, :class:`DurableFunctionCloudTestRunner`, ...)
lives at the same module paths (``durable_exec.testing.runner``, ``.exceptions``,
``.execution``, ``.model``, ``.stores``), built on :class:`DurableTestRunner`.

Example:
    >>> from durable_exec.testing import DurableTestRunner
    >>> result = DurableTestRunner(handler).run({"order_id": "o-1"})  # doctest: +SKIP
    >>> result.status, result.result  # doctest: +SKIP
    ('SUCCEEDED', {...})
"""

import typing as _typing

if _typing.TYPE_CHECKING:
    from durable_exec.testing._clock import VirtualClock
    from durable_exec.testing._compat_cloud import DurableFunctionCloudTestRunner
    from durable_exec.testing._compat_result import DurableFunctionTestResult
    from durable_exec.testing._compat_runner import (
        DurableChildContextTestRunner,
        DurableFunctionTestRunner,
    )
    from durable_exec.testing._faults import (
        ApiCall,
        Fault,
        FaultInjectingClient,
        FaultRule,
        Injection,
    )
    from durable_exec.testing._replay import (
        RecordedHistory,
        ReplayResult,
        load_history,
        replay_histories_test,
        replay_history,
    )
    from durable_exec.testing._runner import (
        DurableTestRunner,
        FakeLambdaContext,
        SimulatedCrash,
        TestResult,
    )
    from durable_exec.testing._service import LocalDurableService
    from durable_exec.testing._sqlite_store import SqliteStore, StoredExecution, StoreError
    from durable_exec.testing._store import ExecutionStore, MemoryStore

__all__ = [
    "ApiCall",
    "DurableChildContextTestRunner",
    "DurableFunctionCloudTestRunner",
    "DurableFunctionTestResult",
    "DurableFunctionTestRunner",
    "DurableTestRunner",
    "ExecutionStore",
    "FakeLambdaContext",
    "Fault",
    "FaultInjectingClient",
    "FaultRule",
    "Injection",
    "LocalDurableService",
    "MemoryStore",
    "RecordedHistory",
    "ReplayResult",
    "SimulatedCrash",
    "SqliteStore",
    "StoreError",
    "StoredExecution",
    "TestResult",
    "VirtualClock",
    "load_history",
    "replay_histories_test",
    "replay_history",
]

# Each name loads its module on first access: the command line reads the store
# without loading the runners, the official-compatible API or the fault injector.
_LAZY = {
    "ApiCall": "durable_exec.testing._faults",
    "DurableChildContextTestRunner": "durable_exec.testing._compat_runner",
    "DurableFunctionCloudTestRunner": "durable_exec.testing._compat_cloud",
    "DurableFunctionTestResult": "durable_exec.testing._compat_result",
    "DurableFunctionTestRunner": "durable_exec.testing._compat_runner",
    "DurableTestRunner": "durable_exec.testing._runner",
    "ExecutionStore": "durable_exec.testing._store",
    "FakeLambdaContext": "durable_exec.testing._runner",
    "Fault": "durable_exec.testing._faults",
    "FaultInjectingClient": "durable_exec.testing._faults",
    "FaultRule": "durable_exec.testing._faults",
    "Injection": "durable_exec.testing._faults",
    "LocalDurableService": "durable_exec.testing._service",
    "MemoryStore": "durable_exec.testing._store",
    "RecordedHistory": "durable_exec.testing._replay",
    "ReplayResult": "durable_exec.testing._replay",
    "SimulatedCrash": "durable_exec.testing._runner",
    "SqliteStore": "durable_exec.testing._sqlite_store",
    "StoreError": "durable_exec.testing._sqlite_store",
    "StoredExecution": "durable_exec.testing._sqlite_store",
    "TestResult": "durable_exec.testing._runner",
    "VirtualClock": "durable_exec.testing._clock",
    "load_history": "durable_exec.testing._replay",
    "replay_histories_test": "durable_exec.testing._replay",
    "replay_history": "durable_exec.testing._replay",
}


def __getattr__(name: str) -> _typing.Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'durable_exec.testing' has no attribute {name!r}")
    import importlib  # only on first access of a name

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
