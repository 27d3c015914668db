"""Fuzzed service responses: a retryable CheckpointError or a documented outcome, then recovery.

A FaultInjectingClient forwards each call to the in-memory service and hands
the SDK a corrupted copy of one response, chosen by Hypothesis: a checkpoint
response or a state page with members missing, of the wrong type, operations
with unknown enums or unreadable timestamps, duplicated operations, markers
that never end. Each corruption has a documented outcome for the invocation
that received it:

* ignorable (extra members, duplicates, absent optional members, timestamps
  in any readable form): nothing changes;
* revoked (no usable CheckpointToken): the invocation returns PENDING;
* unreadable (anything else): the invocation raises a retryable
  CheckpointError, so Lambda invokes again.

In every case the run then completes with the uncorrupted result, with one
outcome per operation and nothing lost: a bad response never poisons
durable state, never fails the execution, and never hangs.
"""

from __future__ import annotations

import copy
import datetime
import os
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
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
EXAMPLES = 3000 if FULL else 200
CHECKPOINT = FaultInjectingClient.CHECKPOINT
GET_STATE = FaultInjectingClient.GET_STATE


@durable_execution
def workflow(event: Any, context: Any) -> Any:
    """Two steps, a wait, a two-item map, a final step."""
    a = context.step(lambda _: 1, name="a")
    b = context.step(lambda _: a + 1, name="b")
    context.wait(Duration(3), name="w")

    def item(ctx: Any, x: int, i: int, xs: Any) -> int:
        return ctx.step(lambda _: x * b, name="item")

    m = context.map([1, 2], item, name="m", config=MapConfig(max_concurrency=1)).get_results()
    return {"a": a, "b": b, "m": m, "d": context.step(lambda _: sum(m), name="d")}


def run(
    *faults: tuple[Fault, dict[str, Any]], probe: Any = None
) -> tuple[TestResult, FaultInjectingClient]:
    """Run the workflow to the end; the service pages the envelope (two operations inline)."""
    clock = VirtualClock()
    client = FaultInjectingClient(LocalDurableService(clock, envelope_max_operations=2))
    for fault, schedule in faults:
        client.inject(fault, **schedule)
    if probe is not None:
        probe.client = client
    runner = DurableTestRunner(workflow, service=client, clock=clock)  # type: ignore[arg-type]
    return runner.run({}), client


def _baseline() -> tuple[Any, int, int]:
    result, client = run()
    assert result.status == "SUCCEEDED"
    return result.result, client.count(CHECKPOINT), client.count(GET_STATE)


BASELINE, CHECKPOINTS, PAGES = _baseline()

junk = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=True),
    st.booleans(),
    st.text(min_size=1, max_size=4),
    st.binary(min_size=1, max_size=4),
    st.lists(st.integers(), min_size=1, max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), min_size=1, max_size=2),
)
truthy_non_str = junk.filter(lambda v: bool(v) and not isinstance(v, str))
truthy_non_dict = junk.filter(lambda v: bool(v) and not isinstance(v, dict))
truthy_non_list = junk.filter(lambda v: bool(v) and not isinstance(v, list))
Mutation = tuple[str, str, Callable[[Any], Any]]


def _set(key: str, value: Any) -> Callable[[Any], Any]:
    def apply(response: Any) -> Any:
        response[key] = value
        return response

    return apply


def _drop(key: str) -> Callable[[Any], Any]:
    def apply(response: Any) -> Any:
        response.pop(key, None)
        return response

    return apply


def _replace(value: Any) -> Callable[[Any], Any]:
    return lambda _response: value


def _operations(
    container: str | None, edit: Callable[[list[Any]], list[Any]]
) -> Callable[[Any], Any]:
    """Edit the response's operations list (in NewExecutionState for checkpoints)."""

    def apply(response: Any) -> Any:
        holder = response
        if container is not None:
            holder = copy.deepcopy(response.get(container) or {})
            response[container] = holder
        holder["Operations"] = edit(copy.deepcopy(list(holder.get("Operations") or [])))
        return response

    return apply


def _each_op(field: str, value: Any) -> Callable[[list[Any]], list[Any]]:
    def edit(ops: list[Any]) -> list[Any]:
        for op in ops:
            op[field] = value
        return ops or [{"Id": "x", "Type": "STEP", "Status": "STARTED", field: value}]

    return edit


def _add_op(op: Any) -> Callable[[list[Any]], list[Any]]:
    return lambda ops: [*ops, op]


def _duplicate(ops: list[Any]) -> list[Any]:
    return ops + copy.deepcopy(ops)


def _timestamps_as(convert: Callable[[datetime.datetime], Any]) -> Callable[[list[Any]], list[Any]]:
    def edit(ops: list[Any]) -> list[Any]:
        for op in ops:
            for key in ("StartTimestamp", "EndTimestamp"):
                if isinstance(op.get(key), datetime.datetime):
                    op[key] = convert(op[key])
        return ops

    return edit


def _ms(value: datetime.datetime) -> int:
    return int(value.timestamp() * 1000)


@st.composite
def checkpoint_mutations(draw: st.DrawFn) -> Mutation:
    """(description, expected outcome class, transform) for a checkpoint response."""
    state = "NewExecutionState"
    options: list[Any] = [
        ("no token", "revoked", st.just(_drop("CheckpointToken"))),
        ("null token", "revoked", st.just(_set("CheckpointToken", None))),
        ("empty token", "revoked", st.just(_set("CheckpointToken", ""))),
        (
            "token of another type",
            "unreadable",
            truthy_non_str.map(lambda v: _set("CheckpointToken", v)),
        ),
        ("response not an object", "unreadable", st.sampled_from([None, [], "x", 5]).map(_replace)),
        ("no NewExecutionState", "ignorable", st.just(_drop(state))),
        ("null NewExecutionState", "ignorable", st.just(_set(state, None))),
        (
            "NewExecutionState of another type",
            "unreadable",
            truthy_non_dict.map(lambda v: _set(state, v)),
        ),
        (
            "Operations of another type",
            "unreadable",
            truthy_non_list.map(lambda v: _set(state, {"Operations": v})),
        ),
        (
            "NextMarker of another type",
            "unreadable",
            truthy_non_str.map(lambda v: _set(state, {"Operations": [], "NextMarker": v})),
        ),
        ("unknown Type", "unreadable", st.just(_operations(state, _each_op("Type", "TELEPORT")))),
        ("unknown Status", "unreadable", st.just(_operations(state, _each_op("Status", "LIMBO")))),
        (
            "Type of another type",
            "unreadable",
            truthy_non_str.map(lambda v: _operations(state, _each_op("Type", v))),
        ),
        (
            "ISO timestamps",
            "unreadable",
            st.just(_operations(state, _each_op("StartTimestamp", "2026-01-01T00:00:00Z"))),
        ),
        (
            "huge timestamps",
            "unreadable",
            st.just(_operations(state, _each_op("StartTimestamp", 10**400))),
        ),
        (
            "operation not an object",
            "unreadable",
            junk.map(lambda v: _operations(state, _add_op(v))),
        ),
        ("extra members", "ignorable", st.just(_set("Surprise", {"x": 1}))),
        (
            "extra operation members",
            "ignorable",
            st.just(_operations(state, _each_op("Surprise", 1))),
        ),
        ("duplicated operations", "ignorable", st.just(_operations(state, _duplicate))),
        ("timestamps in epoch ms", "ignorable", st.just(_operations(state, _timestamps_as(_ms)))),
    ]
    description, outcome, strategy = draw(st.sampled_from(options))
    return description, outcome, draw(strategy)


@st.composite
def page_mutations(draw: st.DrawFn) -> Mutation:
    """(description, expected outcome class, transform) for a GetDurableExecutionState page."""
    options: list[Any] = [
        ("page not an object", "unreadable", st.sampled_from([None, [], "x", 5]).map(_replace)),
        (
            "Operations of another type",
            "unreadable",
            truthy_non_list.map(lambda v: _set("Operations", v)),
        ),
        (
            "NextMarker of another type",
            "unreadable",
            truthy_non_str.map(lambda v: _set("NextMarker", v)),
        ),
        ("unknown Status", "unreadable", st.just(_operations(None, _each_op("Status", "LIMBO")))),
        (
            "Id of another type",
            "unreadable",
            truthy_non_str.map(lambda v: _operations(None, _each_op("Id", v))),
        ),
        (
            "bad timestamps",
            "unreadable",
            st.just(_operations(None, _each_op("EndTimestamp", float("nan")))),
        ),
        ("no Operations (a required member)", "unreadable", st.just(_drop("Operations"))),
        ("extra members", "ignorable", st.just(_set("Surprise", 1))),
        ("duplicated operations", "ignorable", st.just(_operations(None, _duplicate))),
        ("timestamps in epoch ms", "ignorable", st.just(_operations(None, _timestamps_as(_ms)))),
    ]
    description, outcome, strategy = draw(st.sampled_from(options))
    return description, outcome, draw(strategy)


def check(
    description: str,
    expected: str,
    operation: str,
    at: int,
    transform: Callable[[Any], Any],
    probe: Any,
    history: Any,
) -> str:
    """Corrupt the ``at``-th response of ``operation``; check the outcome and the recovery."""
    probe.reset()
    fault = Fault(
        name=description,
        transform=lambda response: transform(copy.deepcopy(response)),
        revoke=expected == "revoked",
    )
    result, client = run((fault, {"operation": operation, "at": at}), probe=probe)
    [injection] = client.injections
    faulted = probe.invocation_of(injection.call.index)
    if expected == "unreadable":
        assert isinstance(faulted.error, CheckpointError), (description, faulted)
        assert faulted.error.is_retryable(), (description, faulted.error)
    elif expected == "revoked":
        assert faulted.outcome == "PENDING", (description, faulted)
    else:
        assert faulted.error is None, (description, faulted.error)
        assert all(r.error is None for r in probe.records), description
    assert (result.status, result.result) == ("SUCCEEDED", BASELINE), (description, result.error)
    history.sound(result)
    return faulted.outcome


@pytest.mark.timeout(600 if FULL else 60)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutation=checkpoint_mutations(), at=st.integers(1, CHECKPOINTS))
def test_corrupted_checkpoint_responses(mutation, at, probe, history, figures):
    """A corrupted checkpoint response ends its invocation as documented; the run then completes."""
    description, expected, transform = mutation
    outcome = check(description, expected, CHECKPOINT, at, transform, probe, history)
    figures.add("fuzz-responses", f"checkpoint:{expected}->{outcome}")
    figures.add("fuzz-responses", "cases")


@pytest.mark.timeout(600 if FULL else 60)
@settings(
    max_examples=EXAMPLES // 2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(mutation=page_mutations(), at=st.integers(1, PAGES))
def test_corrupted_state_pages(mutation, at, probe, history, figures):
    """A corrupted state page ends its invocation as documented; the run then completes."""
    description, expected, transform = mutation
    outcome = check(description, expected, GET_STATE, at, transform, probe, history)
    figures.add("fuzz-responses", f"state-page:{expected}->{outcome}")
    figures.add("fuzz-responses", "cases")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("source", ["checkpoint response", "state page"])
def test_a_marker_that_never_ends_does_not_hang(source, probe, history):
    """A service repeating the same NextMarker is caught at once, not followed page after page."""
    marker = "2"  # a real marker: the envelope carries two operations, the rest is paged

    def repeat(response: Any) -> Any:
        response["NextMarker"] = marker
        return response

    def checkpoint_repeat(response: Any) -> Any:
        response["NewExecutionState"] = {"Operations": [], "NextMarker": marker}
        return response

    faults: list[tuple[Fault, dict[str, Any]]] = [
        (Fault.respond(repeat, name="endless-pages"), {"operation": GET_STATE, "times": 3})
    ]
    if source == "checkpoint response":
        faults.append((Fault.respond(checkpoint_repeat), {"operation": CHECKPOINT, "at": 1}))
    result, _ = run(*faults, probe=probe)
    errors = [r.error for r in probe.records if r.error is not None]
    assert errors, "the repeated marker must end the invocation"
    assert all(isinstance(e, CheckpointError) and e.is_retryable() for e in errors)
    assert all("NextMarker" in str(e) for e in errors)
    assert (result.status, result.result) == ("SUCCEEDED", BASELINE)
    history.sound(result)


def test_baseline_pages_and_checkpoints():
    """The workflow both checkpoints and pages, so both response kinds are fuzzed."""
    assert CHECKPOINTS >= 5
    assert PAGES >= 1
