"""Concurrency stress: the checkpoint thread and ExecutionState under many threads, run repeatedly.

Every batch the service receives is inspected against the protocol rules
(PROTOCOL_AND_SEED.md section 11.3):

* an operation's START comes before its outcome;
* a child's update comes after its parent CONTEXT's START;
* one update per operation id per batch, except a STEP or CONTEXT START
  followed by its outcome;
* an EXECUTION update ends its batch (and is the last update of all);

and, for the checkpoint thread alone, that nothing is lost, duplicated or
reordered within a thread, that the token chain is followed call by call,
and that batches respect their limits. Map/parallel workflows must produce
the same operation ids on every run.
"""

from __future__ import annotations

import collections
import os
import random
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from durable_exec import Duration, MapConfig, NestingType, ParallelConfig, durable_execution
from durable_exec._checkpointer import BatcherConfig, Checkpointer
from durable_exec._service import CheckpointResult, StatePage
from durable_exec._state import ExecutionState
from durable_exec._wire import (
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)
from durable_exec.testing import (
    DurableTestRunner,
    FaultInjectingClient,
    LocalDurableService,
    VirtualClock,
)

FULL = os.environ.get("DURABLE_RELIABILITY_FULL") == "1"
REPEATS = 20 if FULL else 5
THREADS = 32
READERS = 8
UPDATES_PER_THREAD = 200
ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/exec"


def check_protocol(
    batches: Iterable[Sequence[Mapping[str, Any]]], started: Iterable[str] = ()
) -> int:
    """Check the section 11.3 rules over ``batches`` (wire-shaped updates); return the update count.

    Args:
        batches: The Updates of each checkpoint call, in call order.
        started: Operation ids already started before the first batch.
    """
    known = set(started)
    total = 0
    batches = list(batches)
    for number, batch in enumerate(batches, 1):
        in_batch: dict[str, list[str]] = collections.defaultdict(list)
        for position, update in enumerate(batch, 1):
            op_id, op_type, action = update["Id"], update["Type"], update["Action"]
            where = f"batch {number}, update {position} ({op_type} {action} {op_id[:12]})"
            previous = in_batch[op_id]
            if previous:
                assert previous == ["START"], f"{where}: an update for the id after {previous}"
                assert op_type in ("STEP", "CONTEXT"), f"{where}: two updates for one id"
                assert action != "START", f"{where}: START twice in one batch"
            in_batch[op_id].append(action)
            parent = update.get("ParentId")
            if parent is not None:
                assert parent in known, f"{where}: parent {parent[:12]} not started yet"
            if action == "START":
                known.add(op_id)
            elif op_type != "EXECUTION":
                assert op_id in known, f"{where}: an outcome before the START"
            if op_type == "EXECUTION":
                assert position == len(batch), f"{where}: EXECUTION is not last in its batch"
                assert number == len(batches), f"{where}: updates follow the EXECUTION"
            total += 1
    return total


class RecordingService:
    """A DurableService that records each batch and checks the token chain."""

    def __init__(self) -> None:
        self.batches: list[list[OperationUpdate]] = []
        self.token = "t0"

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate], client_token: str
    ) -> CheckpointResult:
        assert token == self.token, f"call {len(self.batches) + 1} used token {token}"
        self.batches.append(list(updates))
        self.token = f"t{len(self.batches)}"
        return CheckpointResult(token=self.token, operations=[])

    def get_state(self, arn: str, token: str, marker: str | None) -> StatePage:
        raise AssertionError("no paging expected")


def _payload(op_id: str) -> str:
    return f'"{op_id} done"'


def _check_whole(op: Operation) -> None:
    """Fail if ``op`` shows a half-applied update (a status without the fields it implies)."""
    if op.type is not OperationType.STEP:
        return
    if op.status is OperationStatus.SUCCEEDED:
        assert (op.result, op.end_timestamp, op.attempt) == (_payload(op.id), 1000.0, 1), op
    elif op.status is OperationStatus.PENDING:
        assert op.error is not None, op
        assert (op.next_attempt_timestamp, op.attempt) == (1005.0, 1), op
    else:
        assert op.status is OperationStatus.STARTED, op
        assert (op.result, op.error, op.attempt) == (None, None, None), op


def _thread_updates(thread: int) -> list[tuple[OperationUpdate, bool]]:
    """The 200 updates of one thread, each with whether it is sent synchronously."""
    rng = random.Random(thread)
    ctx = f"ctx-{thread}"

    def step(op_id: str, action: OperationAction) -> OperationUpdate:
        update = OperationUpdate(id=op_id, type=OperationType.STEP, action=action, parent_id=ctx)
        if action is OperationAction.SUCCEED:
            update.payload = _payload(op_id)
        elif action is OperationAction.RETRY:
            update.error = ErrorObject(message=f"{op_id} failed", type="ValueError")
            update.options = {"NextAttemptDelaySeconds": 5}
        return update

    plan = [
        (OperationUpdate(id=ctx, type=OperationType.CONTEXT, action=OperationAction.START), False)
    ]
    for j in range((UPDATES_PER_THREAD - 2) // 2):
        op_id = f"{ctx}-step-{j}"
        outcome = OperationAction.RETRY if j % 7 == 0 else OperationAction.SUCCEED
        plan.append((step(op_id, OperationAction.START), rng.random() < 0.2))
        plan.append((step(op_id, outcome), rng.random() < 0.5))
    plan.append(
        (OperationUpdate(id=ctx, type=OperationType.CONTEXT, action=OperationAction.SUCCEED), True)
    )
    assert len(plan) == UPDATES_PER_THREAD
    return plan


@pytest.mark.timeout(120 if FULL else 60)
class TestCheckpointThread:
    @pytest.mark.parametrize("repeat", range(REPEATS))
    @pytest.mark.parametrize(
        "config",
        [
            BatcherConfig(max_updates=25, max_delay=0.001),
            BatcherConfig(max_bytes=4096, max_delay=0.05),
        ],
        ids=["25-per-call", "4KiB-per-call"],
    )
    def test_many_threads(self, repeat, config, figures):
        """32 threads x 200 mixed sync/async updates: nothing lost, reordered or mis-batched."""
        service = RecordingService()
        state = ExecutionState(ARN)
        checkpointer = Checkpointer(service, state, "t0", clock=VirtualClock(), config=config)
        plans = [_thread_updates(t) for t in range(THREADS)]
        start = threading.Barrier(THREADS)
        errors: list[BaseException] = []

        def worker(plan: list[tuple[OperationUpdate, bool]]) -> None:
            try:
                start.wait()
                for update, synchronous in plan:
                    if synchronous:
                        checkpointer.checkpoint(update)
                    else:
                        checkpointer.enqueue(update)
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=worker, args=(plan,), name=f"stress-{i}")
            for i, plan in enumerate(plans)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        checkpointer.checkpoint(
            OperationUpdate(id="exec", type=OperationType.EXECUTION, action=OperationAction.SUCCEED)
        )
        checkpointer.close()
        assert not errors, errors

        sent = [u for batch in service.batches for u in batch]
        expected = {(u.id, u.action) for plan in plans for u, _ in plan} | {
            ("exec", OperationAction.SUCCEED)
        }
        pairs = [(u.id, u.action) for u in sent]
        assert len(pairs) == len(set(pairs)), "an update was sent twice"
        assert set(pairs) == expected, "an update was lost"
        owner = {(u.id, u.action): t for t, plan in enumerate(plans) for u, _ in plan}
        per_thread: dict[int, list[Any]] = collections.defaultdict(list)
        for pair in pairs:
            if pair in owner:
                per_thread[owner[pair]].append(pair)
        for t, plan in enumerate(plans):
            assert per_thread[t] == [(u.id, u.action) for u, _ in plan], f"thread {t} reordered"
        for batch in service.batches:
            assert len(batch) <= config.max_updates
            assert len(batch) == 1 or sum(u.size() for u in batch) <= config.max_bytes
        count = check_protocol([[u.to_wire() for u in batch] for batch in service.batches])
        assert count == THREADS * UPDATES_PER_THREAD + 1
        assert checkpointer.calls == len(service.batches)
        figures.add("concurrency", "checkpointer-updates", count)
        figures.add("concurrency", "checkpointer-batches", len(service.batches))
        figures.add("concurrency", "checkpointer-runs")


@pytest.mark.timeout(60)
class TestExecutionState:
    @pytest.mark.parametrize("repeat", range(REPEATS))
    def test_concurrent_apply_merge_and_read(self, repeat, figures):
        """Threads applying, merging and reading at once leave every operation as last updated."""
        state = ExecutionState(ARN)
        plans = [_thread_updates(t) for t in range(THREADS)]
        start = threading.Barrier(THREADS + 1 + READERS)
        errors: list[BaseException] = []
        stop = threading.Event()

        current = [""] * len(plans)  # the id each writer is applying: where races are

        def writer(t: int, plan: list[tuple[OperationUpdate, bool]]) -> None:
            try:
                start.wait()
                for update, _ in plan:
                    current[t] = update.id
                    state.apply([update], 1000.0)
            except BaseException as exc:
                errors.append(exc)

        def merger() -> None:
            try:
                start.wait()
                for i in range(2000):
                    op = Operation(
                        id=f"service-{i}", type=OperationType.WAIT, status=OperationStatus.SUCCEEDED
                    )
                    state.merge([op])
            except BaseException as exc:
                errors.append(exc)

        def reader() -> None:
            # Reads take no lock: each must see an operation as one update left it.
            try:
                start.wait()
                while not stop.is_set():
                    for op_id in current:
                        op = state.get(op_id)
                        if op is not None:
                            _check_whole(op)
                            reads[0] += 1
            except BaseException as exc:
                errors.append(exc)

        threads = [
            threading.Thread(target=writer, args=(i, p), name=f"stress-w{i}")
            for i, p in enumerate(plans)
        ]
        readers = [threading.Thread(target=reader, name=f"stress-r{i}") for i in range(READERS)]
        threads += [threading.Thread(target=merger, name="stress-m")]
        reads = [0]
        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)  # switch threads as often as possible: races show
        try:
            for thread in [*readers, *threads]:
                thread.start()
            for thread in threads:
                thread.join(60)
        finally:
            stop.set()
            for thread in readers:
                thread.join(60)
            sys.setswitchinterval(interval)
        assert not errors, errors[:3]
        assert reads[0] > 0
        assert len(state) == THREADS * (1 + (UPDATES_PER_THREAD - 2) // 2) + 2000
        for t in range(THREADS):
            ctx = state.get(f"ctx-{t}")
            assert ctx is not None
            assert ctx.status is OperationStatus.SUCCEEDED
            for j in range((UPDATES_PER_THREAD - 2) // 2):
                op = state.get(f"ctx-{t}-step-{j}")
                assert op is not None
                expected = OperationStatus.PENDING if j % 7 == 0 else OperationStatus.SUCCEEDED
                assert (op.status, op.attempt, op.parent_id) == (expected, 1, f"ctx-{t}")
        figures.add("concurrency", "state-runs")


@durable_execution
def fan_out(event: Any, context: Any) -> Any:
    """A wide map whose items run a child step pair, a nested parallel and sometimes a wait."""

    def item(ctx: Any, x: int, index: int, items: Any) -> int:
        first = ctx.step(lambda _: x, name="first")
        if x % 5 == 0:
            ctx.wait(Duration(2), name="breathe")
        pair = ctx.parallel(
            [
                lambda c: c.step(lambda _: 1, name="left"),
                lambda c: c.step(lambda _: 2, name="right"),
            ],
            name="pair",
            config=ParallelConfig(max_concurrency=2),
        )
        return first + sum(pair.get_results()) + ctx.step(lambda _: x, name="second")

    nested = context.map(
        list(range(48)), item, name="items", config=MapConfig(max_concurrency=16)
    ).get_results()
    flat = context.map(
        list(range(16)),
        lambda ctx, x, i, xs: ctx.step(lambda _: x, name="flat"),
        name="flat-items",
        config=MapConfig(max_concurrency=8, nesting_type=NestingType.FLAT),
    ).get_results()
    return sum(nested) + sum(flat)


@pytest.mark.timeout(120 if FULL else 60)
def test_map_ids_are_deterministic_and_batches_follow_the_protocol(figures):
    """Repeated wide map/parallel runs give identical operation ids and protocol-correct batches."""
    signatures = []
    for _ in range(REPEATS + 2):
        clock = VirtualClock()
        client = FaultInjectingClient(LocalDurableService(clock))
        runner = DurableTestRunner(fan_out, service=client, clock=clock)  # type: ignore[arg-type]
        result = runner.run({})
        assert (result.status, result.result) == (
            "SUCCEEDED",
            sum(x + 3 + x for x in range(48)) + sum(range(16)),
        )
        ids = [op.id for op in result.operations]
        assert len(ids) == len(set(ids)), "duplicate operation ids"
        signatures.append(
            sorted(
                (op.id, op.parent_id, op.name, op.type.value)
                for op in result.operations
                if op.type is not OperationType.EXECUTION  # its id is the random execution id
            )
        )
        batches = [call.updates for call in client.calls if call.operation == client.CHECKPOINT]
        count = check_protocol(batches, started=[result.operations[0].id])
        figures.add("concurrency", "map-runs")
        figures.add("concurrency", "map-updates-checked", count)
    for signature in signatures[1:]:
        differ = set(signature) ^ set(signatures[0])
        assert not differ, f"operation ids differ between runs: {sorted(differ, key=str)[:6]}"
