"""The official testing package's runner API (``aws_durable_execution_sdk_python_testing.runner``).

Tests written for ``aws-durable-execution-sdk-python-testing`` 1.4.0 run on
durable_exec once their imports say ``durable_exec.testing``:
:class:`DurableFunctionTestRunner` runs a handler in-process with time skipped,
:class:`DurableFunctionCloudTestRunner` runs the same tests against a deployed
function, and :class:`DurableFunctionTestResult` holds the outcome with the same
operation classes and attributes. durable_exec's own
:class:`~durable_exec.testing.DurableTestRunner` is the primary API; this one
is built on it. docs/migrating.md lists the differences.

Example:
    >>> from durable_exec.execution import InvocationStatus
    >>> from durable_exec.testing.runner import DurableFunctionTestRunner
    >>> with DurableFunctionTestRunner(handler=handler) as runner:  # doctest: +SKIP
    ...     result = runner.run(input={"order_id": "o-1"}, execution_timeout=30)
    >>> result.status is InvocationStatus.SUCCEEDED  # doctest: +SKIP
    True
"""

from durable_exec.testing._compat_cloud import DurableFunctionCloudTestRunner
from durable_exec.testing._compat_result import (
    OPERATION_FACTORIES,
    CallbackOperation,
    ContextOperation,
    DurableFunctionTestResult,
    ExecutionOperation,
    InvokeOperation,
    Operation,
    OperationFactory,
    StepOperation,
    WaitOperation,
    create_operation,
)
from durable_exec.testing._compat_runner import (
    DurableChildContextTestRunner,
    DurableFunctionTestRunner,
)

__all__ = [
    "OPERATION_FACTORIES",
    "CallbackOperation",
    "ContextOperation",
    "DurableChildContextTestRunner",
    "DurableFunctionCloudTestRunner",
    "DurableFunctionTestResult",
    "DurableFunctionTestRunner",
    "ExecutionOperation",
    "InvokeOperation",
    "Operation",
    "OperationFactory",
    "StepOperation",
    "WaitOperation",
    "create_operation",
]
