"""The batching policy under map/parallel: how many calls, what each call may carry, who waits.

A batch somebody waits for leaves once every thread that may add updates is
blocked on the checkpointer (the coordinator counts its running branches and
takes itself off while it waits for them), or after a short linger. These
tests count calls on the in-memory service through a recording client; none
of them measures time. "Patient" runs make the linger effectively infinite,
so only the all-blocked rule can send a batch a branch waits for, and the
counts are exact.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durable_exec import (
    CompletionConfig,
    MapConfig,
    ParallelConfig,
    durable_execution,
)
from durable_exec._checkpointer import BatcherConfig
from durable_exec._handler import run_invocation
from durable_exec.testing import FakeLambdaContext, LocalDurableService, VirtualClock

PATIENT = BatcherConfig(max_linger=3600.0, max_hold=3600.0)
MAX_UPDATES = 250


class Recording:
    """A botocore-shaped client over the in-memory service that records every checkpoint call."""

    def __init__(self, service: LocalDurableService) -> None:
        self.service = service
        self.calls: list[list[dict[str, Any]]] = []
        self.threads: list[str] = []
        self.after_call: Callable[[list[dict[str, Any]]], None] | None = None
        self._lock = threading.Lock()
        self.overlapping = False

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        if not self._lock.acquire(blocking=False):
            self.overlapping = True  # two calls in flight at once: the token chain forked
            self._lock.acquire()
        try:
            updates = [dict(u) for u in kwargs.get("Updates") or ()]
            self.calls.append(updates)
            self.threads.append(threading.current_thread().name)
            response = self.service.checkpoint_durable_execution(**kwargs)
        finally:
            self._lock.release()
        if self.after_call is not None:
            self.after_call(updates)
        return response

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return self.service.get_durable_execution_state(**kwargs)

    @property
    def sizes(self) -> list[int]:
        """Updates per call."""
        return [len(c) for c in self.calls]

    def index_of(self, predicate: Callable[[dict[str, Any]], bool]) -> int:
        """The first call carrying an update that matches ``predicate``."""
        return next(i for i, call in enumerate(self.calls) if any(predicate(u) for u in call))


def run(
    body: Callable[[Any, Any], Any], *, batcher: BatcherConfig = PATIENT
) -> tuple[dict[str, Any], Recording]:
    """Run one invocation of ``body`` against a fresh in-memory service; return output and calls."""
    clock = VirtualClock()
    service = LocalDurableService(clock)
    arn = service.start_execution("f")
    client = Recording(service)
    output = run_invocation(
        durable_execution(body),
        service.invocation_event(arn),
        FakeLambdaContext("f", clock=clock),
        client=client,
        clock=clock,
        batcher=batcher,
    )
    return output, client


def one_step(ctx: Any, value: int, index: int, items: Any) -> int:
    return int(ctx.step(lambda _: value * 2, name="double"))


@pytest.mark.timeout(120)
class TestCallCounts:
    """One call per wave of branches: the bound of BENCHMARKS.md, reached exactly."""

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(items=st.integers(1, 40), concurrency=st.integers(1, 12))
    def test_map_one_call_per_wave(self, items: int, concurrency: int) -> None:
        """A map of one-step items makes ceil(N / C) calls, plus one for its outcome."""

        def body(event: Any, ctx: Any) -> int:
            config: MapConfig[Any] = MapConfig(max_concurrency=concurrency)
            return sum(ctx.map(list(range(items)), one_step, config=config).get_results())

        output, client = run(body)
        assert output == {"Status": "SUCCEEDED", "Result": str(items * (items - 1))}
        assert len(client.calls) == math.ceil(items / concurrency) + 1
        assert sum(client.sizes) == 4 * items + 2  # updates unchanged: nothing is dropped
        assert not client.overlapping

    def test_steps_in_a_row_one_call_each(self) -> None:
        """Sequential steps: one call per step, its START and SUCCEED together."""

        def body(event: Any, ctx: Any) -> int:
            return sum(ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(20))

        output, client = run(body)
        assert output["Status"] == "SUCCEEDED"
        assert [[u["Action"] for u in call] for call in client.calls] == [["START", "SUCCEED"]] * 20

    def test_nested_map(self) -> None:
        """A 4 x 4 map of maps: the leaves' wave, the inner outcomes, the outer outcome."""

        def leaf(ctx: Any, value: int, index: int, items: Any) -> int:
            return int(ctx.step(lambda _: value, name="leaf"))

        def branch(ctx: Any, value: int, index: int, items: Any) -> int:
            inner = [value * 4 + j for j in range(4)]
            return sum(ctx.map(inner, leaf, config=MapConfig(max_concurrency=4)).get_results())

        def body(event: Any, ctx: Any) -> int:
            config: MapConfig[Any] = MapConfig(max_concurrency=4)
            return sum(ctx.map(list(range(4)), branch, config=config).get_results())

        output, client = run(body)
        assert output == {"Status": "SUCCEEDED", "Result": str(sum(range(16)))}
        assert len(client.calls) == 3

    def test_branch_outcome_rides_with_the_next_wave(self) -> None:
        """A branch's own CONTEXT SUCCEED is not waited for: it leaves with the next call."""

        def body(event: Any, ctx: Any) -> int:
            return sum(ctx.map([1, 2], one_step, config=MapConfig(max_concurrency=1)).get_results())

        output, client = run(body)
        assert output["Status"] == "SUCCEEDED"
        shapes = [[(u["Type"], u["Action"]) for u in call] for call in client.calls]
        iteration_done = ("CONTEXT", "SUCCEED")
        # Call 2 carries item 0's CONTEXT SUCCEED with item 1's START/START/SUCCEED.
        assert shapes[1][0] == iteration_done
        assert [s for s in shapes[1] if s[0] == "STEP"] == [("STEP", "START"), ("STEP", "SUCCEED")]
        assert len(client.calls) == 3


@pytest.mark.timeout(120)
class TestNoHeldBackUpdates:
    """A busy branch delays the others' calls by a short linger, never until it blocks."""

    def test_long_step_does_not_hold_others(self) -> None:
        """While one branch's step runs on, another branch's steps become durable."""
        release = threading.Event()
        fast_done = threading.Event()

        def slow(ctx: Any) -> str:
            return str(ctx.step(lambda _: "slow" if release.wait(60) else "timeout", name="long"))

        def fast(ctx: Any) -> str:
            first = ctx.step(lambda _: "a", name="one")
            second = ctx.step(lambda _: "b", name="two")
            fast_done.set()  # both SUCCEEDs are durable: each step returned
            return str(first + second)

        outcome: dict[str, Any] = {}

        def invoke() -> None:
            outcome["output"], outcome["client"] = run(
                lambda event, ctx: ctx.parallel([slow, fast]).get_results(),
                batcher=BatcherConfig(),  # the default policy
            )

        worker = threading.Thread(target=invoke)
        worker.start()
        try:
            assert fast_done.wait(60), "the fast branch's updates were held back by the slow one"
        finally:
            release.set()
            worker.join(60)
        client: Recording = outcome["client"]
        assert outcome["output"] == {"Status": "SUCCEEDED", "Result": json.dumps(["slow", "ab"])}
        assert client.index_of(lambda u: u.get("Name") == "two") < client.index_of(
            lambda u: u.get("Name") == "long" and u["Action"] == "SUCCEED"
        )

    def test_patient_policy_waits_for_the_slow_branch(self) -> None:
        """The counter-check: with an endless linger, the fast step's SUCCEED waits for the slow."""
        release = threading.Event()
        entered = threading.Event()

        def slow(ctx: Any) -> str:
            def body(_: Any) -> str:
                entered.set()
                return "slow" if release.wait(60) else "timeout"

            return str(ctx.step(body, name="long"))

        def fast(ctx: Any) -> str:
            return str(ctx.step(lambda _: "a", name="one"))

        outcome: dict[str, Any] = {}

        def invoke() -> None:
            outcome["output"], outcome["client"] = run(
                lambda event, ctx: ctx.parallel([slow, fast]).get_results()
            )

        worker = threading.Thread(target=invoke)
        worker.start()
        assert entered.wait(60)
        release.set()
        worker.join(60)
        client: Recording = outcome["client"]
        assert outcome["output"] == {"Status": "SUCCEEDED", "Result": json.dumps(["slow", "a"])}
        one = client.index_of(lambda u: u.get("Name") == "one" and u["Action"] == "SUCCEED")
        long = client.index_of(lambda u: u.get("Name") == "long" and u["Action"] == "SUCCEED")
        assert one == long


@pytest.mark.timeout(120)
class TestProtocolRules:
    """What every call carries, whatever the policy."""

    def test_wide_wave_split_at_250_updates(self) -> None:
        """A wave of 120 branches (360 updates) is split into calls of at most 250, in order."""

        def body(event: Any, ctx: Any) -> int:
            config: MapConfig[Any] = MapConfig(max_concurrency=120)
            return sum(ctx.map(list(range(120)), one_step, config=config).get_results())

        output, client = run(body)
        assert output == {"Status": "SUCCEEDED", "Result": str(120 * 119)}
        assert max(client.sizes) <= MAX_UPDATES
        assert MAX_UPDATES in client.sizes
        assert sum(client.sizes) == 4 * 120 + 2

    def test_call_payload_bytes_bounded(self) -> None:
        """Large step results: no call carries more than the batcher's byte limit."""
        limit = BatcherConfig().max_bytes
        big = "x" * (200 * 1024)

        def item(ctx: Any, value: int, index: int, items: Any) -> int:
            return len(ctx.step(lambda _: big, name="big"))

        def body(event: Any, ctx: Any) -> int:
            config: MapConfig[Any] = MapConfig(max_concurrency=8)
            return sum(ctx.map(list(range(8)), item, config=config).get_results())

        output, client = run(body)
        assert output == {"Status": "SUCCEEDED", "Result": str(8 * len(big))}
        assert all(len(json.dumps(call)) <= limit for call in client.calls)
        assert len(client.calls) > 2  # 1.6 MB of results cannot travel in one call

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        items=st.integers(1, 30),
        concurrency=st.integers(1, 10),
        patient=st.booleans(),
        nested=st.booleans(),
    )
    def test_start_before_outcome(
        self, items: int, concurrency: int, patient: bool, nested: bool
    ) -> None:
        """No operation's outcome is sent before (or without) its START."""

        def leaf(ctx: Any, value: int, index: int, items_: Any) -> int:
            if nested and value % 3 == 0:
                return int(ctx.run_in_child_context(lambda c: c.step(lambda _: value, name="in")))
            return int(ctx.step(lambda _: value, name="leaf"))

        def body(event: Any, ctx: Any) -> int:
            config: MapConfig[Any] = MapConfig(max_concurrency=concurrency)
            return sum(ctx.map(list(range(items)), leaf, config=config).get_results())

        output, client = run(body, batcher=PATIENT if patient else BatcherConfig())
        assert output["Status"] == "SUCCEEDED"
        started: set[str] = set()
        for call in client.calls:
            ids = [u["Id"] for u in call]
            for update in call:
                if update["Action"] == "START":
                    started.add(update["Id"])
                elif update["Type"] in ("STEP", "CONTEXT"):
                    assert update["Id"] in started, f"{update['Action']} before START"
            # One update per operation, except a START followed by its outcome.
            for op_id in set(ids):
                actions = [u["Action"] for u in call if u["Id"] == op_id]
                assert len(actions) == 1 or (actions[0] == "START" and len(actions) == 2)

    def test_no_branch_update_after_its_batch_completed(self) -> None:
        """Early completion: nothing from inside the map follows the map's own outcome."""

        def item(ctx: Any, value: int, index: int, items: Any) -> int:
            ctx.step(lambda _: value, name="first")
            return int(ctx.step(lambda _: value, name="second"))

        def body(event: Any, ctx: Any) -> Any:
            config: MapConfig[Any] = MapConfig(
                max_concurrency=3, completion_config=CompletionConfig(min_successful=2)
            )
            return ctx.map(
                list(range(9)), item, name="early", config=config
            ).completion_reason.value

        output, client = run(body, batcher=BatcherConfig())
        assert output["Status"] == "SUCCEEDED"
        flat = [u for call in client.calls for u in call]
        map_id = next(u["Id"] for u in flat if u.get("Name") == "early")
        done = max(
            i
            for i, call in enumerate(client.calls)
            if any(u["Id"] == map_id and u["Action"] == "SUCCEED" for u in call)
        )
        inside = {map_id}
        for update in flat:
            if update.get("ParentId") in inside:
                inside.add(update["Id"])
        later = [u for call in client.calls[done + 1 :] for u in call if u["Id"] in inside]
        assert later == []
        last = client.calls[done]
        assert last[-1]["Id"] == map_id  # the outcome ends its call: nothing from inside after


@pytest.mark.timeout(120)
class TestSenders:
    """Who sends: the blocked caller itself when it can, one call at a time, in order."""

    def test_sequential_caller_sends_itself(self) -> None:
        """With time to spare, a sequential step's call is made on the handler's own thread."""

        def body(event: Any, ctx: Any) -> int:
            return sum(ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(5))

        caller = threading.current_thread().name
        _, client = run(body)
        assert client.threads == [caller] * 5

    def test_near_deadline_thread_sends(self) -> None:
        """With less time left than a call may take, the checkpoint thread sends instead."""
        clock = VirtualClock()
        service = LocalDurableService(clock)
        arn = service.start_execution("f")
        client = Recording(service)

        def body(event: Any, ctx: Any) -> int:
            return sum(ctx.step(lambda _, i=i: i, name=f"s{i}") for i in range(3))

        output = run_invocation(
            durable_execution(body),
            service.invocation_event(arn),
            FakeLambdaContext("f", timeout=30.0, clock=clock),  # under any call's bound
            client=client,
            clock=clock,
        )
        assert output == {"Status": "SUCCEEDED", "Result": "3"}
        assert all(name.startswith("durable-checkpoint") for name in client.threads)

    def test_map_calls_never_overlap(self) -> None:
        """Branches sending their own batches never overlap: the token chain stays single."""

        def body(event: Any, ctx: Any) -> int:
            config: MapConfig[Any] = MapConfig(max_concurrency=8)
            return sum(ctx.map(list(range(64)), one_step, config=config).get_results())

        for batcher in (BatcherConfig(), PATIENT, BatcherConfig(max_linger=0.0, max_hold=0.0)):
            output, client = run(body, batcher=batcher)
            assert output == {"Status": "SUCCEEDED", "Result": str(64 * 63)}
            assert not client.overlapping
            assert sum(client.sizes) == 4 * 64 + 2


def test_parallel_counts_branches_as_producers() -> None:
    """A parallel's branches are counted too: one call for its wave, one for its outcome."""

    def branch(i: int) -> Callable[[Any], int]:
        return lambda ctx: int(ctx.step(lambda _: i, name="work"))

    def body(event: Any, ctx: Any) -> int:
        config = ParallelConfig(max_concurrency=10)
        return sum(ctx.parallel([branch(i) for i in range(10)], config=config).get_results())

    output, client = run(body)
    assert output == {"Status": "SUCCEEDED", "Result": "45"}
    assert client.sizes == [31, 11]
