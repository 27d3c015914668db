"""Differential: every plugin hook fires with the same information as on the official SDK.

A recording plugin (one subclassing each SDK's own base class) runs the same
workflow on both SDKs. Every lifecycle hook call is reduced to what it reports:
kind, operation type, subtype, name, replayed or not, status, attempt, outcome,
replay-children, error type, which timestamps are known, and for invocations
the first-invocation flag, the operations updated while suspended, and the end
status. The two runs must give the same multiset of calls (map branches run
concurrently, so only their order may differ), and the same operations reported
as changed.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

official_plugin = pytest.importorskip("aws_durable_execution_sdk_python.plugin")

from both_sdks import STEP_KINDS, WORKFLOWS, Workflow, generated, sdk_namespace  # noqa: E402
from sdk_driver import Driver  # noqa: E402

import durable_exec.plugin as our_plugin  # noqa: E402
from durable_exec.testing import LocalDurableService, VirtualClock  # noqa: E402


def _error(info: Any) -> str | None:
    return info.error.type if getattr(info, "error", None) is not None else None


def _op(info: Any) -> tuple[Any, ...]:
    return (
        info.operation_type.value,
        info.sub_type,
        info.name,
        info.parent_id is None,
        info.is_replayed,
        info.status.value,
        info.attempt,
        info.start_time is None,
        info.end_time is None,
        _error(info),
    )


def recorder(base: type) -> tuple[list[tuple[Any, ...]], set[str | None], Any]:
    calls: list[tuple[Any, ...]] = []
    changed: set[str | None] = set()
    lock = threading.Lock()

    class Recorder(base):  # type: ignore[misc, valid-type]
        def _add(self, *call: Any) -> None:
            with lock:
                calls.append(call)

        def on_invocation_start(self, info: Any) -> None:
            updated = sorted(i.name or "" for i in info.updated_operations.values())
            self._add("invocation_start", info.is_first_invocation, tuple(updated))

        def on_invocation_end(self, info: Any) -> None:
            self._add("invocation_end", info.status.value, _error(info), info.execution_result)

        def on_operation_start(self, info: Any) -> None:
            self._add("operation_start", *_op(info))

        def on_operation_end(self, info: Any) -> None:
            self._add("operation_end", *_op(info), info.result is None)

        def on_user_function_start(self, info: Any) -> None:
            self._add("user_function_start", *_op(info), info.is_replay_children)

        def on_user_function_end(self, info: Any) -> None:
            self._add("user_function_end", *_op(info), info.is_replay_children, info.outcome.value)

        def on_operation_change(self, info: Any) -> None:
            with lock:
                changed.update(i.name for i in info.updated_operations.values())

    class Factory:
        def create_plugin(self, info: Any) -> Any:
            return Recorder()

    return calls, changed, Factory()


def run(workflow: Workflow, sdk_name: str) -> tuple[str, Counter[Any], set[str | None], int]:
    clock = VirtualClock()
    service = LocalDurableService(clock)
    driver = Driver(service, clock)
    driver.callback_answers = {"approval": '"yes"', "second": '"also"'}
    driver.invoke_results = {"other-fn": {"r": 7}}
    sdk = sdk_namespace(sdk_name)
    if sdk_name == "durable_exec":
        calls, changed, factory = recorder(our_plugin.DurableInstrumentationPlugin)
        handler = sdk.durable_execution(workflow(sdk), plugins=[factory])
        invoke = driver.ours(handler)
    else:
        calls, changed, factory = recorder(official_plugin.DurableInstrumentationPlugin)
        handler = sdk.durable_execution(
            workflow(sdk), boto3_client=driver.client, plugins=[factory]
        )
        invoke = driver.official(handler)
    arn = driver.run(lambda n: invoke, {"x": 1}, name="hooks")
    return service.execution_status(arn), Counter(calls), changed, len(driver.outputs)


def assert_same_hooks(workflow: Workflow) -> None:
    theirs = run(workflow, "official")
    ours = run(workflow, "durable_exec")
    assert ours[0] == theirs[0]
    assert ours[3] == theirs[3]
    assert sum(theirs[1].values()) > 2, "the official run recorded nothing to compare"
    missing, extra = theirs[1] - ours[1], ours[1] - theirs[1]
    assert not missing, f"hooks the official SDK fires and we do not: {sorted(missing)}"
    assert not extra, f"hooks we fire and the official SDK does not: {sorted(extra)}"
    assert ours[2] == theirs[2]


@pytest.mark.parametrize("name", list(WORKFLOWS))
def test_every_hook_reports_what_the_official_sdk_reports(name):
    """Same calls, same information, for each named workflow, across its invocations."""
    assert_same_hooks(WORKFLOWS[name])


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(program=st.lists(st.sampled_from(STEP_KINDS), min_size=1, max_size=6))
def test_generated_workflows_fire_the_same_hooks(program):
    """Any sequence of steps, waits, children (virtual too), maps (FLAT too), retries."""
    assert_same_hooks(generated(program))
