"""durable_exec's DurableFunctionCloudTestRunner (the official API) against the emulator.

The runner starts executions with Lambda's ``Invoke`` (through the harness's
gateway, since the emulator has no ``Invoke`` route), polls GetDurableExecution
and rebuilds each result from GetDurableExecutionHistory: the handlers run in
their own processes on durable_exec, the service is AWS's emulator. The same
workflow run by the in-process DurableFunctionTestRunner gives the same result
and the same operations.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from emulator_harness import REGION, WORKFLOWS, Emulator

from durable_exec.execution import InvocationStatus
from durable_exec.lambda_service import ErrorObject, OperationStatus, OperationType
from durable_exec.testing.execution import ExecutionStatus
from durable_exec.testing.runner import (
    DurableFunctionCloudTestRunner,
    DurableFunctionTestRunner,
    StepOperation,
)

pytestmark = pytest.mark.emulator

CALLBACK_EXTERNAL = "aws_durable_execution_sdk_python.exceptions.CallbackExternalError"


@pytest.fixture
def cloud(emulator: Emulator):
    def make(function_name: str) -> DurableFunctionCloudTestRunner:
        assert emulator.proxy is not None
        return DurableFunctionCloudTestRunner(
            function_name, region=REGION, lambda_endpoint=emulator.proxy.url, poll_interval=0.05
        )

    return make


def _shape(result):
    return sorted(
        (op.operation_id, op.parent_id, op.operation_type, op.sub_type, op.name, op.status,
         getattr(op, "result", None))
        for op in result.get_all_operations()
    )  # fmt: skip


class TestCloudRunner:
    def test_run_returns_the_result_and_operations_of_the_execution(self, cloud):
        """run() invokes the function, waits for the end, and reads operations from history."""
        result = cloud("steps-and-retries").run(input={"order": "o-1"}, timeout=60)

        assert result.status is InvocationStatus.SUCCEEDED
        assert result.execution_status is ExecutionStatus.SUCCEEDED
        body = json.loads(result.result)
        assert body["plain"] == {"order": "o-1", "lines": [1, 2]}
        flaky = result.get_step("flaky")
        assert isinstance(flaky, StepOperation)
        assert (flaky.status, flaky.attempt) == (OperationStatus.SUCCEEDED, 3)

    def test_a_failed_execution_reports_its_error(self, cloud):
        """A handler that raises fails the execution; the error is the handler's."""
        result = cloud("fails").run(input={"order": "o-2"}, timeout=60)

        assert result.status is InvocationStatus.FAILED
        assert result.execution_status is ExecutionStatus.FAILED
        assert result.error.type == "ValueError"
        assert result.get_step("before").status is OperationStatus.SUCCEEDED

    def test_callbacks_are_found_and_answered(self, cloud):
        """run_async, wait_for_callback, heartbeats, success and failure, then the result."""
        runner = cloud("callbacks")
        arn = runner.run_async(input={}, timeout=60)
        approve = runner.wait_for_callback(arn, name="approve", timeout=30)
        runner.send_callback_heartbeat(approve)
        runner.send_callback_success(approve, b'"yes"')
        review = runner.wait_for_callback(arn, timeout=30)
        runner.send_callback_success(review, b"looks good")
        reject = runner.wait_for_callback(arn, name="reject", timeout=30)
        runner.send_callback_failure(reject, ErrorObject("no budget", "Budget", "q3"))
        result = runner.wait_for_result(arn, timeout=60)

        assert result.status is InvocationStatus.SUCCEEDED
        assert json.loads(result.result) == {
            "approve": '"yes"',
            "review": "looks good",
            "reject": [CALLBACK_EXTERNAL, "no budget", "q3"],
        }
        callbacks = [
            op for op in result.get_all_operations() if op.operation_type is OperationType.CALLBACK
        ]
        assert len(callbacks) == 3
        assert all(op.callback_id for op in callbacks)

    def test_the_cloud_and_local_runners_agree(self, cloud):
        """A workflow gives the same result and operations in the emulator and in-process."""
        remote = cloud("wait-and-child").run(input={"order": "o-3"}, timeout=60)
        path = WORKFLOWS / "operations.py"
        spec = importlib.util.spec_from_file_location("cloud_workflows", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        with DurableFunctionTestRunner(handler=module.wait_and_child) as runner:
            local = runner.run(input={"order": "o-3"}, execution_timeout=60)

        assert (remote.status, remote.result) == (local.status, local.result)
        assert _shape(remote) == _shape(local)

    def test_pause_and_resume_are_not_available(self, cloud):
        """As in the official runner, pausing a deployed function's execution is refused."""
        runner = cloud("fails")
        with pytest.raises(NotImplementedError):
            runner.pause_execution("arn")
        with pytest.raises(NotImplementedError):
            runner.resume_execution("arn")
