"""Record golden histories by running the workflows on the OFFICIAL SDK.

Not part of the test run. Regenerate with an environment holding
``aws-durable-execution-sdk-python`` (e.g. ``pip install -e ".[emulator]"``):

    python tests/replay/tools/record_official.py

The official handlers talk to durable_exec's LocalDurableService (it is
botocore-shaped, so it is passed as ``boto3_client=``); the final operations,
with their payloads, and the result are written to tests/replay/histories/.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import pathlib
import sys
from types import SimpleNamespace
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "replay"))

import aws_durable_execution_sdk_python as official  # noqa: E402
import workflows  # noqa: E402
from aws_durable_execution_sdk_python import config, retries, waits  # noqa: E402

from durable_exec.testing import LocalDurableService, VirtualClock  # noqa: E402


def official_namespace(client: Any) -> SimpleNamespace:
    def durable_execution(func: Any) -> Any:
        return official.durable_execution(func, boto3_client=client)

    return SimpleNamespace(
        durable_execution=durable_execution,
        durable_step=official.durable_step,
        durable_with_child_context=official.durable_with_child_context,
        Duration=config.Duration,
        StepConfig=config.StepConfig,
        ChildConfig=config.ChildConfig,
        MapConfig=config.MapConfig,
        ParallelConfig=config.ParallelConfig,
        ParallelBranch=config.ParallelBranch,
        CompletionConfig=config.CompletionConfig,
        WaitForCallbackConfig=config.WaitForCallbackConfig,
        JitterStrategy=config.JitterStrategy,
        RetryStrategyConfig=retries.RetryStrategyConfig,
        create_retry_strategy=retries.create_retry_strategy,
        WaitStrategyConfig=waits.WaitStrategyConfig,
        WaitForConditionConfig=waits.WaitForConditionConfig,
        create_wait_strategy=waits.create_wait_strategy,
    )


class FakeContext:
    function_name = "golden"
    aws_request_id = "golden-request"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def to_json(value: Any) -> Any:
    if isinstance(value, datetime.datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    return value


def record(name: str, handler: Any, service: LocalDurableService, clock: VirtualClock) -> None:
    arn = service.start_execution(
        "golden", json.dumps(workflows.INPUTS.get(name, {})), execution_name=name
    )
    for _ in range(50):
        if service.execution_status(arn) != "RUNNING":
            break
        callback_id = service.callback_id(arn, "approval")
        if callback_id and name in workflows.CALLBACK_ANSWERS:
            with contextlib.suppress(Exception):
                service.send_durable_execution_callback_success(
                    CallbackId=callback_id, Result=workflows.CALLBACK_ANSWERS[name].encode()
                )
        if service.is_runnable(arn) or not service.events(arn)[1:]:
            out = handler(service.invocation_event(arn), FakeContext())
            service.record_invocation(arn, out)
            continue
        due = service.next_due(arn, include_execution_timeout=False)
        if due is None:
            break
        clock.advance_to(due)
        service.fire_due_timers()
    status = service.execution_status(arn)
    assert status == "SUCCEEDED", (name, status, service.error(arn))
    golden = {
        "name": name,
        "recorded_with": f"aws-durable-execution-sdk-python {official.__version__}",
        "input": workflows.INPUTS.get(name, {}),
        "result": service.result(arn),
        "operations": to_json(service.operations(arn)),
    }
    out = ROOT / "tests" / "replay" / "histories" / f"{name}.json"
    out.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out.relative_to(ROOT)}: {len(golden['operations'])} operations")  # noqa: T201


def main() -> None:
    clock = VirtualClock()
    service = LocalDurableService(clock)
    handlers = workflows.build(official_namespace(service))
    for name in workflows.NAMES:
        record(name, handlers[name], service, clock)


if __name__ == "__main__":
    main()
