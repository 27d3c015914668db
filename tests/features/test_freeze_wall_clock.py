"""DurableTestRunner(freeze_wall_clock=True): step code's wall clock follows the virtual clock."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time

import pytest

from durable_exec import Duration, MapConfig, durable_execution
from durable_exec.testing import DurableTestRunner, VirtualClock

START = datetime.datetime(2026, 6, 1, 9, 0, tzinfo=datetime.UTC)


def stamping_handler():
    @durable_execution
    def handler(event, context):
        before = context.step(lambda _: time.time(), name="before")
        context.wait(Duration.from_minutes(5))
        after = context.step(
            lambda _: datetime.datetime.now(datetime.UTC).isoformat(), name="after"
        )
        return {"before": before, "after": after}

    return handler


def test_a_five_minute_wait_moves_step_time_by_five_minutes():
    """time.time() and datetime.now() in step bodies read the runner's virtual clock."""
    runner = DurableTestRunner(
        stamping_handler(), clock=VirtualClock(START), freeze_wall_clock=True
    )
    result = runner.run()
    assert result.status == "SUCCEEDED"
    assert result.result["before"] == START.timestamp()
    after = datetime.datetime.fromisoformat(result.result["after"])
    assert after - START == datetime.timedelta(minutes=5)


def test_off_by_default_step_code_sees_real_time():
    """Without the flag, step code reads the real clock (years away from the virtual one)."""
    result = DurableTestRunner(stamping_handler(), clock=VirtualClock(START)).run()
    real_now = datetime.datetime.now(datetime.UTC).timestamp()
    assert abs(result.result["before"] - real_now) < 3600
    assert abs(result.result["before"] - START.timestamp()) > 3600


def test_time_is_real_again_after_the_run():
    """The freeze lasts only while the runner drives the execution."""
    DurableTestRunner(stamping_handler(), clock=VirtualClock(START), freeze_wall_clock=True).run()
    assert abs(time.time() - datetime.datetime.now(datetime.UTC).timestamp()) < 5
    assert time.time() > START.timestamp() + 86400 or time.time() < START.timestamp()


def test_map_branches_on_pool_threads_see_virtual_time_too():
    """Step code running in map branches (other threads) follows the same clock."""

    @durable_execution
    def handler(event, context):
        return context.map(
            [1, 2, 3],
            lambda ctx, item, i, items: ctx.step(lambda _: datetime.date.today().isoformat()),
            config=MapConfig(max_concurrency=3),
        ).get_results()

    runner = DurableTestRunner(handler, clock=VirtualClock(START), freeze_wall_clock=True)
    assert runner.run().result == ["2026-06-01"] * 3


def test_the_sdk_keeps_real_elapsed_time():
    """Retries, batching and deadlines still work while frozen (they read real time)."""
    attempts: list[float] = []

    @durable_execution
    def handler(event, context):
        def flaky(_):
            attempts.append(time.time())
            if len(attempts) < 3:
                raise ConnectionError("again")
            return len(attempts)

        return context.step(flaky, name="flaky")

    runner = DurableTestRunner(
        handler, clock=VirtualClock(START), freeze_wall_clock=True, invocation_timeout=60
    )
    result = runner.run()
    assert result.result == 3
    assert attempts[0] == START.timestamp()
    assert attempts[1] > attempts[0]  # the retry delay passed on the virtual clock


def test_a_clear_error_without_freezegun():
    """freeze_wall_clock=True without freezegun installed says what to install."""
    code = """
import sys
sys.modules["freezegun"] = None  # as if it were not installed
from durable_exec import durable_execution
from durable_exec.testing import DurableTestRunner
from durable_exec import ValidationError

@durable_execution
def handler(event, context):
    return 1

try:
    DurableTestRunner(handler, freeze_wall_clock=True)
except ValidationError as error:
    print(error)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "needs freezegun" in out.stdout
    assert "durable-exec[testing]" in out.stdout


def test_without_the_flag_freezegun_is_never_imported():
    """The feature is opt-in: a plain run does not load freezegun."""
    code = """
import sys
from durable_exec import durable_execution
from durable_exec.testing import DurableTestRunner

@durable_execution
def handler(event, context):
    return context.step(lambda _: 1)

DurableTestRunner(handler).run()
print("freezegun" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("minutes", [1, 90, 60 * 24 * 3])
def test_any_wait_length_moves_step_time_by_that_much(minutes):
    """The step after a wait of any length sees the clock moved by exactly that wait."""

    @durable_execution
    def handler(event, context):
        t0 = context.step(lambda _: time.time(), name="t0")
        context.wait(Duration.from_minutes(minutes))
        return context.step(lambda _: time.time(), name="t1") - t0

    runner = DurableTestRunner(handler, clock=VirtualClock(START), freeze_wall_clock=True)
    assert runner.run().result == minutes * 60
