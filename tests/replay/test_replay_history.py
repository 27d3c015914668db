"""replay_history: recorded histories against current code, in every shape they come in."""

from __future__ import annotations

import json
import pathlib
import sys
from types import SimpleNamespace
from typing import Any

import pytest

import durable_exec
from durable_exec import (
    Duration,
    NonDeterministicExecutionError,
    StepContext,
    ValidationError,
    durable_execution,
    durable_step,
    durable_with_child_context,
)
from durable_exec.testing import (
    DurableTestRunner,
    LocalDurableService,
    SimulatedCrash,
    load_history,
    replay_histories_test,
    replay_history,
)

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import workflows  # noqa: E402

GOLDEN = HERE / "histories"


def our_handlers() -> dict[str, Any]:
    sdk = SimpleNamespace(**{name: getattr(durable_exec, name) for name in durable_exec.__all__})
    return workflows.build(sdk)


BODY_RUNS: list[str] = []


@durable_step
def reserve(step_context: StepContext, order_id: str) -> dict:
    BODY_RUNS.append("reserve")
    return {"order_id": order_id, "slot": 3}


@durable_step
def charge(step_context: StepContext, amount: int) -> str:
    BODY_RUNS.append("charge")
    return f"ch-{amount}"


@durable_with_child_context
def ship(context, order_id: str) -> str:
    label = context.step(lambda _: f"label-{order_id}", name="label")
    return context.step(lambda _: f"{label}/sent", name="send")


def order_v1():
    @durable_execution
    def handler(event, context):
        reservation = context.step(reserve(event["order_id"]))
        receipt = context.step(charge(reservation["slot"] * 10))
        context.wait(Duration.from_minutes(5), name="cool-off")
        parcel = context.run_in_child_context(ship(event["order_id"]))
        return [receipt, parcel]

    return handler


@pytest.fixture(autouse=True)
def reset_body_runs():
    BODY_RUNS.clear()


@pytest.fixture
def recorded() -> Any:
    result = DurableTestRunner(order_v1()).run({"order_id": "o-1"})
    assert result.status == "SUCCEEDED"
    BODY_RUNS.clear()
    return result


class TestSources:
    @pytest.mark.parametrize("name", workflows.NAMES)
    def test_official_sdk_histories_replay(self, name):
        """Every golden history recorded with the official SDK replays on the current code."""
        replayed = replay_history(our_handlers()[name], GOLDEN / f"{name}.json")
        assert replayed.outcome == "returned"
        assert json.dumps(replayed.result) == json.loads((GOLDEN / f"{name}.json").read_text())[
            "result"
        ]

    def test_a_test_runner_result(self, recorded):
        """A DurableTestRunner result replays, and no step body runs again."""
        replayed = replay_history(order_v1(), recorded)
        assert replayed.outcome == "returned"
        assert replayed.result == ["ch-30", "label-o-1/sent"]
        # reserve, charge, the wait and the child (its stored result: its steps are not asked)
        assert replayed.operations_replayed == 4
        assert BODY_RUNS == []

    def test_get_durable_execution_history_output(self):
        """The API's GetDurableExecutionHistory response (events with payloads) replays."""
        service = LocalDurableService()
        runner = DurableTestRunner(order_v1(), service=service)
        result = runner.run({"order_id": "o-2"})
        response = service.get_durable_execution_history(
            DurableExecutionArn=result.arn, IncludeExecutionData=True
        )
        assert replay_history(order_v1(), response).result == ["ch-30", "label-o-2/sent"]

    def test_history_without_payloads_is_refused(self, recorded):
        """Events read without execution data cannot be replayed, and the error says why."""
        service = LocalDurableService()
        result = DurableTestRunner(order_v1(), service=service).run({"order_id": "o-3"})
        response = service.get_durable_execution_history(
            DurableExecutionArn=result.arn, IncludeExecutionData=False
        )
        with pytest.raises(ValidationError, match="IncludeExecutionData=True"):
            replay_history(order_v1(), response)

    def test_a_json_file_of_the_local_store_export(self, tmp_path):
        """`durable-exec history --json` output written to a file replays (ISO timestamps)."""
        from durable_exec._cli._render import history_json, to_json

        service = LocalDurableService()
        result = DurableTestRunner(order_v1(), service=service).run({"order_id": "o-4"})
        path = tmp_path / "o-4.json"
        path.write_text(to_json(history_json(result.arn, service.events(result.arn))))
        assert replay_history(order_v1(), path).result == ["ch-30", "label-o-4/sent"]
        assert replay_history(order_v1(), str(path)).outcome == "returned"

    def test_a_stored_execution_record(self):
        """The local store's execution record (what SqliteStore.load returns) replays."""
        service = LocalDurableService()
        result = DurableTestRunner(order_v1(), service=service).run({"order_id": "o-5"})
        record = service._store.load(result.arn)
        assert replay_history(order_v1(), record).result == ["ch-30", "label-o-5/sent"]

    def test_display_json_is_refused_with_a_pointer(self, recorded):
        """`show --json` output holds display values: the error names the command to use."""
        shown = {"execution": {}, "operations": [{"id": "x", "type": "STEP"}]}
        with pytest.raises(ValidationError, match="history --json"):
            load_history(shown)


class TestDivergence:
    def test_a_renamed_step_names_expected_actual_and_position(self, recorded):
        """The first divergent operation is named with type, name and position."""

        @durable_execution
        def renamed(event, context):
            context.step(reserve(event["order_id"]))
            context.step(lambda _: "x", name="bill")

        with pytest.raises(NonDeterministicExecutionError) as caught:
            replay_history(renamed, recorded)
        message = str(caught.value)
        assert "position 2 of the root context" in message
        assert "expected STEP (Step) 'charge'" in message
        assert "actual STEP (Step) 'bill'" in message
        assert caught.value.recorded == {
            "type": "STEP",
            "sub_type": "Step",
            "name": "charge",
            "parent_id": None,
        }
        assert caught.value.requested is not None
        assert caught.value.requested["name"] == "bill"

    def test_a_changed_operation_type_inside_a_child(self, recorded):
        """A divergence inside a child context names the child as the place."""

        @durable_with_child_context
        def ship_changed(context, order_id: str) -> str:
            context.step(lambda _: "l", name="label")
            context.wait(Duration(5), name="send")
            return "x"

        @durable_execution
        def handler(event, context):
            context.step(reserve(event["order_id"]))
            context.step(charge(30))
            context.wait(Duration.from_minutes(5), name="cool-off")
            return context.run_in_child_context(ship_changed(event["order_id"]), name="ship")

        recorded_child = recorded.get_context("ship")
        # The stored child result would be returned without running the child: make it rerun.
        recorded_child.status = durable_exec._wire.OperationStatus.STARTED
        recorded_child.result = None
        with pytest.raises(NonDeterministicExecutionError) as caught:
            replay_history(handler, recorded)
        message = str(caught.value)
        assert "position 2 inside CONTEXT (RunInChildContext) 'ship'" in message
        assert "expected STEP (Step) 'send', actual WAIT (Wait) 'send'" in message

    def test_an_operation_added_after_the_end_of_a_finished_execution(self, recorded):
        """Asking for more than a finished execution recorded diverges; the body never runs."""

        @durable_execution
        def longer(event, context):
            order_v1().func(event, context)
            return context.step(lambda _: BODY_RUNS.append("extra"), name="audit")

        with pytest.raises(NonDeterministicExecutionError) as caught:
            replay_history(longer, recorded)
        message = str(caught.value)
        assert "expected nothing: the recorded execution ended (SUCCEEDED)" in message
        assert "actual STEP (Step) 'audit'" in message
        assert "position 5 of the root context" in message
        assert BODY_RUNS == []

    def test_an_operation_removed_at_the_end(self, recorded):
        """Finishing without asking for a recorded operation is a divergence."""

        @durable_execution
        def shorter(event, context):
            context.step(reserve(event["order_id"]))
            context.step(charge(30))
            context.wait(Duration.from_minutes(5), name="cool-off")
            return "shipped elsewhere"

        with pytest.raises(NonDeterministicExecutionError) as caught:
            replay_history(shorter, recorded)
        message = str(caught.value)
        assert "expected CONTEXT (RunInChildContext) 'ship'" in message
        assert "actual nothing (the code finished without asking for it)" in message


class TestRunningExecutions:
    def test_a_waiting_execution_replays_up_to_where_it_waits(self):
        """A recording of an execution waiting on a callback replays to the wait."""

        @durable_execution
        def approval(event, context):
            context.step(lambda _: "asked", name="ask")
            return context.wait_for_callback(lambda cid, ctx: None, name="approve")

        runner = DurableTestRunner(approval)
        waiting = runner.run({}, pause_on_callbacks=True)
        assert waiting.status == "RUNNING"
        assert replay_history(approval, waiting).outcome == "waiting"

    def test_new_code_may_go_beyond_a_running_execution(self):
        """Operations after the end of a running execution's recording are not divergence."""

        @durable_execution
        def crashes_after_charge(event, context):
            context.step(reserve(event["order_id"]))
            context.step(charge(30))
            raise SimulatedCrash  # the recording ends here, the execution still running

        runner = DurableTestRunner(crashes_after_charge, max_invocation_retries=0)
        with pytest.raises(RuntimeError, match="crashed"):
            runner.run({"order_id": "o-6"})
        (arn,) = runner._outputs
        partial = runner.result(arn)
        assert partial.status == "RUNNING"

        @durable_execution
        def extended(event, context):
            context.step(reserve(event["order_id"]))
            context.step(charge(30))
            context.step(lambda _: BODY_RUNS.append("new"), name="fraud-check")

        BODY_RUNS.clear()
        replayed = replay_history(extended, partial)
        assert replayed.outcome == "end-of-history"
        assert BODY_RUNS == []

    def test_an_attempt_in_progress_is_not_run_again(self):
        """A step the history shows started (its body may have side effects) is not re-run."""
        runs: list[int] = []

        @durable_execution
        def handler(event, context):
            context.step(lambda _: runs.append(1), name="side-effect")

        result = DurableTestRunner(handler).run()
        step = result.get_step("side-effect")
        step.status = durable_exec._wire.OperationStatus.STARTED
        step.result = None
        runs.clear()
        result.status = "RUNNING"
        assert replay_history(handler, result).outcome == "waiting"
        assert runs == []


def test_a_non_durable_handler_is_refused():
    """replay_history needs a @durable_execution handler."""
    with pytest.raises(ValidationError, match="durable_execution"):
        replay_history(lambda event, context: None, [])  # type: ignore[arg-type]


# The pytest helper: one line turns a directory of recorded histories into a test.
test_examples_histories_replay = replay_histories_test(
    lambda: _load_example("order_processing").handler,
    HERE.parents[1] / "examples" / "histories",
    pattern="order_processing-*.json",
)


def _load_example(name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        f"replay_example_{name}", HERE.parents[1] / "examples" / f"{name}.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_helper_makes_one_case_per_file(tmp_path):
    """replay_histories_test parametrises over every history file, named after it."""
    for name in ("a", "b"):
        (tmp_path / f"{name}.json").write_text((GOLDEN / "steps_wait_child.json").read_text())
    test = replay_histories_test(our_handlers()["steps_wait_child"], tmp_path)
    (mark,) = test.pytestmark
    assert mark.args[0] == "history_file"
    assert [p.name for p in mark.args[1]] == ["a.json", "b.json"]
    test(history_file=tmp_path / "a.json")


def test_the_helper_fails_a_divergent_history(tmp_path):
    """A history the code no longer matches fails its case."""
    (tmp_path / "old.json").write_text((GOLDEN / "steps_wait_child.json").read_text())
    test = replay_histories_test(our_handlers()["step_retries"], tmp_path)
    with pytest.raises(NonDeterministicExecutionError):
        test(history_file=tmp_path / "old.json")
