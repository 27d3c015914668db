"""End to end over botocore: every operation kind against AWS's local emulator.

Each execution runs in the emulator; every invocation is a fresh handler process
whose only line to the service is durable_exec's own botocore client
(``AWS_ENDPOINT_URL_LAMBDA``). Results are read back with GetDurableExecution and
histories with GetDurableExecutionHistory, both through botocore.
"""

from __future__ import annotations

import datetime
import json
import pathlib
from typing import Any

import pytest
from emulator_harness import Emulator, Execution

pytestmark = pytest.mark.emulator

STEP_INTERRUPTED = "aws_durable_execution_sdk_python.exceptions.StepInterruptedError"
CALLBACK_EXTERNAL = "aws_durable_execution_sdk_python.exceptions.CallbackExternalError"


def event_types(execution: Execution, name: str) -> list[str]:
    """The history event types of the operation named ``name``, oldest first."""
    return [e["EventType"] for e in execution.history if e.get("Name") == name]


def operation_id(execution: Execution, name: str) -> str:
    """The id of the operation named ``name``."""
    return next(str(e["Id"]) for e in execution.history if e.get("Name") == name)


def parent_of(execution: Execution, name: str) -> str | None:
    """The ParentId of the operation named ``name``."""
    return next(e.get("ParentId") for e in execution.history if e.get("Name") == name)


def seconds(later: dict[str, Any], earlier: dict[str, Any]) -> float:
    """Seconds between two history events."""
    delta: datetime.timedelta = later["EventTimestamp"] - earlier["EventTimestamp"]
    return delta.total_seconds()


def details(event: dict[str, Any]) -> dict[str, Any]:
    """An event's ``<EventType>Details``."""
    return dict(event[f"{event['EventType']}Details"])


def payload(event: dict[str, Any]) -> Any:
    """The decoded ``Result`` payload of a history event."""
    return json.loads(details(event)["Result"]["Payload"])


class TestSteps:
    def test_retries_are_checkpointed_and_wait_out_their_delay(self, played, emulator: Emulator):
        """Failed attempts are retried in later invocations after their delay, up to the limit."""
        execution = played("steps-and-retries")
        assert execution.status == "SUCCEEDED"
        assert execution.result == {
            "plain": {"order": "o-1", "lines": [1, 2]},
            "retried": "ok on attempt 3",
            "hopeless": ["ConnectionError", "attempt 3 timed out"],
        }
        assert event_types(execution, "flaky") == [
            "StepStarted",
            "StepFailed",
            "StepStarted",
            "StepFailed",
            "StepStarted",
            "StepSucceeded",
        ]
        failures = execution.events("StepFailed", "flaky")
        assert [details(f)["RetryDetails"] for f in failures] == [
            {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1},
            {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 1},
        ]
        retries = execution.events("StepStarted", "flaky")[1:]
        assert all(seconds(s, f) >= 0.9 for s, f in zip(retries, failures, strict=True))
        hopeless = execution.events("StepFailed", "hopeless")
        assert len(hopeless) == 3
        assert details(hopeless[-1])["Error"]["Payload"] == {
            "ErrorType": "ConnectionError",
            "ErrorMessage": "attempt 3 timed out",
        }
        # One invocation per attempt that waited for a retry, plus the first.
        assert len(emulator.endpoint.invocations_of(execution.arn)) == 5

    def test_an_unhandled_error_fails_the_execution(self, played):
        """An exception from the handler fails the execution with its type and message."""
        execution = played("fails")
        assert execution.status == "FAILED"
        expected = {"ErrorType": "ValueError", "ErrorMessage": "order o-13 is invalid"}
        assert execution.error == expected
        assert details(execution.history[-1])["Error"]["Payload"] == expected
        assert event_types(execution, "before") == ["StepStarted", "StepSucceeded"]


class TestWaitsAndChildContexts:
    def test_waits_suspend_and_children_nest(self, played, emulator: Emulator):
        """Waits end the invocation for their duration; child operations carry their parent's id."""
        execution = played("wait-and-child")
        assert execution.status == "SUCCEEDED"
        assert execution.result == {
            "prepared": {"order": "O-2"},
            "deep": 42,
            "broken": ["KeyError", "'missing-sku'"],
        }
        (started,) = execution.events("WaitStarted", "cool-off")
        (ended,) = execution.events("WaitSucceeded", "cool-off")
        assert details(started)["Duration"] == 1
        assert seconds(ended, started) >= 0.9
        assert parent_of(execution, "normalise") == operation_id(execution, "prepare")
        assert parent_of(execution, "settle") == operation_id(execution, "prepare")
        assert parent_of(execution, "inner") == operation_id(execution, "outer")
        assert parent_of(execution, "deep-step") == operation_id(execution, "inner")
        assert parent_of(execution, "prepare") is None
        (failed,) = execution.events("ContextFailed", "broken")
        assert details(failed)["Error"]["Payload"] == {
            "ErrorType": "KeyError",
            "ErrorMessage": "'missing-sku'",
        }
        assert len(emulator.endpoint.invocations_of(execution.arn)) == 3


class TestCallbacks:
    def test_callbacks_are_answered_through_botocore(self, played):
        """Heartbeat, success and failure sent with botocore reach the waiting handler."""
        execution = played("callbacks")
        assert execution.status == "SUCCEEDED"
        assert execution.result == {
            "approve": '"yes"',
            "review": '{"score": 5}',
            "reject": [CALLBACK_EXTERNAL, "no budget", '{"q": 1}'],
        }
        # Heartbeats kept "approve" alive past its 3 s heartbeat timeout.
        (started,) = execution.events("CallbackStarted", "approve")
        (succeeded,) = execution.events("CallbackSucceeded", "approve")
        assert seconds(succeeded, started) > 3
        assert not execution.events("CallbackTimedOut")
        review = operation_id(execution, "review")
        (review_callback,) = [
            e for e in execution.events("CallbackStarted") if e.get("ParentId") == review
        ]
        assert review_callback["SubType"] == "Callback"
        (failed,) = execution.events("CallbackFailed", "reject")
        assert details(failed)["Error"]["Payload"]["ErrorType"] == "Rejected"

    def test_an_unanswered_callback_times_out(self, played):
        """A callback nobody answers raises CallbackTimeoutError once the service's timer fires."""
        execution = played("callback-timeout")
        assert (
            execution.result
            == "timed out: aws_durable_execution_sdk_python.exceptions.CallbackTimeoutError"
        )
        (started,) = execution.events("CallbackStarted", "late")
        (timed_out,) = execution.events("CallbackTimedOut", "late")
        assert seconds(timed_out, started) >= 0.9


class TestChainedInvokes:
    def test_durable_and_plain_targets(self, played, emulator: Emulator):
        """A durable target runs as a child execution, a plain one as one Invoke; errors return."""
        execution = played("invokes")
        assert execution.status == "SUCCEEDED"
        assert execution.result == {
            "count": {"n": 3, "doubled": 6},
            "price": 20,
            "bad": ["ValueError", "negative quantity"],
        }
        (count,) = execution.events("ChainedInvokeStarted", "count")
        assert details(count)["FunctionName"] == "counter:live"
        child = emulator.wait(details(count)["DurableExecutionArn"])
        assert (child.status, child.result) == ("SUCCEEDED", {"n": 3, "doubled": 6})
        child_invocations = emulator.endpoint.invocations_of(child.arn)
        assert len(child_invocations) == 2  # the target waits once
        assert all(i.marked for i in child_invocations)
        plain = [i for i in emulator.endpoint.invocations if i.function_name == "pricer"]
        assert plain
        assert not any(i.marked or i.arn for i in plain)
        (bad,) = execution.events("ChainedInvokeFailed", "bad-price")
        error = details(bad)["Error"]["Payload"]
        assert (error["ErrorType"], error["ErrorMessage"]) == ("ValueError", "negative quantity")

    def test_an_unknown_target_fails_the_invoke(self, emulator: Emulator):
        """Invoking a function the service does not know raises InvokeError (ResourceNotFound)."""
        execution = emulator.run("unknown-target", {})
        assert execution.result == ["ResourceNotFoundException", "Function not found: nobody."]
        assert event_types(execution, "unknown") == ["ChainedInvokeStarted", "ChainedInvokeFailed"]
        # The emulator fails it in the START response; the SDK reads that and goes on.
        assert len(emulator.endpoint.invocations_of(execution.arn)) == 1


class TestWaitForCondition:
    def test_polls_until_the_condition_holds(self, played, emulator: Emulator):
        """Each check is a STEP attempt; the state is checkpointed between checks a second apart."""
        execution = played("wait-for-condition")
        assert execution.result == {"polls": 3, "status": "DONE"}
        # The emulator records a RETRY without error as StepSucceeded with RetryDetails.
        assert event_types(execution, "job") == ["StepStarted", "StepSucceeded"] * 3
        checks = execution.events("StepSucceeded", "job")
        assert [details(c).get("RetryDetails") for c in checks] == [
            {"CurrentAttempt": 1, "NextAttemptDelaySeconds": 1},
            {"CurrentAttempt": 2, "NextAttemptDelaySeconds": 1},
            None,
        ]
        starts = execution.events("StepStarted", "job")
        assert seconds(starts[1], checks[0]) >= 0.9
        assert len(emulator.endpoint.invocations_of(execution.arn)) == 3


class TestMapAndParallel:
    def test_branches_suspend_and_resume(self, played, emulator: Emulator):
        """Map items and parallel branches that wait suspend the invocation and finish later."""
        execution = played("map-and-parallel")
        assert execution.status == "SUCCEEDED"
        assert execution.result == {
            "map": [10, 21, 32],
            "map_reason": "ALL_COMPLETED",
            "parallel": ["quick", "slow"],
        }
        items = operation_id(execution, "items")
        item_names = [f"map-item-{i}" for i in range(3)]
        assert all(parent_of(execution, name) == items for name in item_names)
        for name in item_names:
            assert event_types(execution, name) == ["ContextStarted", "ContextSucceeded"]
        # max_concurrency=2: the third item starts only once one of the first two is done.
        order = [(e["EventType"], e.get("Name")) for e in execution.history]
        first_done = min(
            order.index(("ContextSucceeded", name)) for name in ("map-item-0", "map-item-1")
        )
        assert order.index(("ContextStarted", "map-item-2")) > first_done
        branches = operation_id(execution, "branches")
        assert parent_of(execution, "parallel-branch-0") == branches
        assert parent_of(execution, "parallel-branch-1") == branches
        assert parent_of(execution, "long") == operation_id(execution, "parallel-branch-1")
        assert len(emulator.endpoint.invocations_of(execution.arn)) >= 2


class TestCrashes:
    def test_an_execution_survives_processes_killed_mid_step(
        self, emulator: Emulator, tmp_path: pathlib.Path
    ):
        """A process killed inside a step is re-invoked; at-most-once steps see the interruption."""
        execution = emulator.run("crash-in-step", {"marker_dir": str(tmp_path)})
        assert execution.status == "SUCCEEDED"
        assert execution.result == [
            "at-least-once ran again as attempt 1",
            "at-most-once retried as attempt 2",
        ]
        assert sorted(p.name for p in tmp_path.iterdir()) == ["at-least-once", "at-most-once"]
        invocations = emulator.endpoint.invocations_of(execution.arn)
        assert [i.returncode for i in invocations] == [17, 17, 0, 0]
        assert event_types(execution, "at-most-once") == [
            "StepStarted",
            "StepFailed",
            "StepStarted",
            "StepSucceeded",
        ]
        (interrupted,) = execution.events("StepFailed", "at-most-once")
        assert details(interrupted)["Error"]["Payload"]["ErrorType"] == STEP_INTERRUPTED
        assert details(interrupted)["RetryDetails"]["CurrentAttempt"] == 1


class TestSizes:
    def test_a_paged_envelope_is_read_with_get_durable_execution_state(
        self, fast_emulator: Emulator
    ):
        """A replay whose state overflows one envelope page reads the rest; no step runs twice."""
        execution = fast_emulator.run("many-steps", {"steps": 60, "padding": 300})
        assert execution.result == {
            "steps": 60,
            "total": 60 * 300 + sum(len(f"{i}:") for i in range(60)),
        }
        replay = fast_emulator.endpoint.invocations_of(execution.arn)[1]
        assert replay.paged
        assert len(execution.events("StepStarted")) == 61

    def test_a_result_over_the_response_limit_is_checkpointed(self, emulator: Emulator):
        """A result too big for the Invoke response is checkpointed and the response left empty."""
        execution = emulator.run("large-result", {"megabytes": 6.5})
        assert execution.status == "SUCCEEDED"
        assert execution.result == {"blob": "y" * int(6.5 * 1024 * 1024)}
        (invocation,) = emulator.endpoint.invocations_of(execution.arn)
        assert invocation.output == {"Status": "SUCCEEDED", "Result": ""}
