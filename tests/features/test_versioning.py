"""context.patched / deprecate_patch: executions recorded before and after a change both replay."""

from __future__ import annotations

from typing import Any

from durable_exec import Duration, durable_execution
from durable_exec._wire import OperationType


def steps(result) -> list[tuple[str | None, str | None]]:
    return [(op.sub_type, op.name) for op in result.operations if op.type is OperationType.STEP]


def versions(initial: int):
    """A handler whose code is 'redeployed' (version switched) while it waits."""
    state: dict[str, Any] = {"version": initial, "deploy_to": None, "paths": []}

    @durable_execution
    def handler(event, context):
        if state["version"] == 1:
            context.step(lambda _: "ship", name="ship")
            state["paths"].append("v1")
        elif state["version"] == 2:
            if context.patched("charge-first"):
                context.step(lambda _: "charge", name="charge")
                context.step(lambda _: "ship", name="ship")
                state["paths"].append("new")
            else:
                context.step(lambda _: "ship", name="ship")
                state["paths"].append("old")
        else:
            context.deprecate_patch("charge-first")
            context.step(lambda _: "charge", name="charge")
            context.step(lambda _: "ship", name="ship")
            state["paths"].append("v3")
        if state["deploy_to"] is not None:
            state["version"], state["deploy_to"] = state["deploy_to"], None
        context.wait(Duration(60), name="settle")
        return state["paths"][-1]

    return handler, state


def test_a_new_execution_takes_the_patched_path_and_records_it(make_runner):
    """patched() is True for an execution that reaches it under the new code."""
    handler, state = versions(2)
    result = make_runner(handler).run()
    assert result.result == "new"
    assert state["paths"] == ["new", "new"]  # the replay after the wait agrees
    assert steps(result) == [("Patch", "charge-first"), ("Step", "charge"), ("Step", "ship")]


def test_an_execution_recorded_before_the_patch_keeps_the_old_path(make_runner):
    """patched() is False when the history shows the execution passed this point before it."""
    handler, state = versions(1)
    state["deploy_to"] = 2  # deployed while the v1 execution waits
    result = make_runner(handler).run()
    assert result.status == "SUCCEEDED"
    assert state["paths"] == ["v1", "old"]
    assert steps(result) == [("Step", "ship")]


def test_an_execution_that_had_not_reached_the_patch_takes_the_new_path(make_runner):
    """An old execution still waiting before the patched point runs the new code there."""
    state = {"version": 1, "paths": []}

    @durable_execution
    def handler(event, context):
        context.wait(Duration(60), name="before")
        state["version"] = 2
        if state["version"] == 2 and context.patched("charge-first"):
            state["paths"].append("new")
        else:
            state["paths"].append("old")

    result = make_runner(handler).run()
    assert result.status == "SUCCEEDED"
    assert state["paths"] == ["new"]


def test_the_answer_is_fixed_per_context(make_runner):
    """A second patched() call for the same change returns the first answer and records nothing."""
    answers: list[bool] = []

    @durable_execution
    def handler(event, context):
        answers.append(context.patched("a"))
        context.wait(Duration(1))
        answers.append(context.patched("a"))

    result = make_runner(handler).run()
    assert answers == [True, True, True]
    assert steps(result) == [("Patch", "a")]


def test_a_marker_of_another_change_is_not_consumed(make_runner):
    """Code checking two changes in a row replays a history that holds only the later one."""
    state = {"version": 1, "answers": []}

    @durable_execution
    def handler(event, context):
        if state["version"] == 2:
            state["answers"].append(context.patched("first"))
        state["answers"].append(context.patched("second"))
        state["version"] = 2
        context.wait(Duration(1))

    result = make_runner(handler).run()
    assert result.status == "SUCCEEDED"
    assert state["answers"] == [True, False, True]


def test_deprecate_patch_replays_executions_recorded_with_the_patch(make_runner):
    """After deprecate_patch, executions holding the marker still replay to the same operations."""
    handler, state = versions(2)
    state["deploy_to"] = 3
    result = make_runner(handler).run()
    assert result.status == "SUCCEEDED"
    assert state["paths"] == ["new", "v3"]
    assert steps(result) == [("Patch", "charge-first"), ("Step", "charge"), ("Step", "ship")]


def test_deprecate_patch_records_nothing_for_new_executions(make_runner):
    """A new execution under deprecate_patch has no marker."""
    handler, _ = versions(3)
    result = make_runner(handler).run()
    assert result.result == "v3"
    assert steps(result) == [("Step", "charge"), ("Step", "ship")]


def test_histories_recorded_before_and_after_the_patch_replay_on_the_patched_code():
    """replay_history: v1 and v2 recordings both replay on v2; v1 does not replay without it."""
    import pytest

    from durable_exec import NonDeterministicExecutionError
    from durable_exec.testing import DurableTestRunner, replay_history

    def build(version: int):
        @durable_execution
        def handler(event, context):
            if version == 1 or (version == 2 and not context.patched("charge-first")):
                context.step(lambda _: "ship", name="ship")
            else:
                context.step(lambda _: "charge", name="charge")
                context.step(lambda _: "ship", name="ship")
            context.wait(Duration(60), name="settle")

        return handler

    before = DurableTestRunner(build(1)).run()
    after = DurableTestRunner(build(2)).run()
    assert replay_history(build(2), before).outcome == "returned"
    assert replay_history(build(2), after).outcome == "returned"
    with pytest.raises(NonDeterministicExecutionError, match="expected STEP \\(Step\\) 'ship'"):
        replay_history(build(3), before)  # the new path without the patch check
