"""A minimal fake of the Lambda durable-execution API, shared by both SDKs, and the Lambda loop.

:class:`FakeLambdaClient` is shaped like a botocore ``lambda`` client: both
SDKs take it as ``boto3_client=`` and call ``checkpoint_durable_execution`` and
``get_durable_execution_state`` on it exactly as they would call botocore.
Bookkeeping is the least the protocol needs and costs O(batch) per call: one
dict of operations keyed by id, a list in start order, and a list of pending
timers. No validation beyond the token chain: the point is to measure the
SDKs, not the fake.

An optional latency (``latency_ms``) is slept inside every API call, on the
SDK's calling thread, the way a network round trip blocks it.

:func:`run_execution` plays Lambda: it builds the invocation envelope (epoch
milliseconds, paged like the real service), invokes the decorated handler,
and after a PENDING output fires every timer (time is skipped) and invokes
again, until the execution ends. Each invocation is timed on its own, with the
envelope built outside the timed region (Lambda builds it, not the SDK).
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["FakeLambdaClient", "InvocationRecord", "RunRecord", "run_execution"]

_UTC = datetime.UTC
_PAGE = 1000  # operations per envelope page / state page, as the service does


class _StaleTokenError(Exception):
    """Shaped like botocore's ClientError for a stale checkpoint token."""

    def __init__(self) -> None:
        super().__init__("Invalid checkpoint token")
        self.response = {
            "Error": {
                "Code": "InvalidParameterValueException",
                "Message": "Invalid checkpoint token",
            },
            "ResponseMetadata": {"HTTPStatusCode": 400},
        }


def _dt(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, _UTC)


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class FakeLambdaClient:
    """One durable execution's service side, botocore-client-shaped.

    Args:
        latency_ms: Simulated round-trip time of every API call, in milliseconds.
        page_size: Operations per envelope/state page.

    Attributes:
        calls: ``CheckpointDurableExecution`` calls.
        updates: Operation updates those calls carried.
        batch_sizes: Updates per call, in call order.
        state_calls: ``GetDurableExecutionState`` calls.
        cpu: CPU seconds spent inside the fake (thread time of the calling thread),
            so that the harness can report the SDK's CPU without the fake's.
    """

    def __init__(self, latency_ms: float = 0.0, page_size: int = _PAGE) -> None:
        self.latency = latency_ms / 1000.0
        self.page_size = page_size
        self.arn = ""
        self.token = ""
        self._token_seq = 0
        self.ops: dict[str, dict[str, Any]] = {}
        self.order: list[str] = []
        self.timers: list[str] = []
        self.updated_ids: list[str] = []
        self.status = "RUNNING"
        self.result: str | None = None
        self.calls = 0
        self.updates = 0
        self.batch_sizes: list[int] = []
        self.state_calls = 0
        self.cpu = 0.0
        self._lock = threading.Lock()

    # -- Lambda's side ------------------------------------------------------

    def start_execution(self, input_payload: str | None) -> str:
        """Create the execution and its EXECUTION operation; return the ARN."""
        exec_id = uuid.uuid4().hex
        self.arn = (
            "arn:aws:lambda:us-east-1:123456789012:function:bench:$LATEST"
            f"/durable-execution/bench/{exec_id}"
        )
        now = time.time()  # noqa: TID251 - the fake service stamps wall-clock times like AWS
        op = {"Id": exec_id, "Type": "EXECUTION", "Status": "STARTED", "StartTimestamp": now}
        op["_details"] = {"InputPayload": input_payload} if input_payload is not None else {}
        self.ops[exec_id] = op
        self.order.append(exec_id)
        self._next_token()
        return self.arn

    def envelope(self) -> dict[str, Any]:
        """Return the invocation event Lambda would send now (first page inline)."""
        first = self.order[: self.page_size]
        state: dict[str, Any] = {"Operations": [self._render(self.ops[i], _ms) for i in first]}
        if len(self.order) > self.page_size:
            state["NextMarker"] = str(self.page_size)
        event: dict[str, Any] = {
            "DurableExecutionArn": self.arn,
            "CheckpointToken": self.token,
            "InitialExecutionState": state,
        }
        if self.updated_ids:
            event["UpdatedOperationIds"] = list(self.updated_ids)
        return event

    def fire_timers(self) -> None:
        """Skip time: every started WAIT succeeds, every PENDING step becomes READY."""
        now = time.time()  # noqa: TID251 - see start_execution
        fired = []
        for op_id in self.timers:
            op = self.ops[op_id]
            if op["Type"] == "WAIT" and op["Status"] == "STARTED":
                op["Status"] = "SUCCEEDED"
                op["EndTimestamp"] = now
                fired.append(op_id)
            elif op["Type"] == "STEP" and op["Status"] == "PENDING":
                op["Status"] = "READY"
                fired.append(op_id)
        self.timers = []
        self.updated_ids = fired
        self._next_token()

    def finish(self, output: Mapping[str, Any]) -> None:
        """Record the handler's terminal output."""
        self.status = str(output.get("Status"))
        if output.get("Result"):
            self.result = output["Result"]

    # -- the API ------------------------------------------------------------

    def checkpoint_durable_execution(
        self,
        *,
        DurableExecutionArn: str,  # noqa: N803
        CheckpointToken: str,  # noqa: N803
        Updates: Sequence[Mapping[str, Any]] = (),  # noqa: N803
        ClientToken: str | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """Apply a batch of updates; return the next token and the operations changed."""
        started = time.thread_time()
        with self._lock:
            if CheckpointToken != self.token or DurableExecutionArn != self.arn:
                raise _StaleTokenError
            now = time.time()  # noqa: TID251 - see start_execution
            changed: dict[str, dict[str, Any]] = {}
            for update in Updates:
                op = self._apply(update, now)
                changed[op["Id"]] = op
            self.calls += 1
            self.updates += len(Updates)
            self.batch_sizes.append(len(Updates))
            response: dict[str, Any] = {
                "NewExecutionState": {
                    "Operations": [self._render(op, _dt) for op in changed.values()]
                },
            }
            if self.status == "RUNNING":
                response["CheckpointToken"] = self._next_token()
        self.cpu += time.thread_time() - started
        self._pause()
        return response

    def get_durable_execution_state(
        self,
        *,
        DurableExecutionArn: str,  # noqa: N803
        CheckpointToken: str,  # noqa: N803
        Marker: str | None = None,  # noqa: N803
        MaxItems: int | None = None,  # noqa: N803
    ) -> dict[str, Any]:
        """Return one page of operations in start order."""
        started = time.thread_time()
        with self._lock:
            if CheckpointToken != self.token:
                raise _StaleTokenError
            self.state_calls += 1
            start = int(Marker) if Marker else 0
            end = min(len(self.order), start + (MaxItems or self.page_size))
            response: dict[str, Any] = {
                "Operations": [self._render(self.ops[i], _dt) for i in self.order[start:end]]
            }
            if end < len(self.order):
                response["NextMarker"] = str(end)
        self.cpu += time.thread_time() - started
        self._pause()
        return response

    # -- internals ----------------------------------------------------------

    def _pause(self) -> None:
        if self.latency:
            # The simulated network round trip; it blocks the calling thread like real I/O.
            time.sleep(self.latency)  # noqa: TID251 - simulated API latency is the point here

    def _next_token(self) -> str:
        self._token_seq += 1
        self.token = f"t{self._token_seq}"
        return self.token

    def _apply(self, update: Mapping[str, Any], now: float) -> dict[str, Any]:
        op_id = update["Id"]
        op_type = update["Type"]
        action = update["Action"]
        op = self.ops.get(op_id)
        if op is None:
            op = {"Id": op_id, "Type": op_type, "Status": "STARTED", "StartTimestamp": now}
            for key in ("ParentId", "Name", "SubType"):
                if key in update:
                    op[key] = update[key]
            op["_details"] = {}
            self.ops[op_id] = op
            self.order.append(op_id)
        details = op["_details"]
        if action == "START":
            op["Status"] = "STARTED"
            if op_type == "WAIT":
                seconds = (update.get("WaitOptions") or {}).get("WaitSeconds", 0)
                details["ScheduledEndTimestamp"] = now + seconds
                self.timers.append(op_id)
            elif op_type == "CALLBACK":
                details["CallbackId"] = uuid.uuid4().hex
        elif action == "SUCCEED":
            if op_type == "EXECUTION":
                self.status = "SUCCEEDED"
                self.result = update.get("Payload")
            op["Status"] = "SUCCEEDED"
            op["EndTimestamp"] = now
            if "Payload" in update:
                details["Result"] = update["Payload"]
            if op_type == "CONTEXT":
                options = update.get("ContextOptions") or {}
                if "ReplayChildren" in options:
                    details["ReplayChildren"] = bool(options["ReplayChildren"])
        elif action == "FAIL":
            if op_type == "EXECUTION":
                self.status = "FAILED"
            op["Status"] = "FAILED"
            op["EndTimestamp"] = now
            if "Error" in update:
                details["Error"] = update["Error"]
        elif action == "RETRY":
            op["Status"] = "PENDING"
            delay = (update.get("StepOptions") or {}).get("NextAttemptDelaySeconds", 0)
            details["NextAttemptTimestamp"] = now + delay
            if "Error" in update:
                details["Error"] = update["Error"]
            if "Payload" in update:
                details["Result"] = update["Payload"]
            self.timers.append(op_id)
        if op_type == "STEP" and action != "START":
            details["Attempt"] = details.get("Attempt", 0) + 1
        return op

    @staticmethod
    def _render(op: Mapping[str, Any], stamp: Callable[[float], Any]) -> dict[str, Any]:
        """Render a stored operation in wire form (``stamp`` converts epoch seconds)."""
        out: dict[str, Any] = {"Id": op["Id"], "Type": op["Type"], "Status": op["Status"]}
        for key in ("ParentId", "Name", "SubType"):
            value = op.get(key)
            if value is not None:
                out[key] = value
        out["StartTimestamp"] = stamp(op["StartTimestamp"])
        if "EndTimestamp" in op:
            out["EndTimestamp"] = stamp(op["EndTimestamp"])
        raw = op["_details"]
        op_type = op["Type"]
        details: dict[str, Any] = {}
        for key, value in raw.items():
            if key in ("ScheduledEndTimestamp", "NextAttemptTimestamp"):
                details[key] = stamp(value)
            else:
                details[key] = value
        if op_type == "STEP":
            details.setdefault("Attempt", 0)
            out["StepDetails"] = details
        elif op_type == "CONTEXT":
            out["ContextDetails"] = details
        elif op_type == "WAIT":
            out["WaitDetails"] = details
        elif op_type == "CALLBACK":
            out["CallbackDetails"] = details
        elif op_type == "EXECUTION":
            out["ExecutionDetails"] = details
        elif op_type == "CHAINED_INVOKE":
            out["ChainedInvokeDetails"] = details
        return out


class FakeLambdaContext:
    """The attributes SDKs read from Lambda's context object."""

    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"
    tenant_id = None

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 900_000


@dataclasses.dataclass
class InvocationRecord:
    """One invocation: wall and CPU seconds, and the output status."""

    wall: float
    cpu: float
    fake_cpu: float
    status: str


@dataclasses.dataclass
class RunRecord:
    """One execution driven to its end."""

    invocations: list[InvocationRecord]
    calls: int
    updates: int
    state_calls: int
    status: str
    result: Any
    batch_sizes: list[int]
    peak_bytes: int | None = None

    @property
    def wall(self) -> float:
        return sum(i.wall for i in self.invocations)

    @property
    def cpu(self) -> float:
        return sum(i.cpu for i in self.invocations)

    @property
    def sdk_cpu(self) -> float:
        """Process CPU minus the fake service's own CPU."""
        return sum(i.cpu - i.fake_cpu for i in self.invocations)


def run_execution(
    make_handler: Callable[[FakeLambdaClient], Callable[[Any, Any], Mapping[str, Any]]],
    payload: Any = None,
    *,
    latency_ms: float = 0.0,
    max_invocations: int = 100,
    trace_memory: bool = False,
) -> RunRecord:
    """Drive one execution to its end against a fresh fake, as Lambda would.

    Args:
        make_handler: Decorates the workload for an SDK with ``boto3_client=`` the fake.
        payload: The execution's input.
        latency_ms: Simulated latency per API call.
        max_invocations: Safety stop.
        trace_memory: Measure the Python heap peak with tracemalloc (slower; separate runs).
    """
    import tracemalloc

    client = FakeLambdaClient(latency_ms)
    handler = make_handler(client)
    client.start_execution(None if payload is None else json.dumps(payload))
    context = FakeLambdaContext()
    records: list[InvocationRecord] = []
    status = "PENDING"
    gc.collect()
    if trace_memory:
        tracemalloc.start()
    try:
        for _ in range(max_invocations):
            event = client.envelope()
            fake_cpu = client.cpu
            cpu = time.process_time()
            wall = time.perf_counter()
            try:
                output = handler(event, context)
            except Exception as exc:  # Lambda retries an invocation that raised
                output = {"Status": "ERROR", "Error": repr(exc)}
            wall = time.perf_counter() - wall
            cpu = time.process_time() - cpu
            status = str(output.get("Status"))
            records.append(InvocationRecord(wall, cpu, client.cpu - fake_cpu, status))
            if status in ("SUCCEEDED", "FAILED"):
                client.finish(output)
                break
            if status == "PENDING":
                client.fire_timers()
            else:
                raise RuntimeError(f"invocation failed: {output}")
        else:
            raise RuntimeError(f"execution did not finish in {max_invocations} invocations")
        peak = tracemalloc.get_traced_memory()[1] if trace_memory else None
    finally:
        if trace_memory:
            tracemalloc.stop()
    result = json.loads(client.result) if client.result else None
    return RunRecord(
        invocations=records,
        calls=client.calls,
        updates=client.updates,
        state_calls=client.state_calls,
        status=status,
        result=result,
        batch_sizes=client.batch_sizes,
        peak_bytes=peak,
    )
