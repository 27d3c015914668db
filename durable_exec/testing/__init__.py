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
