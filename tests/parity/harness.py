"""Run one workflow under the official SDK's test runner and under durable_exec's; compare.

Histories are compared operation for operation: id, parent, type, subtype, name,
status, stored result and error. Timestamps differ by nature and are left out.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import Any

OFFICIAL_RUN_TIMEOUT = 30


@dataclass(frozen=True)
class Recorded:
    """One operation as both SDKs' histories can be compared."""

    id: str
    parent_id: str | None
    type: str
    sub_type: str | None
    name: str | None
    status: str
    result: str | None
    error: tuple[str | None, str | None] | None


@dataclass(frozen=True)
class Outcome:
    """Where an execution ended, and its operations sorted by id."""

    status: str
    result: Any
    error_type: str | None
    operations: tuple[Recorded, ...]

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able form (see :meth:`from_json`)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Outcome:
        """Rebuild an outcome from :meth:`to_json`'s output."""
        operations = []
        for op in data["operations"]:
            error = op["error"]
            operations.append(Recorded(**{**op, "error": None if error is None else tuple(error)}))
        return cls(data["status"], data["result"], data["error_type"], tuple(operations))

    def without_results_of(self, *sub_types: str) -> Outcome:
        """The same outcome with the stored results of operations of ``sub_types`` blanked."""
        ops = tuple(
            Recorded(**{**asdict(op), "error": op.error, "result": None})
            if op.sub_type in sub_types
            else op
            for op in self.operations
        )
        return Outcome(self.status, self.result, self.error_type, ops)

    def by_type(self) -> dict[tuple[str, str | None, str], int]:
        """Count the operations by (type, subtype, status)."""
        counts: dict[tuple[str, str | None, str], int] = {}
        for op in self.operations:
            key = (op.type, op.sub_type, op.status)
            counts[key] = counts.get(key, 0) + 1
        return counts


def run_official(handler: Any, payload: Any = None) -> Outcome:
    """Run ``handler`` (an official ``@durable_execution`` handler) with the official runner."""
    from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner

    with DurableFunctionTestRunner(handler=handler) as runner:
        result = runner.run(
            input=None if payload is None else json.dumps(payload),
            execution_timeout=OFFICIAL_RUN_TIMEOUT,
        )
    operations = []
    for op in result.get_all_operations():
        error = getattr(op, "error", None)
        operations.append(
            Recorded(
                id=op.operation_id,
                parent_id=op.parent_id,
                type=op.operation_type.value,
                sub_type=op.sub_type,
                name=op.name,
                status=op.status.value,
                result=getattr(op, "result", None),
                error=None if error is None else (error.type, error.message),
            )
        )
    return Outcome(
        status=result.status.name,
        result=None if result.result is None else json.loads(result.result),
        error_type=None if result.error is None else result.error.type,
        operations=tuple(sorted(operations, key=lambda o: o.id)),
    )


def run_ours(handler: Any, payload: Any = None) -> Outcome:
    """Run ``handler`` (a durable_exec handler) with durable_exec's runner."""
    from durable_exec.testing import DurableTestRunner

    result = DurableTestRunner(handler).run(payload)
    operations = [
        Recorded(
            id=op.id,
            parent_id=op.parent_id,
            type=op.type.value,
            sub_type=op.sub_type,
            name=op.name,
            status=op.status.value,
            result=op.result,
            error=None if op.error is None else (op.error.type, op.error.message),
        )
        for op in result.operations
        if op.type.value != "EXECUTION"
    ]
    return Outcome(
        status=result.status,
        result=result.result,
        error_type=None if result.error is None else result.error.type,
        operations=tuple(sorted(operations, key=lambda o: o.id)),
    )


# Where each name lives in the official SDK (durable_exec has them all at the top level).
_OFFICIAL_HOMES = {
    "durable_execution": "",
    "durable_step": "",
    "durable_with_child_context": "",
    "ChildContextError": "",
    "ChildConfig": ".config",
    "CompletionConfig": ".config",
    "Duration": ".config",
    "JitterStrategy": ".config",
    "MapConfig": ".config",
    "NestingType": ".config",
    "ParallelConfig": ".config",
    "StepConfig": ".config",
    "RetryPresets": ".retries",
    "RetryStrategyConfig": ".retries",
}


def official_api() -> Any:
    """The names the parity cases use, from the official SDK's modules."""
    import importlib
    import types

    return types.SimpleNamespace(
        **{
            name: getattr(importlib.import_module(f"aws_durable_execution_sdk_python{home}"), name)
            for name, home in _OFFICIAL_HOMES.items()
        }
    )


def our_api() -> Any:
    """The same names, from durable_exec."""
    import types

    import durable_exec

    return types.SimpleNamespace(**{name: getattr(durable_exec, name) for name in _OFFICIAL_HOMES})


REPO = pathlib.Path(__file__).resolve().parents[2]


def settle_official_batches() -> None:
    """Pin the official SDK's map/parallel to one thread schedule: branches end first.

    When a batch's completion policy is met, the official coordinator stops
    waiting for the branches still running and cancels the ones no thread has
    picked up yet; they race the batch's own checkpoint, after which their
    checkpoints are refused. What it records for them therefore depends on thread
    timing (on a loaded machine, often a branch left STARTED or missing).

    This makes the coordinator thread wait, at the point where it gives up on
    its branches (its pool's ``shutdown``), until every branch it submitted has
    returned. The official code itself is unchanged: this is one of the thread
    schedules it can run under (the coordinator descheduled for a while), the one
    in which no branch loses the race, and it is the same on every run. An
    unsettled run records a truncation of it (see :func:`is_truncation_of`).
    Call it in the process that runs the official SDK, before its batches run.
    """
    from concurrent import futures

    from aws_durable_execution_sdk_python.concurrency import executor

    class SettlingPool(futures.ThreadPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.submitted: list[futures.Future[Any]] = []

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> futures.Future[Any]:
            future = super().submit(fn, *args, **kwargs)
            self.submitted.append(future)
            return future

        def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
            _, running = futures.wait(self.submitted, timeout=OFFICIAL_RUN_TIMEOUT)
            if running:
                raise RuntimeError(f"{len(running)} official branches still running")
            super().shutdown(wait=wait, cancel_futures=cancel_futures)

    executor.ThreadPoolExecutor = SettlingPool  # type: ignore[attr-defined]


def is_truncation_of(run: Outcome, settled: Outcome) -> bool:
    """Whether ``run`` is ``settled`` with some operations stopped short of their end.

    Each operation of ``run`` is in ``settled``, either identical or, where a
    checkpoint of it was refused, recorded ``STARTED`` without result or error;
    operations missing from ``run`` never got their first checkpoint through.
    Where the execution ended, and with what, is the same.
    """
    if (run.status, run.result, run.error_type) != (
        settled.status,
        settled.result,
        settled.error_type,
    ):
        return False
    ends = {op.id: op for op in settled.operations}
    for op in run.operations:
        end = ends.get(op.id)
        if end is None:
            return False
        started = Recorded(**{**asdict(end), "status": "STARTED", "result": None, "error": None})
        if op not in (end, started):
            return False
    return True


def official_outcomes(
    case_names: list[str], repeat: int = 1, *, settled: bool = False
) -> dict[str, list[Outcome]]:
    """Run workflows of ``cases.py`` (this directory) under the official SDK, in a subprocess.

    The official runner leaves event loops and sockets for the garbage collector;
    a separate process keeps their warnings (errors in this suite) and threads out
    of durable_exec's tests. Each case runs ``repeat`` times; with ``settled``,
    under :func:`settle_official_batches`.
    """
    code = (
        "import json, sys\n"
        "import cases, harness\n"
        "names, repeat = json.loads(sys.argv[1]), int(sys.argv[2])\n"
        "if sys.argv[3] == 'settled':\n"
        "    harness.settle_official_batches()\n"
        "out = {n: [harness.run_official(*cases.build(n, harness.official_api())).to_json()"
        " for _ in range(repeat)] for n in names}\n"
        "print(json.dumps(out))\n"
    )
    here = str(pathlib.Path(__file__).resolve().parent)
    path = os.pathsep.join([here, str(REPO)])
    env = {**os.environ, "PYTHONPATH": path, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            json.dumps(case_names),
            str(repeat),
            "settled" if settled else "racing",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the official SDK's run failed:\n{proc.stderr[-4000:]}")
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    return {name: [Outcome.from_json(o) for o in runs] for name, runs in raw.items()}
