"""Behaviour of context.map and context.parallel."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from durable_exec import (
    BatchCompletionError,
    BatchItemStatus,
    BatchResult,
    ChildContextError,
    CompletionConfig,
    CompletionOutcome,
    CompletionReason,
    Duration,
    JitterStrategy,
    LinearRetryStrategyConfig,
    MapConfig,
    NestingType,
    ParallelBranch,
    ParallelConfig,
    RetryPresets,
    RetryStrategyConfig,
    StepConfig,
    StepError,
    ValidationError,
    WaitForCallbackConfig,
    WithRetryConfig,
    complete_batch,
    continue_batch,
    create_retry_strategy,
    durable_execution,
)
from durable_exec._ids import operation_id
from durable_exec._wire import OperationStatus, OperationType
from durable_exec.testing import (
    DurableTestRunner,
    Fault,
    FaultInjectingClient,
    LocalDurableService,
    VirtualClock,
)

OK, FAIL = "ok", "fail"


def _item(context, outcome, index, items):
    return context.step(
        lambda _: index if outcome == OK else 1 / 0,
        name="work",
        config=StepConfig(retry_strategy=RetryPresets.none()),
    )


def _run_map(make_runner, outcomes, config):
    @durable_execution
    def handler(event, context):
        return context.map(outcomes, _item, name="batch", config=config).to_dict()

    return make_runner(handler).run()


def _summary(result):
    batch = BatchResult.from_dict(result.result)
    return batch.completion_reason, [(i.index, i.status) for i in batch.all]


S, F, ST = BatchItemStatus.SUCCEEDED, BatchItemStatus.FAILED, BatchItemStatus.STARTED


class TestCompletionRules:
    @pytest.mark.parametrize(
        ("outcomes", "completion", "reason", "items"),
        [
            (
                [OK, FAIL, OK, OK],
                CompletionConfig(),
                CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
                [(0, S), (1, F)],
            ),
            (
                [OK, FAIL, OK, OK],
                CompletionConfig.all_completed(),
                CompletionReason.ALL_COMPLETED,
                [(0, S), (1, F), (2, S), (3, S)],
            ),
            (
                [OK, FAIL, FAIL, OK],
                CompletionConfig(tolerated_failure_count=1),
                CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
                [(0, S), (1, F), (2, F)],
            ),
            (
                [FAIL, FAIL, OK, OK],
                CompletionConfig(tolerated_failure_percentage=50),
                CompletionReason.ALL_COMPLETED,
                [(0, F), (1, F), (2, S), (3, S)],
            ),
            (
                [FAIL, FAIL, OK, OK],
                CompletionConfig(tolerated_failure_percentage=25),
                CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
                [(0, F), (1, F)],
            ),
            (
                [OK, OK, OK, OK],
                CompletionConfig(min_successful=2),
                CompletionReason.MIN_SUCCESSFUL_REACHED,
                [(0, S), (1, S)],
            ),
            (
                [FAIL, FAIL, FAIL],
                CompletionConfig(min_successful=2),
                CompletionReason.ALL_COMPLETED,
                [(0, F), (1, F), (2, F)],
            ),
            (
                [FAIL, OK, OK],
                CompletionConfig.first_successful(),
                CompletionReason.MIN_SUCCESSFUL_REACHED,
                [(0, F), (1, S)],
            ),
            (
                [OK, OK, OK],
                CompletionConfig.all_successful(),
                CompletionReason.ALL_COMPLETED,
                [(0, S), (1, S), (2, S)],
            ),
        ],
    )
    def test_reason_and_statuses(self, make_runner, outcomes, completion, reason, items):
        """Each completion config ends the batch with the documented reason and items."""
        result = _run_map(
            make_runner, outcomes, MapConfig(max_concurrency=1, completion_config=completion)
        )
        assert result.status == "SUCCEEDED"
        assert _summary(result) == (reason, items)

    def test_custom_predicate_decides_completion(self, make_runner):
        """should_complete sees every status change and can end the batch as FAILED."""
        seen = []

        def predicate(status):
            seen.append((status.success_count, status.failure_count, status.total_count))
            if status.success_count >= 2:
                return complete_batch(CompletionOutcome.FAILED)
            return continue_batch()

        @durable_execution
        def handler(event, context):
            batch = context.map(
                [OK, OK, OK],
                _item,
                config=MapConfig(
                    max_concurrency=1, completion_config=CompletionConfig(should_complete=predicate)
                ),
            )
            try:
                batch.throw_if_error()
            except BatchCompletionError as error:
                return [batch.completion_reason.value, error.message]
            return None

        result = make_runner(handler).run()
        assert result.result == [
            "CUSTOM_COMPLETION_FAILED",
            (
                "the map/parallel failed because its should_complete predicate returned a "
                "FAILED decision (CUSTOM_COMPLETION_FAILED); see BatchResult.all for each "
                "item's outcome"
            ),
        ]
        assert seen[0] == (0, 0, 3)

    def test_parallel_defaults_to_all_successful(self, make_runner):
        """parallel stops at the first failure by default and throw_if_error raises it."""

        @durable_execution
        def handler(event, context):
            batch = context.parallel(
                [lambda c: "a", lambda c: 1 / 0, lambda c: "c"],
                name="checks",
                config=ParallelConfig(max_concurrency=1),
            )
            try:
                batch.throw_if_error()
            except ChildContextError as error:
                return [batch.completion_reason.value, error.error_type, batch.get_results()]
            return None

        result = make_runner(handler).run()
        assert result.result == ["FAILURE_TOLERANCE_EXCEEDED", "ZeroDivisionError", ["a"]]

    def test_empty_input_returns_an_empty_result(self, make_runner):
        """map over nothing returns an empty BatchResult, completed."""

        @durable_execution
        def handler(event, context):
            batch = context.map([], _item)
            return [batch.total_count, batch.completion_reason.value]

        assert make_runner(handler).run().result == [0, "ALL_COMPLETED"]


class TestValidation:
    @pytest.mark.parametrize(
        "make_config",
        [
            lambda: MapConfig(max_concurrency=0),
            lambda: CompletionConfig(tolerated_failure_percentage=101),
            lambda: CompletionConfig(tolerated_failure_percentage=-1),
            lambda: CompletionConfig(min_successful=0),
            lambda: CompletionConfig(tolerated_failure_count=-1),
            lambda: CompletionConfig(min_successful=1, should_complete=lambda s: continue_batch()),
        ],
    )
    def test_bad_configs_raise_validation_error(self, make_config):
        """Out-of-range settings are refused when the config is built."""
        with pytest.raises(ValidationError):
            make_config()

    def test_min_successful_above_items_fails_before_any_checkpoint(self, make_runner):
        """min_successful larger than the input raises ValidationError without a checkpoint."""

        @durable_execution
        def handler(event, context):
            try:
                context.map(
                    [1, 2],
                    _item,
                    config=MapConfig(completion_config=CompletionConfig(min_successful=3)),
                )
            except ValidationError as error:
                return str(error)
            return None

        result = make_runner(handler).run()
        assert result.result == (
            "min_successful=3 can never be met by 2 item(s); "
            "lower min_successful or pass more items"
        )
        assert result.api_calls == 0


class TestStructure:
    def test_branch_ids_come_from_the_index(self, make_runner):
        """Branch i has id blake2b('{map_id}-{i}') and its children hang below it."""

        @durable_execution
        def handler(event, context):
            return context.map(
                ["a", "b", "c"], lambda c, x, i, xs: x.upper(), name="up"
            ).get_results()

        result = make_runner(handler).run()
        batch = result.get_context("up")
        branches = result.children(batch)
        assert result.result == ["A", "B", "C"]
        assert batch.sub_type == "Map"
        assert [(b.id, b.name, b.sub_type) for b in sorted(branches, key=lambda b: b.name)] == [
            (operation_id(batch.id, i), f"map-item-{i}", "MapIteration") for i in range(3)
        ]

    def test_parallel_branch_names(self, make_runner):
        """ParallelBranch names its branch; plain functions get parallel-branch-{i}."""

        @durable_execution
        def handler(event, context):
            context.parallel(
                [ParallelBranch(lambda c: 1, name="fraud"), lambda c: 2], name="checks"
            )

        result = make_runner(handler).run()
        names = sorted(op.name for op in result.children(result.get_context("checks")))
        assert names == ["fraud", "parallel-branch-1"]

    def test_item_namer_names_items(self, make_runner):
        """item_namer(item, index) names each iteration."""

        @durable_execution
        def handler(event, context):
            context.map(
                ["x", "y"],
                lambda c, item, i, items: item,
                name="m",
                config=MapConfig(item_namer=lambda item, i: f"line-{item}"),
            )

        result = make_runner(handler).run()
        assert sorted(op.name for op in result.children(result.get_context("m"))) == [
            "line-x",
            "line-y",
        ]

    def test_flat_nesting_records_no_branch_contexts(self, make_runner):
        """FLAT branches record no CONTEXT; their operations hang off the batch."""

        @durable_execution
        def handler(event, context):
            return context.map(
                [1, 2],
                lambda c, x, i, xs: c.step(lambda _: x * 3, name="triple"),
                name="flat",
                config=MapConfig(nesting_type=NestingType.FLAT),
            ).get_results()

        result = make_runner(handler).run()
        batch = result.get_context("flat")
        children = result.children(batch)
        assert result.result == [3, 6]
        assert {op.type for op in children} == {OperationType.STEP}
        assert {op.id for op in children} == {
            operation_id(operation_id(batch.id, i), 1) for i in range(2)
        }

    def test_nested_map_inside_parallel(self, make_runner):
        """A map inside a parallel branch runs and nests correctly."""

        @durable_execution
        def handler(event, context):
            batch = context.parallel(
                [
                    lambda c: c.map(
                        [1, 2, 3], lambda cc, x, i, xs: x * x, name="squares"
                    ).get_results(),
                    lambda c: "other",
                ],
                name="outer",
            )
            return batch.get_results()

        result = make_runner(handler).run()
        assert result.result == [[1, 4, 9], "other"]
        squares = result.get_context("squares")
        branch = next(op for op in result.operations if op.id == squares.parent_id)
        assert branch.sub_type == "ParallelBranch"


class TestSuspension:
    def test_branches_waiting_on_timers_suspend_the_invocation(self):
        """When every branch waits, the whole invocation goes PENDING; nothing partial."""
        # A generous idle grace: virtual time must not skip ahead while a branch is
        # still on its way to its own wait, however loaded the machine is.
        clock = VirtualClock(idle_grace=2.0)

        @durable_execution
        def handler(event, context):
            def item(c, x, i, xs):
                c.wait(Duration(60), name=f"w{i}")
                return x

            return context.map([1, 2], item, name="m").get_results()

        result = DurableTestRunner(handler, clock=clock).run()
        assert result.outputs[0] == {"Status": "PENDING"}
        assert (result.status, result.result) == ("SUCCEEDED", [1, 2])

    def test_timer_branch_resumes_while_another_branch_runs(self, make_runner):
        """A branch whose wait ends is resumed in the same invocation if others still run."""
        release = threading.Event()

        def waiter(c):
            c.wait(Duration(30), name="short")
            c.step(lambda _: release.set(), name="release")
            return "waited"

        def worker(c):
            def body(_):
                assert release.wait(10), "the waiting branch was not resumed in-process"
                return "worked"

            return c.step(body, name="slow")

        @durable_execution
        def handler(event, context):
            return context.parallel([waiter, worker], name="p").get_results()

        result = make_runner(handler).run()
        assert (result.result, result.invocations) == (["waited", "worked"], 1)

    def test_max_concurrency_counts_suspended_branches(self, make_runner):
        """A suspended branch keeps its slot: with one slot, the second item waits for the first."""
        started = []

        @durable_execution
        def handler(event, context):
            def item(c, x, i, xs):
                c.step(lambda _: started.append(i), name="start")
                c.wait(Duration(5), name="pause")
                return i

            return context.map([0, 1], item, config=MapConfig(max_concurrency=1)).get_results()

        result = make_runner(handler).run()
        assert result.result == [0, 1]
        assert started == [0, 1]
        assert result.outputs[0] == {"Status": "PENDING"}

    def test_callback_in_branch_suspends_until_answered(self, make_runner):
        """A branch waiting on a callback holds the batch open across invocations."""

        @durable_execution
        def handler(event, context):
            return context.parallel(
                [lambda c: c.wait_for_callback(lambda cid, x: None, name="ask"), lambda c: "b"],
                name="p",
            ).get_results()

        result = make_runner(handler).on_callback("ask", result="yes").run()
        assert result.result == ["yes", "b"]

    def test_early_completion_lets_running_branches_finish(self, make_runner):
        """min_successful ends the batch while a branch runs; that branch ends and is reported."""
        fast_done = threading.Event()

        def fast(c):
            value = c.step(lambda _: "fast", name="fast")
            fast_done.set()
            return value

        def slow(c):
            c.step(lambda _: fast_done.wait(5), name="slow")
            return c.step(lambda _: "recorded", name="after")

        @durable_execution
        def handler(event, context):
            batch = context.parallel(
                [fast, slow],
                config=ParallelConfig(completion_config=CompletionConfig(min_successful=1)),
            )
            return [batch.completion_reason.value, [i.status.value for i in batch.all]]

        result = make_runner(handler).run()
        assert result.result == ["MIN_SUCCESSFUL_REACHED", ["SUCCEEDED", "SUCCEEDED"]]
        assert result.get_step("after").status.value == "SUCCEEDED"


class TestEarlyCompletion:
    @pytest.mark.parametrize(
        ("max_concurrency", "started"), [(None, 100), (3, 3), (1, 1)], ids=["default", "3", "1"]
    )
    def test_only_branches_with_a_thread_start_and_each_is_recorded(self, max_concurrency, started):
        """A branch starts only with a thread; all started ones are recorded; none is STARTED."""
        for _ in range(10):

            @durable_execution
            def handler(event, context):
                batch = context.map(
                    list(range(100)),
                    lambda c, x, i, xs: c.step(lambda _: x, name="item"),
                    name="m",
                    config=MapConfig(
                        max_concurrency=max_concurrency,
                        completion_config=CompletionConfig(min_successful=1),
                    ),
                )
                return [[i.index, i.status.value] for i in batch.all]

            result = DurableTestRunner(handler).run()
            branches = [op for op in result.operations if op.sub_type == "MapIteration"]
            assert [i for i, _ in result.result] == list(range(started))
            assert {status for _, status in result.result} == {"SUCCEEDED"}
            assert sorted(op.name for op in branches) == sorted(
                f"map-item-{i}" for i in range(started)
            )
            assert {op.status for op in branches} == {OperationStatus.SUCCEEDED}

    def test_a_suspended_branch_is_reported_started_and_recorded(self, make_runner):
        """A branch that suspended before completion is STARTED, with its CONTEXT recorded.

        It waits on a callback nobody answers: with no due time, nothing can resume
        it before the other branch completes the batch, however loaded the machine
        (a timer could fire first: virtual time moves on once the running branch
        has been silent for the clock's idle grace).
        """

        def waiter(c):
            return c.create_callback(name="approval").result()

        @durable_execution
        def handler(event, context):
            batch = context.parallel(
                [waiter, lambda c: c.step(lambda _: "now", name="now")],
                name="p",
                config=ParallelConfig(completion_config=CompletionConfig.first_successful()),
            )
            return [i.status.value for i in batch.all]

        result = make_runner(handler).run()
        assert result.result == ["STARTED", "SUCCEEDED"]
        branch = result.get_context("parallel-branch-0")
        assert branch.status is OperationStatus.STARTED

    def test_a_coordinator_failure_keeps_its_cause_on_first_run_and_replay(self, make_runner):
        """A map failing outside its items raises ChildContextError, same cause each time."""
        seen = []

        def predicate(status):
            raise KeyError("no quorum rule")

        @durable_execution
        def handler(event, context):
            try:
                context.map(
                    [1, 2],
                    lambda c, x, i, xs: x,
                    name="m",
                    config=MapConfig(completion_config=CompletionConfig(should_complete=predicate)),
                )
            except ChildContextError as error:
                cause = error.__cause__
                seen.append((type(cause).__name__, cause.error_type, cause.message))
            context.wait(Duration(1), name="replay the failed map")
            return len(seen)

        result = make_runner(handler).run()
        assert result.result == 2
        assert seen[0] == seen[1] == ("DurableOperationError", "KeyError", "'no quorum rule'")


class TestLateTimers:
    def test_a_late_service_timer_is_polled_with_back_off(self, clock):
        """While another branch runs, a wait the service finishes late is re-polled sparingly."""
        service = LocalDurableService(clock)
        client = FaultInjectingClient(service)
        late_until = clock.now() + 120
        released = threading.Event()

        def hide_finished_waits(response):
            state = dict(response["NewExecutionState"])
            if clock.now() >= late_until:
                if not released.is_set():
                    # The timer fires at last: deliver the wait's real state.
                    released.set()
                    arn = client.calls[-1].kwargs["DurableExecutionArn"]
                    waits = [op for op in service.operations(arn) if op["Type"] == "WAIT"]
                    state["Operations"] = [*state["Operations"], *waits]
                return {**response, "NewExecutionState": state}
            state["Operations"] = [
                {**op, "Status": "STARTED"}
                if op["Type"] == "WAIT" and op["Status"] == "SUCCEEDED"
                else op
                for op in state["Operations"]
            ]
            return {**response, "NewExecutionState": state}

        client.inject(
            Fault.respond(hide_finished_waits, name="late-timer"),
            operation=FaultInjectingClient.CHECKPOINT,
            times=None,
        )

        def waiter(c):
            c.wait(Duration(1), name="short")
            return "waited"

        def worker(c):
            return c.step(lambda _: released.wait(20) and "worked", name="slow")

        @durable_execution
        def handler(event, context):
            return context.parallel([waiter, worker], name="p").get_results()

        result = DurableTestRunner(handler, service=client, clock=clock).run()
        assert (result.result, result.invocations) == (["waited", "worked"], 1)
        refreshes = [
            call
            for call in client.calls
            if call.operation == FaultInjectingClient.CHECKPOINT and not call.updates
        ]
        # Every 0.5 s for two minutes would be 240 calls; doubling from 0.5 s, about 10.
        assert 5 <= len(refreshes) <= 12


class TestRetryStrategyConfigAsStrategy:
    def test_a_config_is_used_as_the_strategy_it_describes(self, make_runner):
        """A RetryStrategyConfig as retry_strategy retries like create_retry_strategy(config)."""
        config = RetryStrategyConfig(
            max_attempts=3, initial_delay=Duration(2), jitter_strategy=JitterStrategy.NONE
        )

        def run(strategy):
            @durable_execution
            def handler(event, context):
                try:
                    context.step(lambda _: 1 / 0, name="s", config=StepConfig(strategy))
                except StepError as error:
                    return error.error_type
                return "no error"

            result = make_runner(handler).run()
            return result.result, [
                (e["EventType"], e.get("StepFailedDetails", {}).get("RetryDetails"))
                for e in result.history
                if e["EventType"].startswith("Step")
            ]

        assert run(config) == run(create_retry_strategy(config))
        assert run(config)[0] == "ZeroDivisionError"

    def test_wait_for_callback_and_with_retry_take_a_config_too(self):
        """WaitForCallbackConfig and WithRetryConfig accept a RetryStrategyConfig."""
        config = RetryStrategyConfig(max_attempts=2)
        for made in (
            WaitForCallbackConfig(retry_strategy=config),
            WithRetryConfig(retry_strategy=config),
            StepConfig(retry_strategy=LinearRetryStrategyConfig(max_attempts=2)),
        ):
            decision = made.retry_strategy(ValueError("x"), 1)
            assert decision.should_retry
            assert not made.retry_strategy(ValueError("x"), 2).should_retry

    def test_anything_else_not_callable_is_refused(self):
        """A retry_strategy that is neither callable nor a config is a ValidationError."""
        with pytest.raises(ValidationError, match="RetryStrategyConfig"):
            StepConfig(retry_strategy=3)


class TestReplayAndScale:
    def test_finished_branches_are_not_rerun(self, make_runner):
        """On resume, finished branches come from their checkpoints without running."""
        runs = Counter()

        @durable_execution
        def handler(event, context):
            def item(c, x, i, xs):
                runs[i] += 1
                if i == 0:
                    c.wait(Duration(10), name="late")
                return i

            return context.map([0, 1, 2], item, config=MapConfig(max_concurrency=3)).get_results()

        result = make_runner(handler).run()
        assert result.result == [0, 1, 2]
        assert runs[1] == 1
        assert runs[2] == 1

    def test_large_batch_result_is_rebuilt_from_children(self, make_runner):
        """A batch result over 256 KiB is stored as a summary and rebuilt on replay."""
        chunk = "z" * 70_000

        @durable_execution
        def handler(event, context):
            batch = context.map([0, 1, 2, 3], lambda c, x, i, xs: chunk, name="big")
            context.wait(Duration(1))
            return [len(r) for r in batch.get_results()]

        result = make_runner(handler).run()
        batch = result.get_context("big")
        assert result.result == [70_000] * 4
        assert batch.replay_children is True
        assert '"type": "MapResult"' in (batch.result or "")

    def test_stress_ids_and_results_are_identical_across_runs(self, make_runner, service, clock):
        """1,000 items at max_concurrency 50, with suspensions, give the same ids and results."""

        @durable_execution
        def handler(event, context):
            def item(c, x, i, xs):
                doubled = c.step(lambda _: x * 2, name="double")
                c.wait(Duration(1 + i % 3), name="pause")
                return c.step(lambda _: doubled + 1, name="inc")

            batch = context.map(
                list(range(1000)), item, name="fan", config=MapConfig(max_concurrency=50)
            )
            return batch.get_results()

        signatures = []
        for _ in range(3):
            result = make_runner(handler).run()
            assert result.result == [x * 2 + 1 for x in range(1000)]
            signatures.append(
                sorted(
                    (op.id, op.type.value, op.name or "", op.parent_id or "", op.result or "")
                    for op in result.operations
                    if op.type is not OperationType.EXECUTION
                )
            )
            assert all(op.status is OperationStatus.SUCCEEDED for op in result.operations)
        assert signatures[0] == signatures[1] == signatures[2]
        assert len(signatures[0]) == 1 + 1000 * 4


def test_branches_starting_after_early_completion_are_refused_locally(make_runner):
    """A branch that starts only after its batch completed never reaches the service."""

    @durable_execution
    def handler(event, context):
        batch = context.parallel(
            [lambda c: "fast"] + [lambda c: c.step(lambda _: "late", name="late")] * 8,
            config=ParallelConfig(completion_config=CompletionConfig(min_successful=1)),
        )
        return batch.completion_reason.value

    for _ in range(30):
        result = make_runner(handler).run()
        assert (result.status, result.result) == ("SUCCEEDED", "MIN_SUCCESSFUL_REACHED")
