"""context.now(), context.random(), context.uuid4(): recorded once, replayed after."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

from durable_exec import (
    Duration,
    NonDeterministicExecutionError,
    ValidationError,
    durable_execution,
)
from durable_exec._wire import OperationStatus, OperationType
from durable_exec.testing import SimulatedCrash
from durable_exec.testing._clock import DEFAULT_START


def test_values_are_recorded_once_and_replayed(make_runner):
    """Every invocation sees the values the first one recorded."""
    seen: list[tuple[Any, ...]] = []

    @durable_execution
    def handler(event, context):
        values = (context.now(), context.random(), context.uuid4())
        seen.append(values)
        context.wait(Duration(30))
        context.wait(Duration(30))

    result = make_runner(handler).run()
    assert result.status == "SUCCEEDED"
    assert len(seen) == 3
    assert seen[0] == seen[1] == seen[2]


def test_value_types(make_runner):
    """now() is an aware UTC datetime, random() a float in [0, 1), uuid4() a version-4 UUID."""

    @durable_execution
    def handler(event, context):
        now, number, ident = context.now(), context.random(), context.uuid4()
        assert now.tzinfo is not None
        assert now.utcoffset() == datetime.timedelta(0)
        assert 0 <= number < 1
        assert isinstance(ident, uuid.UUID)
        assert ident.version == 4
        return [now.isoformat(), number, str(ident)]

    result = make_runner(handler).run()
    assert result.status == "SUCCEEDED"


def test_now_follows_the_sdk_clock(make_runner, clock):
    """now() reads the SDK's clock: the test runner's virtual time moves with durable waits."""

    @durable_execution
    def handler(event, context):
        before = context.now()
        context.wait(Duration.from_minutes(5))
        after = context.now()
        return (after - before).total_seconds()

    result = make_runner(handler).run()
    assert result.result == 300
    first = result.decoded(next(o for o in result.operations if o.sub_type == "Now"))
    assert first == datetime.datetime.fromtimestamp(DEFAULT_START, datetime.UTC)


def test_recorded_as_steps_with_their_own_subtypes(make_runner):
    """Each value is one STEP (SubType Now, Random, Uuid) holding the value."""

    @durable_execution
    def handler(event, context):
        context.now(name="started")
        context.random()
        context.uuid4()

    result = make_runner(handler).run()
    steps = [op for op in result.operations if op.type is OperationType.STEP]
    assert [(op.sub_type, op.name) for op in steps] == [
        ("Now", "started"),
        ("Random", None),
        ("Uuid", None),
    ]
    assert all(op.status is OperationStatus.SUCCEEDED for op in steps)


def test_several_values_share_one_checkpoint_call(make_runner):
    """Recording is asynchronous: ten values and a step cost far fewer than ten API calls."""

    @durable_execution
    def handler(event, context):
        for _ in range(10):
            context.uuid4()
        return context.step(lambda _: "done", name="after")

    result = make_runner(handler).run()
    assert result.status == "SUCCEEDED"
    assert result.updates == 22  # START and SUCCEED of 11 steps
    assert result.api_calls <= 3


def test_a_value_used_by_a_durable_step_is_never_replaced(make_runner):
    """Once a step that used the value is durable, every replay returns the same value."""
    seen: list[Any] = []

    @durable_execution
    def handler(event, context):
        key = context.uuid4()
        seen.append(key)
        context.step(lambda _: str(key), name="charge")
        if len(seen) == 1:
            raise SimulatedCrash  # the process dies after the step is durable
        return str(key)

    result = make_runner(handler).run()
    assert result.result == str(seen[0]) == str(seen[1])
    assert result.get_step("charge").result == f'"{seen[0]}"'


def test_replaying_with_a_changed_helper_is_non_deterministic(make_runner):
    """A history holding now() where the code now asks for random() fails the execution."""
    version = {"v": 1}

    @durable_execution
    def handler(event, context):
        if version["v"] == 1:
            context.now()
        else:
            context.random()
        version["v"] = 2
        context.wait(Duration(1))

    result = make_runner(handler).run()
    assert result.status == "FAILED"
    assert result.error is not None
    assert result.error.type == (
        "aws_durable_execution_sdk_python.exceptions." + NonDeterministicExecutionError.__name__
    )
    assert "subtype: history has 'Now', code asks for 'Random'" in (result.error.message or "")


def test_bad_name_is_refused_before_anything_is_recorded(make_runner):
    """The optional name follows the rules of every operation name."""

    @durable_execution
    def handler(event, context):
        try:
            context.now(name="x" * 300)
        except ValidationError as error:
            return str(error)
        return "accepted"

    result = make_runner(handler).run()
    assert "256" in result.result
    assert [op.type for op in result.operations] == [OperationType.EXECUTION]
