"""Fixtures of the suite: a runner factory, and a recorder of each run's history.

The recorder writes what a run recorded (status, result, error, every operation)
to $PARITY_RECORD_DIR/<test name>.json when that variable is set, so the two runs
of this suite (official SDK, then durable_exec) can be compared operation by
operation.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aws_durable_execution_sdk_python_testing.runner import (
    DurableFunctionTestResult,
    DurableFunctionTestRunner,
)


@pytest.fixture
def make_runner():
    runners = []

    def make(handler, **kwargs):
        runner = DurableFunctionTestRunner(handler=handler, poll_interval=0.05, **kwargs)
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


def _operation(op) -> dict:
    error = getattr(op, "error", None)
    return {
        "id": op.operation_id,
        "parent": op.parent_id,
        "type": op.operation_type.value,
        "sub_type": op.sub_type,
        "name": op.name,
        "status": op.status.value,
        "result": getattr(op, "result", None),
        "error": None if error is None else [error.type, error.message],
        "attempt": getattr(op, "attempt", None),
        "callback_id": getattr(op, "callback_id", None),
    }


@pytest.fixture
def record(request):
    def write(result: DurableFunctionTestResult, label: str = "") -> None:
        target = os.environ.get("PARITY_RECORD_DIR")
        if not target:
            return
        name = request.node.name + (f"-{label}" if label else "")
        data = {
            "status": result.status.value,
            "execution_status": result.execution_status.value,
            "result": result.result,
            "error": None if result.error is None else [result.error.type, result.error.message],
            "operations": sorted(
                (_operation(op) for op in result.get_all_operations()), key=lambda o: o["id"]
            ),
        }
        Path(target, f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True))

    return write
