"""Drive one execution on LocalDurableService, each invocation on either SDK.

The official SDK's handler takes any botocore-shaped client, so the in-process
service serves both SDKs: an execution can start on one and continue on the other,
and the same workflow can be run start to end on each, on the same virtual clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from durable_exec._handler import run_invocation
from durable_exec.testing import FakeLambdaContext, LocalDurableService, VirtualClock

Invoke = Callable[[dict[str, Any], Any], dict[str, Any]]

TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"}


class RecordingClient:
    """The service as a botocore-shaped client that keeps every update it was sent."""

    def __init__(self, service: LocalDurableService) -> None:
        self._service = service
        self.updates: list[dict[str, Any]] = []

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.updates.extend(kwargs.get("Updates") or ())
        return self._service.checkpoint_durable_execution(**kwargs)

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return self._service.get_durable_execution_state(**kwargs)


class Driver:
    """Starts executions and invokes them until they end.

    Args:
        service: The in-memory service (also the client both SDKs talk to).
        clock: Its virtual clock.
    """

    def __init__(self, service: LocalDurableService, clock: VirtualClock) -> None:
        self.service = service
        self.clock = clock
        self.client = RecordingClient(service)
        self.outputs: list[dict[str, Any]] = []
        self.callback_answers: dict[str, str] = {}
        self.invoke_results: dict[str, Any] = {}

    def ours(self, handler: Any) -> Invoke:
        """An invocation of a durable_exec handler on the virtual clock."""

        def invoke(event: dict[str, Any], context: Any) -> dict[str, Any]:
            return run_invocation(handler, event, context, client=self.client, clock=self.clock)

        return invoke

    @staticmethod
    def official(handler: Any) -> Invoke:
        """An invocation of an official-SDK handler (built with ``boto3_client=driver.client``)."""
        return handler  # type: ignore[no-any-return]

    def run(
        self,
        pick: Callable[[int], Invoke],
        payload: Any = None,
        *,
        name: str | None = None,
        max_invocations: int = 50,
    ) -> str:
        """Run a new execution to its end, invocation ``n`` by ``pick(n)``; return its ARN."""
        service = self.service
        arn = service.start_execution(
            "interop", None if payload is None else json.dumps(payload), execution_name=name
        )
        count = 0
        first = True
        answered: set[str] = set()
        while service.execution_status(arn) not in TERMINAL:
            for callback_name, answer in self.callback_answers.items():
                callback_id = service.callback_id(arn, callback_name)
                if callback_id is not None and callback_id not in answered:
                    answered.add(callback_id)
                    service.send_durable_execution_callback_success(
                        CallbackId=callback_id, Result=answer.encode()
                    )
            for request in service.pending_chained_invokes(arn):
                service.complete_chained_invoke(
                    arn,
                    request.operation_id,
                    status="SUCCEEDED",
                    result=json.dumps(self.invoke_results.get(request.function_name)),
                )
            if first or service.is_runnable(arn):
                first = False
                assert count < max_invocations, "the execution does not finish"
                context = FakeLambdaContext("interop", clock=self.clock)
                output = pick(count)(service.invocation_event(arn), context)
                count += 1
                self.outputs.append(output)
                service.record_invocation(arn, output)
                continue
            due = service.next_due(arn, include_execution_timeout=False)
            assert due is not None, f"execution {arn} is stuck: {service.operations(arn)}"
            self.clock.advance_to(due)
            service.fire_due_timers()
        return arn
