"""Every example runs end to end on the in-process service."""

from __future__ import annotations

import importlib.util
import pathlib
from types import ModuleType

from durable_exec._wire import OperationStatus

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestOrderProcessing:
    def test_order_completes_after_retry_wait_and_child_context(self, make_runner):
        """The order is charged on the second attempt, waits, ships, and completes."""
        example = load("order_processing")
        result = make_runner(example.handler).run({"order_id": "o-42", "items": 3})
        assert result.status == "SUCCEEDED"
        assert result.result["charge"] == "charge-o-42-5997"
        assert result.result["label"] == "label/eu-west/o-42"
        assert result.result["tracking"].startswith("TRK")
        assert result.get_step("charge_card").attempt == 2
        assert result.get_wait("cancellation-window").status is OperationStatus.SUCCEEDED
        assert result.get_context("ship").status is OperationStatus.SUCCEEDED


class TestApproval:
    def test_approved_request_places_the_order(self, make_runner):
        """An approval answered up front lets the workflow place the order."""
        example = load("approval")
        runner = make_runner(example.handler).on_callback("manager-approval", result="approved")
        result = runner.run({"request": "laptop", "manager": "ana@example.com"})
        assert result.result == {"request": "laptop", "decision": "approved"}
        assert result.get_step("place-order").status is OperationStatus.SUCCEEDED

    def test_unanswered_request_expires_after_a_day(self, make_runner, clock):
        """Without an answer the callback's heartbeat or timeout expires the request."""
        example = load("approval")
        result = make_runner(example.handler).run({"request": "desk", "manager": "bo@example.com"})
        assert result.result == {"request": "desk", "decision": "expired"}

    def test_answer_sent_later_is_picked_up(self, make_runner):
        """A test can answer the callback after the workflow paused on it."""
        example = load("approval")
        runner = make_runner(example.handler)
        waiting = runner.run(
            {"request": "chair", "manager": "cy@example.com"}, pause_on_callbacks=True
        )
        assert waiting.status == "RUNNING"
        runner.send_callback_success(
            runner.callback_id(waiting.arn, "manager-approval"), "approved"
        )
        assert runner.resume(waiting.arn).result["decision"] == "approved"


class TestOrchestrator:
    def test_invokes_a_durable_and_a_plain_target(self, make_runner):
        """The orchestrator gets results from a durable target and a plain one."""
        example = load("orchestrator")
        runner = make_runner(example.handler)
        runner.register_function("report-builder", example.report_builder)
        runner.register_function("tax-rate", example.tax_rate)
        result = runner.run({"order_id": "o-9", "country": "DE"})
        assert result.result == {
            "report": {"order": "o-9", "lines": 2, "total": 7},
            "tax_rate": 0.19,
        }


class TestPolling:
    def test_polls_until_the_job_is_done(self, make_runner):
        """The job is checked four times, with back-off between checks."""
        example = load("polling")
        result = make_runner(example.handler).run({"job_id": "j-7"})
        assert result.result == {"job_id": "j-7", "status": "DONE", "polls": 4}
        assert result.invocations == 4


class TestFanOut:
    def test_hundreds_of_lines_with_tolerated_failures(self, make_runner):
        """300 lines, 10 at a time; the 4 discontinued ones fail within the 5 % tolerance."""
        example = load("fan_out")
        result = make_runner(example.handler).run({"lines": 300})
        assert result.result == {
            "charged": 296,
            "failed": 4,
            "cents": sum(100 + i for i in range(300) if i % 97 != 0),
            "reason": "ALL_COMPLETED",
        }
