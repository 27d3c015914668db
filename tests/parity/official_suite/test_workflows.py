"""Tests written for aws-durable-execution-sdk-python-testing 1.4.0."""

from __future__ import annotations

import json

import pytest
import workflows
from aws_durable_execution_sdk_python.execution import InvocationStatus
from aws_durable_execution_sdk_python.lambda_service import (
    ErrorObject,
    OperationStatus,
    OperationType,
)
from aws_durable_execution_sdk_python.serdes import ExtendedTypeSerDes
from aws_durable_execution_sdk_python_testing.exceptions import DurableFunctionsTestError
from aws_durable_execution_sdk_python_testing.runner import (
    ContextOperation,
    DurableChildContextTestRunner,
    StepOperation,
)


def decode(payload):
    return ExtendedTypeSerDes().deserialize(payload)


def test_order_runs_to_completion(make_runner, record):
    runner = make_runner(workflows.order_handler)
    result = runner.run(input={"order_id": "o-7", "quantity": 3}, execution_timeout=30)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    body = json.loads(result.result)
    assert body["shipment"] == "shipped:label-o-7"
    assert decode(result.get_step("validate_order").result) == {"order_id": "o-7", "valid": True}
    assert result.get_wait("cooling_off").scheduled_end_timestamp is not None
    shipping = result.get_context("shipping")
    assert isinstance(shipping, ContextOperation)
    assert [op.name for op in shipping.child_operations] == [
        "print_label",
        "courier_pickup",
        "hand_over",
    ]
    assert shipping.get_step("hand_over").status is OperationStatus.SUCCEEDED


def test_invalid_order_fails_the_execution(make_runner, record):
    runner = make_runner(workflows.order_handler)
    result = runner.run(input={"order_id": "o-8", "quantity": 0}, execution_timeout=30)
    record(result)

    assert result.status is InvocationStatus.FAILED
    assert result.error.type.endswith("StepError")
    assert "invalid quantity 0" in result.error.message
    step = result.get_step("validate_order")
    assert step.status is OperationStatus.FAILED
    assert step.attempt == 1


def test_manager_approves(make_runner, record):
    runner = make_runner(workflows.approval_handler)
    with runner:
        arn = runner.run_async(input={"request": "laptop", "timeout": 300}, execution_timeout=30)
        callback_id = runner.wait_for_callback(arn, timeout=10)
        runner.send_callback_heartbeat(callback_id)
        runner.send_callback_success(callback_id, json.dumps({"by": "ana"}).encode())
        result = runner.wait_for_result(arn, timeout=10)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == {
        "approved": True,
        "decision": json.dumps({"by": "ana"}),
        "receipt": "approved:laptop",
    }
    approval = result.get_context("manager_approval")
    callbacks = [
        op for op in approval.child_operations if op.operation_type is OperationType.CALLBACK
    ]
    assert len(callbacks) == 1
    assert callbacks[0].callback_id


def test_manager_rejects(make_runner, record):
    runner = make_runner(workflows.approval_handler)
    with runner:
        arn = runner.run_async(input={"request": "yacht", "timeout": 300}, execution_timeout=30)
        callback_id = runner.wait_for_callback(arn, timeout=10)
        runner.send_callback_failure(callback_id, ErrorObject.from_message("budget exhausted"))
        result = runner.wait_for_result(arn, timeout=10)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    body = json.loads(result.result)
    assert body["approved"] is False
    assert body["reason"] == "CallbackExternalError"
    assert "budget exhausted" in body["message"]


def test_approval_times_out(make_runner, record):
    runner = make_runner(workflows.approval_handler)
    result = runner.run(input={"request": "desk", "timeout": 1}, execution_timeout=20)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    body = json.loads(result.result)
    assert (body["approved"], body["reason"]) == (False, "CallbackTimeoutError")
    timed_out = [
        op
        for op in result.get_all_operations()
        if op.operation_type is OperationType.CALLBACK and op.status is OperationStatus.TIMED_OUT
    ]
    assert len(timed_out) == 1


def test_named_callbacks_answered_in_turn(make_runner, record):
    runner = make_runner(workflows.two_callbacks_handler)
    with runner:
        arn = runner.run_async(input=None, execution_timeout=30)
        legal = runner.wait_for_callback(arn, name="legal", timeout=10)
        finance = runner.wait_for_callback(arn, name="finance", timeout=10)
        runner.send_callback_success(finance, b"finance-ok")
        runner.send_callback_success(legal, b"legal-ok")
        result = runner.wait_for_result(arn, timeout=10)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == ["legal-ok", "finance-ok"]
    assert result.get_callback("finance").result == "finance-ok"


def test_pricing_tolerates_one_failure(make_runner, record):
    items = [
        {"sku": "desk", "quantity": 2},
        {"sku": "broken", "quantity": 1},
        {"sku": "lamp", "quantity": 3},
        {"sku": "chair", "quantity": 4},
    ]
    runner = make_runner(workflows.pricing_handler)
    result = runner.run(input={"items": items}, execution_timeout=30)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    body = json.loads(result.result)
    assert body == {
        "total": 90,
        "failed": ["no price for broken"],
        "reason": "ALL_COMPLETED",
        "counts": [3, 1],
    }
    batch = result.get_context("price_items")
    # Children come in start order, which races between branches running together.
    assert sorted(op.name for op in batch.child_operations) == [
        "price-broken",
        "price-chair",
        "price-desk",
        "price-lamp",
    ]
    broken = batch.get_context("price-broken")
    assert broken.status is OperationStatus.FAILED
    assert isinstance(broken.get_step("price"), StepOperation)


def test_parallel_checks(make_runner, record):
    runner = make_runner(workflows.checks_handler)
    result = runner.run(input={"sku": "desk", "customer": "c-1"}, execution_timeout=30)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == ["desk:in-stock", "c-1:clear"]
    checks = result.get_context("pre_checks")
    assert checks.get_context("fraud").get_wait("fraud_backoff").status is OperationStatus.SUCCEEDED


def test_flaky_partner_is_retried(make_runner, record):
    runner = make_runner(workflows.flaky_handler)
    result = runner.run(input=None, execution_timeout=30)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == "answered on attempt 3; parse failed with ValueError"
    call = result.get_step("call_partner")
    assert call.attempt == 3
    assert result.get_step("parse_reply").status is OperationStatus.FAILED


def test_block_is_retried_with_backoff(make_runner, record):
    runner = make_runner(workflows.block_retry_handler)
    result = runner.run(input=None, execution_timeout=30)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == "committed ref-2"
    transfer = result.get_context("transfer")
    assert transfer.get_wait("transfer-backoff-1").status is OperationStatus.SUCCEEDED


def test_polling_until_done(make_runner, record):
    runner = make_runner(workflows.polling_handler)
    result = runner.run(input=None, execution_timeout=30)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == {"progress": 100, "checks": 4}
    assert result.get_step("export_job").attempt == 4


def test_custom_polling_strategy(make_runner, record):
    runner = make_runner(workflows.custom_poll_handler)
    result = runner.run(input=None, execution_timeout=30)
    record(result)

    assert (result.status, json.loads(result.result)) == (InvocationStatus.SUCCEEDED, 3)


def test_billing_invokes_other_functions(make_runner, record):
    runner = make_runner(workflows.billing_handler)
    runner.register_function("tax-calculator", workflows.tax_handler)
    runner.register_durable_function("invoicing", workflows.invoice_handler)
    result = runner.run(input={"order_id": "o-9", "amount": 50}, execution_timeout=30)
    record(result)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == {
        "tax": {"tax": 10.0},
        "invoice": {"invoice": "INV-o-9"},
        "arn_known": True,
    }
    assert json.loads(result.get_invoke("compute_tax").result) == {"tax": 10.0}


def test_child_context_alone():
    with DurableChildContextTestRunner(workflows.loyalty_points, "c-3", 250) as runner:
        result = runner.run(execution_timeout=30)

    assert result.status is InvocationStatus.SUCCEEDED
    assert json.loads(result.result) == 500


def test_unhandled_error_fails_the_execution(make_runner, record):
    runner = make_runner(workflows.failing_handler)
    result = runner.run(input={}, execution_timeout=30)
    record(result)

    assert result.status is InvocationStatus.FAILED
    assert result.error.type == "KeyError"
    assert result.error.message == "'customer record missing'"
    with pytest.raises(DurableFunctionsTestError):
        result.get_step("no-such-step")


def test_history_lists_every_event(make_runner):
    runner = make_runner(workflows.order_handler)
    with runner:
        arn = runner.run_async(input={"order_id": "o-1", "quantity": 1}, execution_timeout=30)
        runner.wait_for_result(arn, timeout=30)
        history = runner.get_execution_history(arn)

    kinds = [event.event_type for event in history.events]
    assert kinds[0] == "ExecutionStarted"
    assert kinds[-1] == "ExecutionSucceeded"
    assert kinds.count("WaitStarted") == kinds.count("WaitSucceeded") == 2
    assert "InvocationCompleted" in kinds
