"""Crash anywhere: every example workflow survives a crash at every API call and inside step bodies.

For each workflow (the five examples plus a dedicated at-most-once one) the
process is made to die at the k-th API call, for every k, both before the
call reaches the service and after the service applied it (the response is
lost); and, chosen by Hypothesis, inside a step body before or after its side
effects. The runner then invokes again until the execution ends. The final
result must equal the crash-free result, an at-most-once step body must never
run twice for one attempt, an at-least-once body may run at most once more per
crash, and nothing checkpointed may be lost.

The services page the invocation envelope (three operations inline), so
``GetDurableExecutionState`` calls are crash points too.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_exec import (
    Duration,
    MapConfig,
    StepConfig,
    StepSemantics,
    durable_execution,
)
from durable_exec.testing import (
    DurableTestRunner,
    Fault,
    FaultInjectingClient,
    LocalDurableService,
    TestResult,
    VirtualClock,
)

FULL = os.environ.get("DURABLE_RELIABILITY_FULL") == "1"
EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"
FAN_OUT_LINES = 300 if FULL else 30
BODY_CRASH_EXAMPLES = 150 if FULL else 6


def load(name: str) -> ModuleType:
    """Import ``examples/<name>.py``."""
    spec = importlib.util.spec_from_file_location(f"crash_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


AT_MOST_ONCE = StepConfig(step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY)


@durable_execution
def payments(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """At-most-once charges (sequential and in a map), a wait, an at-least-once receipt."""
    charges = [
        context.step(lambda _, i=i: f"pay-{i}", name=f"pay-{i}", config=AT_MOST_ONCE)
        for i in range(3)
    ]

    def refund(ctx: Any, amount: int, index: int, items: Any) -> str:
        return ctx.step(lambda _: f"refund-{amount}", name="refund", config=AT_MOST_ONCE)

    refunds = context.map([5, 7], refund, name="refunds", config=MapConfig(max_concurrency=2))
    context.wait(Duration(2), name="settle")
    receipt = context.step(lambda _: "receipt", name="receipt")
    return {"charges": charges, "refunds": refunds.get_results(), "receipt": receipt}


def _plain(result: TestResult) -> Any:
    return result.result


def _order_result(result: TestResult) -> Any:
    """The order's result without its random tracking number, once that is checked."""
    value = dict(result.result)
    tracking = value.pop("tracking")
    # The random number comes from a step: the result must hold the checkpointed one.
    assert tracking == result.decoded(result.get_step("tracking"))
    return value


def _approval(runner: DurableTestRunner, module: ModuleType) -> None:
    runner.on_callback("manager-approval", result="approved")


def _orchestrator(runner: DurableTestRunner, module: ModuleType) -> None:
    runner.register_function("report-builder", module.report_builder)
    runner.register_function("tax-rate", module.tax_rate)


def _nothing(runner: DurableTestRunner, module: ModuleType) -> None:
    return None


@dataclasses.dataclass(frozen=True)
class Workflow:
    """A workflow of the campaign: handler, input, runner set-up, result to compare."""

    name: str
    module: ModuleType | None
    handler: Any
    input: Any
    setup: Callable[[DurableTestRunner, Any], None] = _nothing
    compare: Callable[[TestResult], Any] = _plain
    at_most_once: bool = False

    def run(
        self, *faults: tuple[Fault, dict[str, Any]], probe: Any = None
    ) -> tuple[TestResult, FaultInjectingClient]:
        """Run to the end on a fresh paging service, with ``faults`` scheduled."""
        clock = VirtualClock()
        client = FaultInjectingClient(LocalDurableService(clock, envelope_max_operations=3))
        for fault, schedule in faults:
            client.inject(fault, **schedule)
        if probe is not None:
            probe.client = client
        runner = DurableTestRunner(self.handler, service=client, clock=clock)  # type: ignore[arg-type]
        self.setup(runner, self.module)
        return runner.run(self.input), client


def _example(name: str, payload: Any, **kwargs: Any) -> Workflow:
    module = load(name)
    return Workflow(name, module, module.handler, payload, **kwargs)


WORKFLOWS = [
    _example("order_processing", {"order_id": "o-42", "items": 3}, compare=_order_result),
    _example("approval", {"request": "laptop", "manager": "ana@example.com"}, setup=_approval),
    _example("orchestrator", {"order_id": "o-9", "country": "DE"}, setup=_orchestrator),
    _example("polling", {"job_id": "j-7"}),
    _example("fan_out", {"lines": FAN_OUT_LINES}),
    Workflow("payments", None, payments, {}, at_most_once=True),
]


@dataclasses.dataclass(frozen=True)
class Baseline:
    """A workflow's crash-free run."""

    result: Any
    body_runs: dict[str, int]
    total_bodies: int


def baseline_of(workflow: Workflow, bodies: Any) -> Baseline:
    """Run ``workflow`` without faults, counting step bodies."""
    bodies.reset()
    result, _ = workflow.run()
    assert result.status == "SUCCEEDED", result.error
    baseline = Baseline(workflow.compare(result), dict(bodies.per_operation()), bodies.total)
    bodies.reset()
    return baseline


def check_recovery(
    workflow: Workflow, baseline: Baseline, result: TestResult, bodies: Any, history: Any
) -> None:
    """The documented guarantees after one crash."""
    assert result.status == "SUCCEEDED", result.error
    assert workflow.compare(result) == baseline.result
    history.sound(result)
    runs = bodies.per_operation()
    excess = {
        bodies.names.get(op, op): n - baseline.body_runs.get(op, 0)
        for op, n in runs.items()
        if n > baseline.body_runs.get(op, 0) + 1
    }
    assert not excess, f"step bodies ran more than once more after one crash: {excess}"
    if workflow.at_most_once:
        repeated = {
            (bodies.names.get(op), attempt): n
            for (op, attempt), n in bodies.started.items()
            if n > 1 and bodies.names.get(op) != "receipt"
        }
        assert not repeated, f"at-most-once bodies ran twice for one attempt: {repeated}"


@pytest.mark.timeout(300 if FULL else 60)
class TestCrashAtEveryApiCall:
    @pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
    @pytest.mark.parametrize("after_forwarding", [False, True], ids=["before", "after"])
    def test_every_call(self, workflow, after_forwarding, bodies, probe, history, figures):
        """Dying at the k-th API call, for every k, ends with the crash-free result."""
        baseline = baseline_of(workflow, bodies)
        fault = Fault.crash(after_forwarding=after_forwarding)
        tried = 0
        misses = 0
        k = 1
        while True:
            probe.reset()
            bodies.reset()
            result, client = workflow.run((fault, {"at": k}), probe=probe)
            if not client.injections:
                # The run made fewer than k calls. Thread timing can change how
                # updates batch, so try k again before calling it the end.
                misses += 1
                if misses == 3:
                    break
                continue
            misses = 0
            [injection] = client.injections
            assert injection.forwarded is after_forwarding
            assert any(r.error is not None for r in probe.records), f"k={k}: nothing crashed"
            try:
                check_recovery(workflow, baseline, result, bodies, history)
            except AssertionError as failure:
                raise AssertionError(f"crash at API call {k}: {failure}") from failure
            tried += 1
            k += 1
        assert tried >= 4
        variant = "after" if after_forwarding else "before"
        figures.add("crash-anywhere", f"{workflow.name}:api-call-{variant}", tried)
        figures.add("crash-anywhere", "cases", tried)


@pytest.mark.timeout(600 if FULL else 60)
class TestCrashInsideStepBodies:
    @pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda w: w.name)
    def test_random_body_crashes(self, workflow, bodies, probe, history, figures):
        """Dying inside a Hypothesis-chosen step body, before or after its effects, is recovered."""
        baseline = baseline_of(workflow, bodies)
        if baseline.total_bodies == 0:
            pytest.skip(f"{workflow.name} has no step bodies (wait_for_condition only)")

        @settings(
            max_examples=BODY_CRASH_EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
            database=None,
        )
        @given(
            run=st.integers(min_value=1, max_value=baseline.total_bodies),
            after_body=st.booleans(),
        )
        def crash_once(run: int, after_body: bool) -> None:
            probe.reset()
            bodies.reset(run, after_body=after_body)
            result, _ = workflow.run(probe=probe)
            assert bodies.crashes == 1
            check_recovery(workflow, baseline, result, bodies, history)
            figures.add("crash-anywhere", f"{workflow.name}:step-body")
            figures.add("crash-anywhere", "cases")

        crash_once()
