"""Fuzzed invocation envelopes: always a clear error or a documented outcome, never a crash or hang.

Hypothesis builds Lambda events around a reference workflow: missing and
extra fields, wrong types, unknown statuses and operation types, duplicate
ids, huge payloads, non-UTF-8 data (bytes, lone surrogates), and timestamps as
epoch milliseconds, floats, datetimes, ISO strings, huge or non-finite
numbers. Operation ids are mostly the workflow's own, so the fuzzed history
is replayed, not just parsed.

Documented outcomes of one invocation (``run_invocation``):

* it returns an output envelope ``{"Status": "SUCCEEDED" | "FAILED" | "PENDING", ...}``
  that Lambda can serialise (FAILED carries an ``Error`` with a message);
* it raises :class:`ExecutionError` (the event is not a durable envelope);
* it raises :class:`InvocationError` (Lambda retries, e.g. a retryable CheckpointError).

Anything else escaping, a hang, or a thread left behind is a bug.
"""

from __future__ import annotations

import copy
import datetime
import json
import os
import threading
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_exec import (
    Duration,
    ExecutionError,
    InvocationError,
    MapConfig,
    durable_execution,
)
from durable_exec._handler import run_invocation
from durable_exec._ids import operation_id
from durable_exec.testing import DurableTestRunner, FakeLambdaContext, VirtualClock

FULL = os.environ.get("DURABLE_RELIABILITY_FULL") == "1"
EXAMPLES = 5000 if FULL else 300
ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/run/exec-1"


@durable_execution
def workflow(event: Any, context: Any) -> Any:
    """A step, a wait, a child context, a two-item map, a callback, a step."""
    a = context.step(lambda _: 1, name="a")
    context.wait(Duration(1), name="w")
    c = context.run_in_child_context(lambda ctx: ctx.step(lambda _: 2, name="c"), name="child")

    def item(ctx: Any, x: int, i: int, xs: Any) -> int:
        return ctx.step(lambda _: x, name="item")

    m = context.map([1, 2], item, name="m", config=MapConfig(max_concurrency=2)).get_results()
    callback = context.create_callback(name="cb")
    answer = callback.result()
    d = context.step(lambda _: 4, name="d")
    return {"a": a, "c": c, "m": m, "answer": answer, "d": d, "input": event}


ROOT = [operation_id(None, i) for i in range(1, 7)]
CHILD = operation_id(ROOT[2], 1)
BRANCHES = [operation_id(ROOT[3], i) for i in range(2)]
BRANCH_STEPS = [operation_id(b, 1) for b in BRANCHES]
KNOWN_IDS = [*ROOT, CHILD, *BRANCHES, *BRANCH_STEPS, "exec-1"]
NAMES = ["a", "w", "child", "c", "m", "cb", "d", "item", "map-item-0", "map-item-1"]
TYPES = ["EXECUTION", "CONTEXT", "STEP", "WAIT", "CALLBACK", "CHAINED_INVOKE"]
STATUSES = [
    "STARTED",
    "PENDING",
    "READY",
    "SUCCEEDED",
    "FAILED",
    "CANCELLED",
    "TIMED_OUT",
    "STOPPED",
]
SUB_TYPES = ["Step", "Wait", "RunInChildContext", "Map", "MapIteration", "Callback", "Other"]
HUGE = "x" * (7 * 1024 * 1024)
HUGE_JSON = json.dumps({"blob": "y" * (7 * 1024 * 1024)})


def _nasty_text() -> st.SearchStrategy[str]:
    """Text with lone surrogates and control characters mixed in."""
    return st.text(
        alphabet=st.one_of(
            st.characters(codec="utf-8"),
            st.characters(categories=["Cs"]),
            st.sampled_from('\x00\n"\\{}'),
        ),
        max_size=20,
    )


junk: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    _nasty_text(),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.sampled_from([HUGE, b"\xff\xfe", object()]),
)


def _maybe(strategy: st.SearchStrategy[Any], odds: int = 10) -> st.SearchStrategy[Any]:
    """``strategy``, or junk one time in ``odds`` (so most histories replay, not fail parsing)."""
    return st.integers(1, odds).flatmap(lambda n: junk if n == 1 else strategy)


timestamps: st.SearchStrategy[Any] = _maybe(
    st.one_of(
        st.none(),
        st.integers(min_value=0, max_value=4_102_444_800_000),  # epoch ms up to 2100
        st.floats(min_value=0, max_value=4.1e12),
        st.datetimes(timezones=st.just(datetime.UTC)),
        st.datetimes(),  # naive
    )
).flatmap(
    lambda valid: st.sampled_from(
        [valid, valid, valid, valid, 10**400, float("nan"), float("inf"), "2026-01-01T00:00:00Z"]
    )
)


payloads: st.SearchStrategy[Any] = _maybe(
    st.one_of(
        st.integers(-5, 5).map(json.dumps),
        _nasty_text().map(json.dumps),
        st.sampled_from(['"text"', "{}", "[1, 2]", '{"t":"i","v":3}', "not json", "", HUGE_JSON]),
    )
)


@st.composite
def error_objects(draw: st.DrawFn) -> Any:
    return draw(
        _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "ErrorMessage": _maybe(_nasty_text()),
                    "ErrorType": _maybe(st.sampled_from(["ValueError", "x.Y", ""])),
                    "ErrorData": _maybe(_nasty_text()),
                    "StackTrace": _maybe(st.lists(_nasty_text(), max_size=3)),
                },
            )
        )
    )


@st.composite
def operations(draw: st.DrawFn) -> Any:
    """One operation dict (or junk in its place)."""
    if draw(st.integers(0, 40)) == 0:
        return draw(junk)
    op: dict[str, Any] = {
        "Id": draw(st.one_of(st.sampled_from(KNOWN_IDS), _maybe(st.text(max_size=8)))),
        "Type": draw(st.one_of(st.sampled_from(TYPES), _maybe(st.sampled_from(["BOGUS"])))),
        "Status": draw(st.one_of(st.sampled_from(STATUSES), _maybe(st.sampled_from(["UNKNOWN"])))),
    }
    optional = {
        "Name": _maybe(st.sampled_from(NAMES)),
        "SubType": _maybe(st.sampled_from(SUB_TYPES)),
        "ParentId": _maybe(st.sampled_from(KNOWN_IDS)),
        "StartTimestamp": timestamps,
        "EndTimestamp": timestamps,
        "StepDetails": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "Result": payloads,
                    "Error": error_objects(),
                    "Attempt": _maybe(st.integers(0, 10)),
                    "NextAttemptTimestamp": timestamps,
                },
            ),
        ),
        "WaitDetails": _maybe(
            st.fixed_dictionaries({}, optional={"ScheduledEndTimestamp": timestamps})
        ),
        "ContextDetails": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "Result": payloads,
                    "Error": error_objects(),
                    "ReplayChildren": st.one_of(st.booleans(), junk),
                },
            ),
        ),
        "CallbackDetails": _maybe(
            st.fixed_dictionaries(
                {},
                optional={
                    "CallbackId": _maybe(st.text(max_size=10)),
                    "Result": payloads,
                    "Error": error_objects(),
                },
            ),
        ),
        "ExecutionDetails": _maybe(st.fixed_dictionaries({}, optional={"InputPayload": payloads})),
        "Extra": junk,
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            op[key] = draw(strategy)
    return op


def _real_history() -> list[dict[str, Any]]:
    """The workflow's complete history (from a real run), as an envelope would carry it."""
    runner = DurableTestRunner(workflow).on_callback("cb", result='"yes"')
    result = runner.run({"k": 1})
    assert result.status == "SUCCEEDED"
    ops = runner.service.operations(result.arn)
    ops[0] = {**ops[0], "Id": "exec-1", "Status": "STARTED"}
    ops[0].pop("EndTimestamp", None)
    return ops


REAL_OPS = _real_history()
FIELDS = ["Id", "Type", "Status", "Name", "SubType", "ParentId", "StartTimestamp", "Details"]


@st.composite
def mutated(draw: st.DrawFn, op: dict[str, Any]) -> dict[str, Any]:
    """``op`` with one field changed to another valid value, an odd one, or junk."""
    op = copy.deepcopy(op)
    field = draw(st.sampled_from(FIELDS))
    if field == "Details":
        key = next((k for k in op if k.endswith("Details")), "StepDetails")
        details = op.get(key)
        if not isinstance(details, dict) or draw(st.integers(0, 4)) == 0:
            op[key] = draw(junk)
            return op
        inner = draw(
            st.sampled_from(
                [
                    "Result",
                    "Error",
                    "Attempt",
                    "NextAttemptTimestamp",
                    "ScheduledEndTimestamp",
                    "CallbackId",
                    "ReplayChildren",
                    "InputPayload",
                ]
            )
        )
        values = {
            "Result": payloads,
            "Error": error_objects(),
            "Attempt": _maybe(st.integers(0, 10)),
            "NextAttemptTimestamp": timestamps,
            "ScheduledEndTimestamp": timestamps,
            "CallbackId": _maybe(st.text(min_size=1, max_size=10)),
            "ReplayChildren": st.one_of(st.booleans(), junk),
            "InputPayload": payloads,
        }
        if draw(st.integers(0, 5)) == 0:
            details.pop(inner, None)
        else:
            details[inner] = draw(values[inner])
        return op
    choices = {
        "Id": st.sampled_from(KNOWN_IDS) | st.text(max_size=8),
        "Type": st.sampled_from([*TYPES, "BOGUS"]),
        "Status": st.sampled_from([*STATUSES, "UNKNOWN"]),
        "Name": st.sampled_from(NAMES),
        "SubType": st.sampled_from(SUB_TYPES),
        "ParentId": st.sampled_from(KNOWN_IDS),
        "StartTimestamp": timestamps,
    }
    if draw(st.integers(0, 6)) == 0:
        op.pop(field, None)
    else:
        op[field] = draw(_maybe(choices[field]))
    return op


@st.composite
def histories(draw: st.DrawFn) -> list[Any]:
    """A prefix of the real history with a few mutations, extra ops and duplicates."""
    size = draw(st.integers(1, len(REAL_OPS)))
    ops: list[Any] = [copy.deepcopy(op) for op in REAL_OPS[:size]]
    for index in draw(st.lists(st.integers(0, size - 1), max_size=3)):
        ops[index] = draw(mutated(ops[index]))
    if draw(st.integers(0, 2)) == 0:
        ops += draw(st.lists(operations(), max_size=3))
    if draw(st.integers(0, 4)) == 0:
        ops += [copy.deepcopy(op) for op in ops[1 : draw(st.integers(2, 4))]]  # duplicate ids
    if draw(st.integers(0, 6)) == 0:
        ops = draw(st.permutations(ops))
    if draw(st.integers(0, 3)) == 0:  # envelope timestamps are epoch ms
        for op in ops:
            for key in ("StartTimestamp", "EndTimestamp"):
                value = op.get(key) if isinstance(op, dict) else None
                if isinstance(value, datetime.datetime) and value.tzinfo is not None:
                    op[key] = int(value.timestamp() * 1000)
    return ops


@st.composite
def envelopes(draw: st.DrawFn) -> Any:
    """A Lambda event: usually envelope-shaped, with fields dropped, retyped or added."""
    if draw(st.integers(0, 50)) == 0:
        return draw(junk)
    ops = draw(histories())
    state: dict[str, Any] = {"Operations": draw(_maybe(st.just(ops), 40))}
    if draw(st.booleans()):
        state["NextMarker"] = draw(_maybe(st.just(""), 20))
    event: dict[str, Any] = {
        "DurableExecutionArn": draw(_maybe(st.just(ARN), 40)),
        "CheckpointToken": draw(_maybe(st.just("token-1"), 40)),
        "InitialExecutionState": draw(_maybe(st.just(state), 40)),
    }
    if draw(st.booleans()):
        event["UpdatedOperationIds"] = draw(_maybe(st.lists(st.sampled_from(KNOWN_IDS))))
    for key in list(event):
        if draw(st.integers(0, 50)) == 0:
            del event[key]
    if draw(st.booleans()):
        event[draw(st.text(max_size=6))] = draw(junk)
    return event


class PermissiveService:
    """A botocore-shaped client that accepts every checkpoint and knows no more pages."""

    def __init__(self) -> None:
        self.calls = 0
        self._lock = threading.Lock()

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            return {"CheckpointToken": f"token-{self.calls + 1}", "NewExecutionState": {}}

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return {"Operations": []}


def check_outcome(run: Any) -> str:
    """Run one invocation; return its outcome class, failing on anything undocumented."""
    raised: ExecutionError | InvocationError | None = None
    try:
        output = run()
    except (ExecutionError, InvocationError) as error:
        raised = error
    if isinstance(raised, ExecutionError):
        assert str(raised), "an ExecutionError must say what is wrong"
        outcome = "ExecutionError"
    elif raised is not None:
        assert raised.is_retryable()
        outcome = f"raised:{type(raised).__name__}"
    else:
        assert isinstance(output, dict)
        status = output.get("Status")
        assert status in ("SUCCEEDED", "FAILED", "PENDING"), output
        json.dumps(output)  # Lambda must be able to serialise it
        if status == "FAILED" and "Error" in output:
            assert isinstance(output["Error"].get("ErrorMessage"), str)
        outcome = str(status)
    leftovers = [t.name for t in threading.enumerate() if t.name.startswith("durable")]
    assert not leftovers, f"threads outlived the invocation: {leftovers}"
    return outcome


@pytest.mark.timeout(600 if FULL else 60)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(event=envelopes())
def test_fuzzed_envelopes_end_in_a_documented_outcome(event, figures):
    """Whatever the event holds, the invocation returns an envelope or raises a documented error."""
    clock = VirtualClock()
    context = FakeLambdaContext("f", timeout=30.0, clock=clock)
    outcome = check_outcome(
        lambda: run_invocation(workflow, event, context, client=PermissiveService(), clock=clock)
    )
    figures.add("fuzz-envelope", outcome)
    figures.add("fuzz-envelope", "cases")


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (None, "ExecutionError"),
        ([], "ExecutionError"),
        ({}, "ExecutionError"),
        ({"DurableExecutionArn": ARN}, "ExecutionError"),
        ({"DurableExecutionArn": 1, "CheckpointToken": "t"}, "ExecutionError"),
        (
            {
                "DurableExecutionArn": ARN,
                "CheckpointToken": "t",
                "InitialExecutionState": {"Operations": [{"Id": "x", "Type": ["STEP"]}]},
            },
            "ExecutionError",
        ),
        (
            {
                "DurableExecutionArn": ARN,
                "CheckpointToken": "t",
                "InitialExecutionState": {
                    "Operations": [
                        {"Id": "x", "Type": "STEP", "Status": "STARTED", "StartTimestamp": 10**400}
                    ]
                },
            },
            "ExecutionError",
        ),
        (
            {
                "DurableExecutionArn": ARN,
                "CheckpointToken": "t",
                "InitialExecutionState": {
                    "Operations": [
                        {
                            "Id": "x",
                            "Type": "STEP",
                            "Status": "STARTED",
                            "StartTimestamp": "2026-01-01T00:00:00Z",
                        }
                    ]
                },
            },
            "ExecutionError",
        ),
    ],
)
def test_known_bad_envelopes(event, expected):
    """Events that are not envelopes, or hold unreadable operations, raise ExecutionError."""
    clock = VirtualClock()
    context = FakeLambdaContext("f", timeout=30.0, clock=clock)
    outcome = check_outcome(
        lambda: run_invocation(workflow, event, context, client=PermissiveService(), clock=clock)
    )
    assert outcome == expected
