"""Service faults at every API-call position of a reference workflow, each ending as documented.

The reference workflow has steps, a durable wait, a child context and a small
map, and runs on a service that pages the invocation envelope (so
``GetDurableExecutionState`` calls are positions too). Each fault of the
catalogue below is injected at each position 1..K, K being the number of API
calls of the fault-free run, and the run must end in the outcome documented
for the fault's class:

* transient (429 with or without Retry-After, 500/502/503, connection reset,
  read timeout; before or after the service applied the call): retried in
  the invocation, bounded and slept through the clock; nothing else differs
  from the fault-free run: same invocations, same history, same step runs;
* stale checkpoint token: the invocation raises a retryable CheckpointError
  and the next invocation completes the execution;
* a response without a checkpoint token: the invocation returns PENDING and
  the next invocation completes the execution;
* KMS errors and other 4xx: the execution FAILS with an error naming the code,
  and nothing further is sent;
* a crash before or after the service applied the call: the next invocation
  completes the execution.

Always: no hang, no exception stranded on a thread, no checkpoint thread
outliving its invocation, one outcome per operation, nothing lost.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from durable_exec import CheckpointError, Duration, MapConfig, durable_execution
from durable_exec.testing import (
    DurableTestRunner,
    Fault,
    FaultInjectingClient,
    LocalDurableService,
    TestResult,
    VirtualClock,
)

FULL = os.environ.get("DURABLE_RELIABILITY_FULL") == "1"
CHECKPOINT = FaultInjectingClient.CHECKPOINT
GET_STATE = FaultInjectingClient.GET_STATE


@durable_execution
def reference(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Two steps, a wait, a child context, a three-item map, a final step."""
    a = context.step(lambda _: event["x"] + 1, name="a")
    b = context.step(lambda _: a * 2, name="b")
    context.wait(Duration(5), name="pause")

    def child(ctx: Any) -> int:
        return ctx.step(lambda _: b + 1, name="c") + ctx.step(lambda _: 1, name="c2")

    c = context.run_in_child_context(child, name="child")

    def item(ctx: Any, value: int, index: int, items: Any) -> int:
        return ctx.step(lambda _: value * 10, name="item")

    batch = context.map([1, 2, 3], item, name="items", config=MapConfig(max_concurrency=1))
    d = context.step(lambda _: sum(batch.get_results()) + c, name="d")
    return {"a": a, "b": b, "c": c, "d": d}


class SmallPages:
    """Forwards to a service, serving GetDurableExecutionState one operation a page."""

    def __init__(self, service: LocalDurableService) -> None:
        self.service = service

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return self.service.get_durable_execution_state(**{**kwargs, "MaxItems": 1})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.service, name)


def make_service(clock: VirtualClock) -> Any:
    """A service that pages: two operations in the envelope, one per state page."""
    return SmallPages(LocalDurableService(clock, envelope_max_operations=2))


def run_reference(
    clock: VirtualClock, *faults: tuple[Fault, dict[str, Any]], probe: Any = None
) -> tuple[TestResult, FaultInjectingClient]:
    """Run the reference workflow with ``faults`` scheduled (each with its inject kwargs)."""
    client = FaultInjectingClient(make_service(clock))
    for fault, schedule in faults:
        client.inject(fault, **schedule)
    if probe is not None:
        probe.client = client
    runner = DurableTestRunner(reference, service=client, clock=clock)  # type: ignore[arg-type]
    return runner.run({"x": 1}, execution_name="reference"), client


def _baseline_calls() -> list[str]:
    _, client = run_reference(VirtualClock())
    return [call.operation for call in client.calls]


BASELINE_CALLS = _baseline_calls()
K = len(BASELINE_CALLS)
POSITIONS = range(1, K + 1)


@dataclasses.dataclass(frozen=True)
class Baseline:
    """The fault-free run."""

    result: Any
    outcomes: list[str]
    events: dict[str | None, list[str]]
    body_runs: dict[str, int]


@pytest.fixture(scope="module")
def baseline() -> Baseline:
    """The reference workflow's fault-free run, with its step bodies counted."""
    import durable_exec._context

    counts: dict[str, int] = {}
    lock = threading.Lock()
    original = durable_exec._context.run_step  # type: ignore[attr-defined]

    def counted(core: Any, func: Any, name: Any, config: Any, **kwargs: Any) -> Any:
        def body(step_context: Any) -> Any:
            with lock:
                counts[step_context.operation_id] = counts.get(step_context.operation_id, 0) + 1
            return func(step_context)

        return original(core, body, name, config, **kwargs)

    outputs: list[str] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(durable_exec._context, "run_step", counted)
        result, client = run_reference(VirtualClock())
        outputs = [o["Status"] for o in result.outputs]
    assert result.status == "SUCCEEDED"
    assert [c.operation for c in client.calls] == BASELINE_CALLS
    events: dict[str | None, list[str]] = {}
    for e in result.history:
        if not e["EventType"].startswith(("Execution", "Invocation")):
            events.setdefault(e.get("Id"), []).append(e["EventType"])
    return Baseline(result.result, outputs, events, counts)


TRANSIENT = [
    Fault.throttle(),
    Fault.throttle(retry_after=2),
    Fault.server_error(500),
    Fault.server_error(502),
    Fault.server_error(503),
    Fault.server_error(503, after_forwarding=True),
    Fault.connection_reset(),
    Fault.connection_reset(after_forwarding=True),
    Fault.read_timeout(after_forwarding=False),
    Fault.read_timeout(after_forwarding=True),
]
FATAL = [
    (Fault.kms("KMSAccessDeniedException"), "KMSAccessDeniedException"),
    (Fault.kms("KMSDisabledException"), "KMSDisabledException"),
    (Fault.kms("KMSInvalidStateException"), "KMSInvalidStateException"),
    (Fault.kms("KMSNotFoundException"), "KMSNotFoundException"),
    (
        Fault.client_error(
            "InvalidParameterValueException", "Updates payload exceeds the maximum size", 400
        ),
        "InvalidParameterValueException",
    ),
    (
        Fault.client_error("ResourceNotFoundException", "Execution not found", 404),
        "ResourceNotFoundException",
    ),
]
CRASHES = [Fault.crash(), Fault.crash(after_forwarding=True)]


def _ids(fault: Fault) -> str:
    return fault.name


def _record(figures: Any, fault_class: str, outcome: str) -> None:
    figures.add("fault-matrix", f"{fault_class}:{outcome}")
    figures.add("fault-matrix", "cases")


@pytest.mark.timeout(60)
class TestTransientFaults:
    @pytest.mark.parametrize("fault", TRANSIENT, ids=_ids)
    @pytest.mark.parametrize("position", POSITIONS)
    def test_retried_transparently(
        self, fault, position, baseline, probe, bodies, recording_clock, history, figures
    ):
        """A transient fault at any call is retried in-process and changes nothing else."""
        result, client = run_reference(recording_clock, (fault, {"at": position}), probe=probe)
        assert (result.status, result.result) == ("SUCCEEDED", baseline.result)
        assert [o["Status"] for o in result.outputs] == baseline.outcomes
        assert history.per_operation(result) == baseline.events
        history.sound(result)
        assert dict(bodies.per_operation()) == baseline.body_runs
        [injection] = client.injections
        assert injection.call.index == position
        calls = client.calls
        retried, retry = calls[position - 1], calls[position]
        assert retry.operation == retried.operation
        assert retry.kwargs == retried.kwargs  # same batch, same ClientToken, same token
        expected_pause = [2.0] if "retry-after" in fault.name else None
        if expected_pause is not None:
            assert recording_clock.sleeps == expected_pause
        else:
            assert len(recording_clock.sleeps) == 1
            assert 0 <= recording_clock.sleeps[0] <= 2.0
        _record(figures, "transient", "retried-transparently")


@pytest.mark.timeout(60)
class TestStaleToken:
    @pytest.mark.parametrize("position", POSITIONS)
    def test_invocation_raises_and_the_next_completes(
        self, position, baseline, probe, bodies, recording_clock, history, figures
    ):
        """A stale token fails the invocation (retryable); Lambda's next invocation completes."""
        result, _ = run_reference(
            recording_clock, (Fault.stale_token(), {"at": position}), probe=probe
        )
        assert (result.status, result.result) == ("SUCCEEDED", baseline.result)
        faulted = probe.invocation_of(position)
        assert isinstance(faulted.error, CheckpointError)
        assert faulted.error.is_retryable()
        assert faulted.error.error_code == "InvalidParameterValueException"
        assert recording_clock.sleeps == []  # not retried in-process
        assert len(result.outputs) == len(baseline.outcomes) + 1
        history.sound(result)
        _at_most_once_more(bodies.per_operation(), baseline.body_runs, crashes=1)
        _record(figures, "stale-token", "raised-then-completed")


CHECKPOINT_POSITIONS = [k for k in POSITIONS if BASELINE_CALLS[k - 1] == CHECKPOINT]


@pytest.mark.timeout(60)
class TestMissingToken:
    @pytest.mark.parametrize("position", CHECKPOINT_POSITIONS)
    def test_pending_then_completes(
        self, position, baseline, probe, bodies, recording_clock, history, figures
    ):
        """A checkpoint answered without a token ends the invocation PENDING; the next completes."""
        result, _ = run_reference(
            recording_clock, (Fault.drop_checkpoint_token(), {"at": position}), probe=probe
        )
        assert (result.status, result.result) == ("SUCCEEDED", baseline.result)
        faulted = probe.invocation_of(position)
        assert faulted.outcome == "PENDING"
        assert all(r.error is None for r in probe.records)
        history.sound(result)
        _at_most_once_more(bodies.per_operation(), baseline.body_runs, crashes=1)
        _record(figures, "missing-token", "pending-then-completed")


@pytest.mark.timeout(60)
class TestFatalFaults:
    @pytest.mark.parametrize(("fault", "code"), FATAL, ids=[f.name for f, _ in FATAL])
    @pytest.mark.parametrize("position", POSITIONS)
    def test_execution_fails_with_a_clear_error(
        self, fault, code, position, probe, bodies, recording_clock, history, figures
    ):
        """KMS errors and other 4xx fail the execution at once, clearly; nothing follows."""
        result, client = run_reference(recording_clock, (fault, {"at": position}), probe=probe)
        assert result.status == "FAILED"
        assert result.error is not None
        assert code in (result.error.message or "")
        assert "the execution fails" in (result.error.message or "")
        assert probe.invocation_of(position).outcome == "FAILED"
        assert probe.records[-1].outcome == "FAILED"
        assert client.count() == position  # nothing sent after the refusal
        assert recording_clock.sleeps == []
        history.sound(result)
        assert max(bodies.per_operation().values(), default=0) <= 1
        _record(figures, "fatal", "failed-clearly")


@pytest.mark.timeout(60)
class TestCrashAtACall:
    @pytest.mark.parametrize("fault", CRASHES, ids=_ids)
    @pytest.mark.parametrize("position", POSITIONS)
    def test_next_invocation_completes(
        self, fault, position, baseline, probe, bodies, recording_clock, history, figures
    ):
        """A crash before or after the service applied a call costs one invocation, nothing else."""
        result, _ = run_reference(recording_clock, (fault, {"at": position}), probe=probe)
        assert (result.status, result.result) == ("SUCCEEDED", baseline.result)
        assert probe.invocation_of(position).error is not None
        history.sound(result)
        _at_most_once_more(bodies.per_operation(), baseline.body_runs, crashes=1)
        _record(figures, "crash", "recovered")


def _at_most_once_more(runs: Any, baseline: dict[str, int], *, crashes: int) -> None:
    """Each step body ran at most ``crashes`` more times than in the fault-free run."""
    assert set(runs) == set(baseline)
    excess = {op: runs[op] - baseline[op] for op in runs if runs[op] > baseline[op] + crashes}
    assert not excess, f"step bodies re-ran more than once per crash: {excess}"


@pytest.mark.timeout(60)
class TestRetryBudget:
    @pytest.mark.parametrize(
        ("times", "raised"),
        [(1, 0), (2, 0), (4, 0), (5, 1), (9, 1)],
    )
    def test_consecutive_faults_are_retried_within_the_budget(
        self, times, raised, baseline, probe, recording_clock, history
    ):
        """Up to four 503s in a row are absorbed; the fifth ends the invocation, Lambda retries."""
        result, _ = run_reference(
            recording_clock, (Fault.server_error(503), {"at": 2, "times": times}), probe=probe
        )
        assert (result.status, result.result) == ("SUCCEEDED", baseline.result)
        errors = [r.error for r in probe.records if r.error is not None]
        assert len(errors) == raised
        for error in errors:
            assert isinstance(error, CheckpointError)
            assert error.is_retryable()
            assert "Retries ran out" in str(error)
        assert len(recording_clock.sleeps) == min(times, 4) + max(0, times - 5)
        assert all(0 <= s <= 2.0 for s in recording_clock.sleeps)
        history.sound(result)

    def test_a_fault_on_every_call_gives_up_without_hanging(self, probe, recording_clock):
        """With every call throttled the run stops after a bounded number of calls."""
        clock = recording_clock
        client = FaultInjectingClient(make_service(clock))
        client.inject(Fault.throttle(), times=None)
        runner = DurableTestRunner(reference, service=client, clock=clock)  # type: ignore[arg-type]
        probe.client = client
        with pytest.raises(CheckpointError, match="Retries ran out"):
            runner.run({"x": 1})
        attempts = 5  # ServiceRetryPolicy.max_attempts
        invocations = runner.max_invocation_retries + 1
        assert len(probe.records) == invocations
        assert client.count() == attempts * invocations

    def test_retry_after_is_honoured_up_to_its_cap(self, probe, recording_clock):
        """Retry-After is slept through the clock, capped at five seconds."""
        result, _ = run_reference(
            recording_clock,
            (Fault.throttle(retry_after=3), {"at": 1}),
            (Fault.throttle(retry_after=3600), {"at": 3}),
        )
        assert result.status == "SUCCEEDED"
        assert recording_clock.sleeps == [3.0, 5.0]


@pytest.mark.timeout(60)
class TestStatePagingFaults:
    @pytest.mark.parametrize(
        ("fault", "outcome"),
        [
            (Fault.server_error(503), "transparent"),
            (Fault.connection_reset(), "transparent"),
            (Fault.stale_token(), "raised"),
            (Fault.kms(), "FAILED"),
            (Fault.crash(), "raised"),
        ],
        ids=lambda v: v.name if isinstance(v, Fault) else v,
    )
    def test_a_page_failing_midway(self, fault, outcome, baseline, probe, recording_clock):
        """A state page failing after the first one was read ends as its fault class says."""
        get_states = [k for k in POSITIONS if BASELINE_CALLS[k - 1] == GET_STATE]
        assert len(get_states) >= 2, "the reference must page more than once"
        result, client = run_reference(
            recording_clock, (fault, {"operation": GET_STATE, "at": 2}), probe=probe
        )
        [injection] = client.injections
        marker = injection.call.kwargs.get("Marker")
        assert marker, "the fault must strike a page after the first"
        if outcome == "FAILED":
            assert result.status == "FAILED"
            assert probe.records[-1].outcome == "FAILED"
            return
        assert (result.status, result.result) == ("SUCCEEDED", baseline.result)
        if outcome == "transparent":
            assert [o["Status"] for o in result.outputs] == baseline.outcomes
            retry = client.calls[injection.call.index]
            assert retry.kwargs == injection.call.kwargs
        else:
            assert probe.invocation_of(injection.call.index).error is not None


def test_positions_cover_both_operations():
    """The matrix strikes checkpoint calls and state-page calls alike."""
    assert CHECKPOINT in BASELINE_CALLS
    assert GET_STATE in BASELINE_CALLS
    assert K >= 10


RECOVERABLE = [*TRANSIENT, Fault.stale_token(), Fault.drop_checkpoint_token(), *CRASHES]
ENDS_INVOCATION = {"stale-token", "drop-checkpoint-token", "crash-before", "crash-after"}


@pytest.mark.timeout(600 if FULL else 60)
@settings(
    max_examples=1000 if FULL else 40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    storm=st.lists(
        st.tuples(st.sampled_from(RECOVERABLE), st.integers(1, K + 3)), min_size=2, max_size=4
    )
)
def test_fault_storms(storm, baseline, probe, bodies, history, figures):
    """Several recoverable faults in one run: same result, sound history, bounded re-runs."""
    ending = sum(1 for fault, _ in storm if fault.name in ENDS_INVOCATION)
    assume(ending <= 3)  # the runner, like Lambda, gives up after more failures in a row
    probe.reset()
    bodies.reset()
    schedule = [
        (fault, {"at": at, "operation": CHECKPOINT} if "token" in fault.name else {"at": at})
        for fault, at in storm
    ]
    result, client = run_reference(VirtualClock(), *schedule, probe=probe)
    assert (result.status, result.result) == ("SUCCEEDED", baseline.result), result.error
    history.sound(result)
    struck = sum(1 for i in client.injections if i.fault in ENDS_INVOCATION)
    _at_most_once_more(bodies.per_operation(), baseline.body_runs, crashes=struck)
    figures.add("fault-matrix", "storms")
    figures.add("fault-matrix", "storm-faults-struck", len(client.injections))
