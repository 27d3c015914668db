"""Golden histories recorded with the official SDK replay on durable_exec unchanged.

Each file in histories/ holds the final operations (with payloads) of one
workflow in tests/replay/workflows.py, recorded by running it on the official
``aws-durable-execution-sdk-python`` (tools/record_official.py). Fed that history,
durable_exec must reach the same result without sending a single update: the
same operation ids, names, subtypes and payload encodings. Changing the workflow
must be detected as non-determinism.
"""

from __future__ import annotations

import json
import pathlib
import sys
from types import SimpleNamespace
from typing import Any

import pytest

import durable_exec
from durable_exec._handler import run_invocation
from durable_exec.testing import VirtualClock

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workflows  # noqa: E402

HISTORIES = {p.stem: json.loads(p.read_text()) for p in sorted((HERE / "histories").glob("*.json"))}
ARN = "arn:aws:lambda:us-east-1:123456789012:function:golden:$LATEST/durable-execution/{}/{}"


class NoUpdatesClient:
    """A botocore-shaped client that records calls; replay must not need any."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []
        self.calls = 0

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        self.updates.extend(kwargs.get("Updates") or [])
        return {"CheckpointToken": f"token-{self.calls}", "NewExecutionState": {"Operations": []}}

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return {"Operations": []}


def our_namespace() -> SimpleNamespace:
    return SimpleNamespace(**{name: getattr(durable_exec, name) for name in durable_exec.__all__})


def envelope(golden: dict[str, Any]) -> dict[str, Any]:
    operations = [dict(op) for op in golden["operations"]]
    execution = next(op for op in operations if op["Type"] == "EXECUTION")
    execution["Status"] = "STARTED"
    execution.pop("EndTimestamp", None)
    arn = ARN.format(golden["name"], execution["Id"])
    others = [op for op in operations if op is not execution]
    return {
        "DurableExecutionArn": arn,
        "CheckpointToken": "golden-token",
        "InitialExecutionState": {"Operations": [execution, *others], "NextMarker": ""},
    }


@pytest.mark.parametrize("name", workflows.NAMES)
def test_official_history_replays_without_updates(name):
    """The recorded history replays to the recorded result and sends nothing."""
    golden = HISTORIES[name]
    handler = workflows.build(our_namespace())[name]
    client = NoUpdatesClient()
    output = run_invocation(handler, envelope(golden), None, client=client, clock=VirtualClock())
    assert output == {"Status": "SUCCEEDED", "Result": golden["result"]}
    assert client.updates == []


def test_every_workflow_has_a_history():
    """Each workflow has a recorded golden history (regenerate with tools/record_official.py)."""
    assert sorted(HISTORIES) == sorted(workflows.NAMES)


def test_a_renamed_step_is_detected_as_non_determinism():
    """Replaying a history against changed code fails the execution, naming the operation."""
    golden = HISTORIES["steps_wait_child"]
    sdk = our_namespace()

    @sdk.durable_execution
    def changed(event, context):
        context.step(lambda _: 42, name="not-add")
        return None

    output = run_invocation(
        changed, envelope(golden), None, client=NoUpdatesClient(), clock=VirtualClock()
    )
    assert output["Status"] == "FAILED"
    assert output["Error"]["ErrorType"] == (
        "aws_durable_execution_sdk_python.exceptions.NonDeterministicExecutionError"
    )
    assert "name: history has 'add', code asks for 'not-add'" in output["Error"]["ErrorMessage"]


def test_a_reordered_workflow_is_detected_as_non_determinism():
    """Calling a wait where the history has a step fails on the type."""
    golden = HISTORIES["steps_wait_child"]
    sdk = our_namespace()

    @sdk.durable_execution
    def reordered(event, context):
        context.wait(durable_exec.Duration(10), name="cool-off")

    output = run_invocation(
        reordered, envelope(golden), None, client=NoUpdatesClient(), clock=VirtualClock()
    )
    assert output["Status"] == "FAILED"
    assert "type: history has STEP, code asks for WAIT" in output["Error"]["ErrorMessage"]
