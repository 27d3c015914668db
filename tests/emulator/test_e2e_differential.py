"""Differential: durable_exec.testing and AWS's emulator must record the same operations.

Each scenario of ``emulator_harness.SCENARIOS`` runs twice: in-process with
:class:`durable_exec.testing.DurableTestRunner` (virtual time, callbacks answered
by ``on_callback``) and on the real-time emulator (fresh handler processes,
callbacks answered through botocore). The two histories (the in-process
service's ``events(arn)``, the emulator's GetDurableExecutionHistory) are reduced
by ``operation_view`` and must be equal: per operation its Id, Type, SubType,
Name, parent, final status, the outcome of every event (retries included), the
final Result payload or Error, and the order its children started in; and the
execution's status, result and error.

Tolerated, i.e. left out of the comparison (EMULATOR.md §1.7 and what these runs
showed):

* ids of executions, names, timestamps, request ids, callback ids (opaque on
  both sides: the emulator's are base64 JSON, ours base64 of ARN and op id),
  ExecutionTimeout;
* where InvocationCompleted events fall (timing) and their details; the
  emulator records no InvocationCompleted for a crashed invocation;
* event details the emulator leaves out or adds: ``RetryDetails`` on
  StepSucceeded (absent there), ``NextAttemptDelaySeconds: 0`` on a step's last
  StepFailed (added there), the state ``Payload`` on wait-for-condition checks
  (absent there), ``Truncated: true`` on error payloads, ``TenantId`` (absent
  there) and ``DurableExecutionArn`` (absent here) on ChainedInvokeStarted;
* StackTrace in errors (file paths differ by process);
* the interleaving of operations in *different* map/parallel branches, and the
  order the branches themselves start in, which depend on thread timing; the
  start order within each context is compared.

Not in the differential: a chained invoke of an unknown function. The emulator
fails it inside the START checkpoint (the handler sees FAILED at once, message
"Function not found: nobody."), the in-process runner one invocation later
("Function not found: nobody").
"""

from __future__ import annotations

import copy
import importlib.util
import json
import pathlib
from typing import Any

import pytest
from emulator_harness import FUNCTIONS, SCENARIOS, Scenario, operation_view

from durable_exec.testing import DurableTestRunner, TestResult

pytestmark = pytest.mark.emulator

DIFFERENTIAL = [
    "steps-and-retries",
    "fails",
    "wait-and-child",
    "callbacks",
    "callback-timeout",
    "invokes",
    "wait-for-condition",
    "map-and-parallel",
]
INVOKE_TARGETS = ("counter", "pricer")


def load(spec: str) -> Any:
    """Import ``PATH:ATTR`` (a workflow file) in this process."""
    path, _, attr = spec.rpartition(":")
    file = pathlib.Path(path)
    module_spec = importlib.util.spec_from_file_location(f"differential_{file.stem}", file)
    assert module_spec is not None
    assert module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, attr)


def run_in_process(scenario: Scenario) -> TestResult:
    """Run ``scenario`` on DurableTestRunner with the same targets and callback answers."""
    spec = FUNCTIONS[scenario.function]
    assert isinstance(spec, str)
    runner = DurableTestRunner(load(spec))
    for target in INVOKE_TARGETS:
        target_spec = FUNCTIONS[target]
        assert isinstance(target_spec, str)
        runner.register_function(target, load(target_spec))
    for answer in scenario.answers:
        runner.on_callback(answer.name, result=answer.result, error=answer.error)
    return runner.run(scenario.payload)


def without_stack_trace(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """An ErrorObject without its StackTrace."""
    return None if error is None else {k: v for k, v in error.items() if k != "StackTrace"}


@pytest.mark.parametrize("name", DIFFERENTIAL)
def test_in_process_service_records_what_the_emulator_records(played, name):
    """The in-process service and the emulator give the same operation history and outcome."""
    emulated = played(name)
    local = run_in_process(SCENARIOS[name])
    assert local.status == emulated.status
    assert local.result == emulated.result
    local_error = local.error.to_wire() if local.error is not None else None
    assert without_stack_trace(local_error) == without_stack_trace(emulated.error)
    assert operation_view(local.history) == operation_view(emulated.history)


def test_the_comparison_sees_payloads_outcomes_and_order(played):
    """operation_view changes when a payload, an attempt or the start order changes."""
    history = played("steps-and-retries").history
    view = operation_view(history)

    changed_payload = copy.deepcopy(history)
    succeeded = next(e for e in changed_payload if e["EventType"] == "StepSucceeded")
    succeeded["StepSucceededDetails"]["Result"]["Payload"] = json.dumps("something else")
    assert operation_view(changed_payload) != view

    one_attempt_less = [
        e for e in history if not (e["EventType"] == "StepFailed" and e.get("Name") == "flaky")
    ]
    assert operation_view(one_attempt_less) != view

    starts = [i for i, e in enumerate(history) if e["EventType"] == "StepStarted"]
    swapped = list(history)
    swapped[starts[0]], swapped[starts[1]] = swapped[starts[1]], swapped[starts[0]]
    assert operation_view(swapped) != view
