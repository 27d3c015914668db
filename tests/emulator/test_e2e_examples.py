"""The examples run end to end on the emulator with time skipped (their waits are minutes long).

The skip-time emulator also pages invocation envelopes at 8 KB, so the replays
here read part of their state with GetDurableExecutionState.
"""

from __future__ import annotations

import pytest
from emulator_harness import CallbackAnswer, Emulator, Execution, Scenario

pytestmark = pytest.mark.emulator


def event_types(execution: Execution, name: str) -> list[str]:
    """The history event types of the operation named ``name``, oldest first."""
    return [e["EventType"] for e in execution.history if e.get("Name") == name]


def test_order_processing(fast_emulator: Emulator):
    """The order is charged on the second attempt, waits five minutes, ships and completes."""
    execution = fast_emulator.run("order-processing", {"order_id": "o-42", "items": 3})
    assert execution.status == "SUCCEEDED"
    result = execution.result
    assert result["charge"] == "charge-o-42-5997"
    assert result["label"] == "label/eu-west/o-42"
    assert result["pickup"] == "pickup booked for label/eu-west/o-42"
    assert result["tracking"].startswith("TRK")
    assert event_types(execution, "charge_card") == [
        "StepStarted",
        "StepFailed",
        "StepStarted",
        "StepSucceeded",
    ]
    (wait,) = execution.events("WaitStarted", "cancellation-window")
    assert wait["WaitStartedDetails"]["Duration"] == 300
    assert event_types(execution, "ship") == ["ContextStarted", "ContextSucceeded"]


def test_approval_answered_through_botocore(fast_emulator: Emulator):
    """The manager's answer, sent with SendDurableExecutionCallbackSuccess, places the order."""
    execution = fast_emulator.play(
        Scenario(
            "approval",
            {"request": "laptop", "manager": "ana@example.com"},
            answers=(CallbackAnswer("manager-approval", result="approved"),),
        )
    )
    assert execution.result == {"request": "laptop", "decision": "approved"}
    assert event_types(execution, "place-order") == ["StepStarted", "StepSucceeded"]


def test_polling(fast_emulator: Emulator):
    """The job is checked four times, one invocation per check."""
    execution = fast_emulator.run("polling", {"job_id": "j-7"})
    assert execution.result == {"job_id": "j-7", "status": "DONE", "polls": 4}
    assert len(fast_emulator.endpoint.invocations_of(execution.arn)) == 4


def test_fan_out(fast_emulator: Emulator):
    """120 lines, 10 at a time; the two discontinued ones fail within the 5 % tolerance."""
    execution = fast_emulator.run("fan-out", {"lines": 120})
    assert execution.result == {
        "charged": 118,
        "failed": 2,
        "cents": sum(100 + i for i in range(120) if i % 97),
        "reason": "ALL_COMPLETED",
    }
    assert len(execution.events("ContextStarted")) == 121  # the map and its items


def test_orchestrator(fast_emulator: Emulator):
    """The orchestrator gets results from a durable target (by alias) and a plain one."""
    execution = fast_emulator.run("orchestrator", {"order_id": "o-9", "country": "DE"})
    assert execution.result == {
        "report": {"order": "o-9", "lines": 2, "total": 7},
        "tax_rate": 0.19,
    }
    (build,) = execution.events("ChainedInvokeStarted", "build-report")
    assert build["ChainedInvokeStartedDetails"]["FunctionName"] == "report-builder:live"
