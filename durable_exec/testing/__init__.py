"""Test durable handlers in-process, with time skipped.

:class:`DurableTestRunner` runs a ``@durable_execution`` handler against
:class:`LocalDurableService`, an in-memory implementation of the Lambda
durable-execution API, invoking it again and again (as Lambda would) until
the execution ends. A :class:`VirtualClock` makes waits, retry back-offs and
callback timeouts complete at once.

Example:
    >>> from durable_exec.testing import DurableTestRunner
    >>> result = DurableTestRunner(handler).run({"order_id": "o-1"})  # doctest: +SKIP
    >>> result.status, result.result  # doctest: +SKIP
    ('SUCCEEDED', {...})
"""

from durable_exec.testing._clock import VirtualClock
from durable_exec.testing._runner import (
    DurableTestRunner,
    FakeLambdaContext,
    SimulatedCrash,
    TestResult,
)
from durable_exec.testing._service import LocalDurableService

__all__ = [
    "DurableTestRunner",
    "FakeLambdaContext",
    "LocalDurableService",
    "SimulatedCrash",
    "TestResult",
    "VirtualClock",
]
