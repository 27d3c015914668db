"""Instrumentation plugins: which hooks fire, when, on which thread, with what, and containment."""

from __future__ import annotations

import contextvars
import logging
import threading
from typing import Any

import pytest

from durable_exec import (
    Duration,
    InvocationError,
    RetryDecision,
    StepConfig,
    durable_execution,
)
from durable_exec.plugin import (
    DurableInstrumentationPlugin,
    InvocationEndInfo,
    InvocationStartInfo,
    InvocationStatus,
    OperationChangeInfo,
    OperationEndInfo,
    OperationStartInfo,
    OperationStatus,
    OperationType,
    PluginExecutor,
    PluginHost,
    PropagationInput,
    PropagationMetadata,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
)


class Recorder(DurableInstrumentationPlugin):
    """Keeps every hook call with the thread it ran on."""

    def __init__(self, log: list[tuple[str, Any, str]], lock: threading.Lock) -> None:
        self.log = log
        self.lock = lock

    def _add(self, hook: str, info: Any) -> None:
        with self.lock:
            self.log.append((hook, info, threading.current_thread().name))

    def on_invocation_start(self, info: InvocationStartInfo) -> None:
        self._add("invocation_start", info)

    def on_invocation_end(self, info: InvocationEndInfo) -> None:
        self._add("invocation_end", info)

    def on_operation_start(self, info: OperationStartInfo) -> None:
        self._add("operation_start", info)

    def on_operation_end(self, info: OperationEndInfo) -> None:
        self._add("operation_end", info)

    def on_operation_change(self, info: OperationChangeInfo) -> None:
        self._add("operation_change", info)

    def on_user_function_start(self, info: UserFunctionStartInfo) -> None:
        self._add("user_function_start", info)

    def on_user_function_end(self, info: UserFunctionEndInfo) -> None:
        self._add("user_function_end", info)


class RecorderFactory:
    def __init__(self, plugin_class: type[Recorder] = Recorder) -> None:
        self.log: list[tuple[str, Any, str]] = []
        self.lock = threading.Lock()
        self.created: list[InvocationStartInfo] = []
        self.plugin_class = plugin_class

    def create_plugin(self, info: InvocationStartInfo) -> Recorder:
        self.created.append(info)
        return self.plugin_class(self.log, self.lock)

    def hooks(self, *, changes: bool = False) -> list[tuple[str, str | None]]:
        """(hook, operation name) in order; change notifications left out unless asked."""
        return [
            (hook, getattr(info, "name", None))
            for hook, info, _ in self.log
            if changes or hook != "operation_change"
        ]

    def infos(self, hook: str) -> list[Any]:
        return [info for name, info, _ in self.log if name == hook]


def test_hooks_follow_each_operation_on_its_thread(make_runner):
    """Start, user-function start/end, end: in that order, before the next operation starts."""
    factory = RecorderFactory()

    @durable_execution(plugins=[factory])
    def handler(event, context):
        first = context.step(lambda _: 1, name="first")
        return context.run_in_child_context(
            lambda c: c.step(lambda _: first + 1, name="inner"), name="child"
        )

    assert make_runner(handler).run().result == 2
    assert factory.hooks() == [
        ("invocation_start", None),
        ("operation_start", "first"),
        ("user_function_start", "first"),
        ("user_function_end", "first"),
        ("operation_end", "first"),
        ("operation_start", "child"),
        ("user_function_start", "child"),
        ("operation_start", "inner"),
        ("user_function_start", "inner"),
        ("user_function_end", "inner"),
        ("operation_end", "inner"),
        ("user_function_end", "child"),
        ("operation_end", "child"),
        ("invocation_end", None),
    ]
    end = factory.infos("operation_end")[0]
    assert (end.operation_type, end.sub_type, end.status, end.attempt) == (
        OperationType.STEP,
        "Step",
        OperationStatus.SUCCEEDED,
        1,
    )
    assert end.result == "1"
    assert end.start_time is not None
    assert end.end_time is not None
    child_start = factory.infos("user_function_start")[1]
    assert (child_start.operation_type, child_start.attempt, child_start.parent_id) == (
        OperationType.CONTEXT,
        1,
        None,
    )
    inner = factory.infos("operation_start")[2]
    assert inner.parent_id == factory.infos("operation_start")[1].operation_id


def test_no_hook_runs_on_the_checkpoint_thread_and_changes_arrive_before_the_end(make_runner):
    """Change notifications run on the plugin change thread; everything else on the caller's."""
    factory = RecorderFactory()

    @durable_execution(plugins=[factory])
    def handler(event, context):
        batch = context.map([1, 2, 3], lambda c, x, i, xs: c.step(lambda _: x, name="item"))
        return sum(batch.get_results())

    assert make_runner(handler).run().result == 6
    threads = {hook: set() for hook, _, _ in factory.log}
    for hook, _, thread in factory.log:
        threads[hook].add(thread)
    assert not any(t.startswith("durable-checkpoint") for names in threads.values() for t in names)
    assert all(t.startswith("durable-plugin-change") for t in threads["operation_change"])
    assert any(t.startswith("durable-map") for t in threads["user_function_start"])
    assert factory.log[-1][0] == "invocation_end"
    changed = {
        info.name
        for info in factory.infos("operation_change")
        for info in info.updated_operations.values()
    }
    assert "item" in changed


def test_replay_reports_in_progress_operations_and_updates_not_finished_ones(make_runner):
    """Next invocation: the elapsed wait ends; operations finished earlier are not reported."""
    factory = RecorderFactory()

    @durable_execution(plugins=[factory])
    def handler(event, context):
        context.step(lambda _: 1, name="before")
        context.run_in_child_context(
            lambda c: c.wait(Duration.from_seconds(5), name="nap"), name="sleeper"
        )
        return context.step(lambda _: 2, name="after")

    result = make_runner(handler).run({"order": 7})
    assert (result.status, result.invocations) == ("SUCCEEDED", 2)
    second = factory.hooks()[factory.hooks().index(("invocation_start", None), 1) :]
    assert second == [
        ("invocation_start", None),
        ("operation_start", "sleeper"),  # replay reaches the still-running child
        ("user_function_start", "sleeper"),
        ("operation_end", "nap"),  # the wait elapsed while suspended
        ("user_function_end", "sleeper"),
        ("operation_end", "sleeper"),
        ("operation_start", "after"),
        ("user_function_start", "after"),
        ("user_function_end", "after"),
        ("operation_end", "after"),
        ("invocation_end", None),
    ]
    replayed = factory.infos("operation_start")[-2]
    assert replayed.is_replayed
    assert replayed.start_time is not None
    starts = factory.infos("invocation_start")
    assert [s.is_first_invocation for s in starts] == [True, False]
    assert [info.name for info in starts[1].updated_operations.values()] == ["nap"]
    assert {info.name for info in starts[1].operations.values()} >= {"before", "sleeper", "nap"}
    assert starts[1].execution_input == {"order": 7}
    assert starts[0].execution_start_time == starts[1].execution_start_time is not None
    assert factory.infos("user_function_start")[-2].attempt is None  # the child existed
    assert len(factory.created) == 2  # one plugin per invocation
    assert factory.created[1] is starts[1]


def test_step_attempts_report_their_outcome_and_error(make_runner):
    """A retried step: attempt 1 FAILED (with the error), attempt 2 SUCCEEDED, one end."""
    factory = RecorderFactory()
    calls: list[int] = []

    def flaky(_):
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("try again")
        return "done"

    @durable_execution(plugins=[factory])
    def handler(event, context):
        return context.step(
            flaky,
            name="flaky",
            config=StepConfig(retry_strategy=lambda e, n: RetryDecision.retry(Duration(1))),
        )

    assert make_runner(handler).run().result == "done"
    ends = factory.infos("user_function_end")
    assert [(e.attempt, e.outcome) for e in ends] == [
        (1, UserFunctionOutcome.FAILED),
        (2, UserFunctionOutcome.SUCCEEDED),
    ]
    assert (ends[0].error.type, ends[0].error.message) == ("ValueError", "try again")
    starts = factory.infos("operation_start")
    assert [s.is_replayed for s in starts] == [False, True]  # START again once READY
    assert [e.status for e in factory.infos("operation_end")] == [OperationStatus.SUCCEEDED]
    assert factory.infos("operation_end")[0].attempt == 2


def test_a_suspension_ends_user_code_incomplete(make_runner):
    """Suspending inside a child context ends its user function INCOMPLETE, with no end hook."""
    factory = RecorderFactory()

    @durable_execution(plugins=[factory])
    def handler(event, context):
        context.run_in_child_context(
            lambda c: c.wait(Duration.from_seconds(1), name="w"), name="holder"
        )

    make_runner(handler).run()
    first_end = factory.infos("user_function_end")[0]
    assert (first_end.name, first_end.outcome, first_end.error) == (
        "holder",
        UserFunctionOutcome.INCOMPLETE,
        None,
    )
    assert factory.infos("invocation_end")[0].status is InvocationStatus.PENDING


@pytest.mark.parametrize(
    ("body", "status", "result", "error_type"),
    [
        (lambda event, context: {"ok": True}, InvocationStatus.SUCCEEDED, '{"ok": true}', None),
        (
            lambda event, context: (_ for _ in ()).throw(KeyError("missing")),
            InvocationStatus.FAILED,
            None,
            "KeyError",
        ),
    ],
)
def test_the_invocation_end_reports_the_outcome(make_runner, body, status, result, error_type):
    """SUCCEEDED carries the serialised result; FAILED the error."""
    factory = RecorderFactory()
    make_runner(durable_execution(body, plugins=[factory])).run()
    end = factory.infos("invocation_end")[0]
    assert (end.status, end.execution_result) == (status, result)
    assert (end.error.type if end.error else None) == error_type


def test_an_invocation_that_raises_ends_with_retry(make_runner):
    """When Lambda will retry the invocation, plugins see RETRY with the error."""
    factory = RecorderFactory()

    @durable_execution(plugins=[factory])
    def handler(event, context):
        raise InvocationError("transient")

    runner = make_runner(handler, max_invocation_retries=0)
    with pytest.raises(InvocationError):
        runner.run()
    end = factory.infos("invocation_end")[0]
    assert end.status is InvocationStatus.RETRY
    assert end.error.message == "transient"


def test_a_plugin_cannot_change_the_handlers_input(make_runner):
    """execution_input is a copy: a plugin mutating it changes nothing for the handler."""

    class Mutator(DurableInstrumentationPlugin):
        def on_invocation_start(self, info):
            info.execution_input["amount"] = 0

    class Factory:
        def create_plugin(self, info):
            return Mutator()

    @durable_execution(plugins=[Factory()])
    def handler(event, context):
        return event["amount"]

    assert make_runner(handler).run({"amount": 5}).result == 5


def test_failing_plugins_are_contained_and_others_still_run(make_runner, caplog):
    """A hook or factory that raises is logged; the execution and the other plugins go on."""

    class Broken(DurableInstrumentationPlugin):
        def __getattribute__(self, name):
            if name.startswith("on_"):
                raise RuntimeError(f"broken {name}")
            return super().__getattribute__(name)

    class BrokenFactory:
        def create_plugin(self, info):
            return Broken()

    class RaisingFactory:
        def create_plugin(self, info):
            raise RuntimeError("no plugin today")

    class NoneFactory:
        def create_plugin(self, info):
            return None

    class WrongFactory:
        def create_plugin(self, info):
            return object()

    recorder = RecorderFactory()

    @durable_execution(
        plugins=[BrokenFactory(), RaisingFactory(), NoneFactory(), WrongFactory(), recorder]
    )
    def handler(event, context):
        return context.step(lambda _: "fine", name="s")

    with caplog.at_level(logging.ERROR, logger="durable_exec.plugins"):
        result = make_runner(handler).run()
    assert (result.status, result.result) == ("SUCCEEDED", "fine")
    assert recorder.hooks()[0] == ("invocation_start", None)
    assert recorder.hooks()[-1] == ("invocation_end", None)
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "broken on_operation_start" in "\n".join(
        str(r.exc_info[1]) for r in caplog.records if r.exc_info
    )
    assert "RaisingFactory raised" in messages
    assert "NoneFactory gave None" in messages
    assert "no DurableInstrumentationPlugin" in messages


def test_a_keyboard_interrupt_from_a_hook_stops_the_invocation_and_every_plugin_ends(make_runner):
    """Thread-control exceptions propagate; on_invocation_end still reaches every plugin."""

    class Interrupting(DurableInstrumentationPlugin):
        def on_operation_start(self, info):
            raise KeyboardInterrupt

    class Factory:
        def create_plugin(self, info):
            return Interrupting()

    recorder = RecorderFactory()

    @durable_execution(plugins=[Factory(), recorder])
    def handler(event, context):
        return context.step(lambda _: 1, name="s")

    with pytest.raises(KeyboardInterrupt):
        make_runner(handler).run()
    end = recorder.infos("invocation_end")[0]
    assert end.status is InvocationStatus.RETRY
    assert "operation_start" not in [hook for hook, _ in recorder.hooks()]


def test_an_unread_completion_ends_before_the_invocation(service, make_runner):
    """A callback answered during the invocation and never awaited still gets its end hook."""
    factory = RecorderFactory()

    @durable_execution(plugins=[factory])
    def handler(event, context):
        callback = context.create_callback(name="late")
        context.step(
            lambda _: (
                service.send_durable_execution_callback_success(
                    CallbackId=callback.callback_id, Result=b'"ok"'
                )
                and None
            ),
            name="answer",
        )
        context.step(lambda _: None, name="after")
        return "done"

    assert make_runner(handler).run().result == "done"
    hooks = factory.hooks()
    assert hooks.index(("operation_end", "late")) < hooks.index(("invocation_end", None))
    thread = next(t for h, i, t in factory.log if h == "operation_end" and i.name == "late")
    assert not thread.startswith("durable-")


def test_reading_a_callback_result_runs_its_end_hook_first(service, make_runner):
    """Callback.result() runs the callback's end hook before returning the value."""
    factory = RecorderFactory()

    @durable_execution(plugins=[factory])
    def handler(event, context):
        callback = context.create_callback(name="cb")
        context.step(
            lambda _: (
                service.send_durable_execution_callback_success(
                    CallbackId=callback.callback_id, Result=b"yes"
                )
                and None
            ),
            name="answer",
        )
        value = callback.result()
        context.step(lambda _: None, name="after")
        return value

    assert make_runner(handler).run().result == "yes"
    hooks = factory.hooks()
    assert hooks.index(("operation_end", "cb")) < hooks.index(("operation_start", "after"))
    end = factory.infos("operation_end")[
        [i.name for i in factory.infos("operation_end")].index("cb")
    ]
    assert (end.operation_type, end.status, end.result) == (
        OperationType.CALLBACK,
        OperationStatus.SUCCEEDED,
        "yes",
    )


def test_flat_branches_report_their_end_without_a_checkpoint(make_runner):
    """A FLAT map item has no CONTEXT, yet its user function and end are reported."""
    from durable_exec import MapConfig, NestingType

    factory = RecorderFactory()

    @durable_execution(plugins=[factory])
    def handler(event, context):
        batch = context.map(
            [1, 2],
            lambda c, x, i, xs: c.step(lambda _: x, name="v"),
            name="flat",
            config=MapConfig(nesting_type=NestingType.FLAT),
        )
        return batch.get_results()

    assert make_runner(handler).run().result == [1, 2]
    item_ends = [i for i in factory.infos("operation_end") if i.sub_type == "MapIteration"]
    assert len(item_ends) == 2
    assert all(e.status is OperationStatus.SUCCEEDED and not e.is_replayed for e in item_ends)
    assert not [i for i in factory.infos("operation_start") if i.sub_type == "MapIteration"]


def test_context_variables_flow_into_branches_but_not_out_of_the_invocation(make_runner):
    """What a plugin binds at the start is seen by user code and branches, never by the caller."""
    current: contextvars.ContextVar[str] = contextvars.ContextVar("current", default="none")

    class Binder(DurableInstrumentationPlugin):
        def on_invocation_start(self, info):
            current.set("invocation")

    class Factory:
        def create_plugin(self, info):
            return Binder()

    @durable_execution(plugins=[Factory()])
    def handler(event, context):
        seen = context.map([1, 2], lambda c, x, i, xs: current.get()).get_results()
        return [current.get(), *seen]

    assert make_runner(handler).run().result == ["invocation", "invocation", "invocation"]
    assert current.get() == "none"


def test_plugins_contribute_the_trace_header_of_an_invoke(service, make_runner, monkeypatch):
    """The first non-blank header wins; a failing or conflicting plugin changes nothing."""

    class Header(DurableInstrumentationPlugin):
        def __init__(self, value):
            self.value = value
            self.asked: list[PropagationInput] = []

        def provide_propagation_metadata(self, info):
            self.asked.append(info)
            if isinstance(self.value, Exception):
                raise self.value
            return PropagationMetadata(x_amzn_trace_id=self.value)

    plugins = [Header(RuntimeError("x")), Header(" "), Header("Root=1-a;Parent=b"), Header("other")]

    class Factory:
        def __init__(self, plugin):
            self.plugin = plugin

        def create_plugin(self, info):
            return self.plugin

    sent: list[dict[str, Any]] = []
    checkpoint = service.checkpoint_durable_execution

    def spy(**kwargs):
        sent.extend(kwargs.get("Updates") or ())
        return checkpoint(**kwargs)

    monkeypatch.setattr(service, "checkpoint_durable_execution", spy)

    @durable_execution(plugins=[Factory(p) for p in plugins])
    def handler(event, context):
        return context.invoke("target", {"n": 1}, name="call")

    runner = make_runner(handler)
    runner.register_function("target", lambda event, ctx: event["n"] + 1)
    result = runner.run()
    assert (result.status, result.result, result.invocations) == ("SUCCEEDED", 2, 2)
    starts = [u for u in sent if u["Type"] == "CHAINED_INVOKE" and u["Action"] == "START"]
    assert [u["ChainedInvokeOptions"].get("XAmznTraceId") for u in starts] == ["Root=1-a;Parent=b"]
    asked = plugins[2].asked
    assert [(a.target_function_name, a.parent_operation_id) for a in asked] == [("target", None)]
    assert asked[0].operation_id == starts[0]["Id"]
    assert len(plugins[0].asked) == 1  # only for the new START, never on replay


def test_an_executor_serves_one_invocation():
    """PluginExecutor.run is single-use; PluginHost builds a fresh one per invocation."""
    host = PluginHost([RecorderFactory()])
    with host.invocation() as first:
        pass
    with host.invocation() as second:
        pass
    assert first is not second
    with pytest.raises(RuntimeError, match="one invocation"), first.run():
        pass
    assert not PluginExecutor(None).has_plugins


def test_two_branches_reading_one_result_share_a_single_end_hook(service, make_runner):
    """A reader that arrives while the end hook runs waits for it; the hook runs once."""
    branches_started: set[str] = set()
    both_started = threading.Event()
    overlapped: list[bool] = []

    class HoldsTheEnd(DurableInstrumentationPlugin):
        def on_user_function_start(self, info):
            if info.sub_type == "ParallelBranch":
                branches_started.add(info.name)
                if len(branches_started) == 2:
                    both_started.set()

        def on_operation_end(self, info):
            if info.name == "shared":
                # Keep the hook running until the other branch is on its way to the read.
                overlapped.append(both_started.wait(timeout=30))

    class Holder:
        def create_plugin(self, info):
            return HoldsTheEnd()

    factory = RecorderFactory()

    @durable_execution(plugins=[Holder(), factory])
    def handler(event, context):
        callback = context.create_callback(name="shared")
        context.step(
            lambda _: (
                service.send_durable_execution_callback_success(
                    CallbackId=callback.callback_id, Result=b"v"
                )
                and None
            ),
            name="answer",
        )

        def reader(label):
            def branch(c):
                value = callback.result()
                return c.step(lambda _: f"{label}:{value}", name=f"after-{label}")

            return branch

        return context.parallel([reader("a"), reader("b")], name="readers").get_results()

    assert make_runner(handler).run().result == ["a:v", "b:v"]
    assert overlapped == [True]
    hooks = factory.hooks()
    assert hooks.count(("operation_end", "shared")) == 1
    end = hooks.index(("operation_end", "shared"))
    assert end < hooks.index(("operation_start", "after-a"))
    assert end < hooks.index(("operation_start", "after-b"))


def test_a_stop_signal_from_a_leftover_end_hook_lets_the_others_and_the_end_run(
    service, make_runner
):
    """On the handler thread, the rest of the unread completions and on_invocation_end still run."""

    class StopsOnFirst(DurableInstrumentationPlugin):
        def on_operation_end(self, info):
            if info.name == "late-1":
                raise KeyboardInterrupt

    class Factory:
        def create_plugin(self, info):
            return StopsOnFirst()

    recorder = RecorderFactory()

    @durable_execution(plugins=[Factory(), recorder])
    def handler(event, context):
        callbacks = [context.create_callback(name=f"late-{i}") for i in (1, 2)]

        def answer(_):
            for callback in callbacks:
                service.send_durable_execution_callback_success(
                    CallbackId=callback.callback_id, Result=b'"ok"'
                )

        context.step(answer, name="answer")
        context.step(lambda _: None, name="after")
        return "done"

    with pytest.raises(KeyboardInterrupt):
        make_runner(handler).run()
    ended = [name for hook, name in recorder.hooks() if hook == "operation_end"]
    assert "late-2" in ended
    assert "late-1" not in ended  # the signal cut its own round short; it is not retried
    assert recorder.hooks()[-1] == ("invocation_end", None)
