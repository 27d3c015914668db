"""The feature examples survive a crash at every API call (before or after the service applied it).

Typed results, recorded values, patch markers and saga compensations are ordinary
durable operations: after the process dies at any checkpoint call, the runner invokes
again and the execution ends exactly as without the crash.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

from durable_exec._wire import OperationType
from durable_exec.testing import (
    DurableTestRunner,
    Fault,
    FaultInjectingClient,
    LocalDurableService,
    TestResult,
    VirtualClock,
)

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"crash_feature_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def run(
    handler: Any, payload: Any, *faults: tuple[Fault, dict[str, Any]]
) -> tuple[TestResult, Any]:
    clock = VirtualClock()
    client = FaultInjectingClient(LocalDurableService(clock, envelope_max_operations=3))
    for fault, schedule in faults:
        client.inject(fault, **schedule)
    runner = DurableTestRunner(handler, service=client, clock=clock)  # type: ignore[arg-type]
    return runner.run(payload), client


def steps(result: TestResult) -> list[tuple[str | None, str | None]]:
    return [(op.sub_type, op.name) for op in result.operations if op.type is OperationType.STEP]


def outcome(result: TestResult) -> Any:
    error = result.error.message if result.error is not None else None
    return result.status, result.result, error, steps(result)


def deterministic_outcome(result: TestResult) -> Any:
    """The recorded values differ per execution: compare what must hold whatever they are."""
    variant = result.result["variant"]
    return (
        result.status,
        result.result["offer_days"],
        result.result["sent"].startswith(f"sent {variant} offer "),
        [sub for sub, _ in steps(result)],
    )


CASES: list[tuple[str, Any, Callable[[TestResult], Any]]] = [
    ("typed_orders", {"order_id": "o-7", "skus": ["kb-1", "ms-2"]}, outcome),
    ("deterministic_values", {"customer": "c-9"}, deterministic_outcome),
    ("versioned_checkout", {"order_id": "o-1"}, outcome),
    ("trip_saga", {"trip": "t-1", "car": "compact"}, outcome),
    ("trip_saga", {"trip": "t-1", "car": "none-left"}, outcome),
    ("async_enrichment", {"users": ["u1", "u2"]}, outcome),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    ("name", "payload", "compare"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
@pytest.mark.parametrize("after_forwarding", [False, True], ids=["before", "after"])
def test_a_crash_at_every_api_call_ends_as_without_it(name, payload, compare, after_forwarding):
    """Dying at the k-th API call, for every k, ends with the crash-free outcome."""
    handler = load(name).handler
    baseline, _ = run(handler, payload)
    expected = compare(baseline)
    fault = Fault.crash(after_forwarding=after_forwarding)
    tried, misses, k = 0, 0, 1
    while misses < 3:
        result, client = run(handler, payload, (fault, {"at": k}))
        if not client.injections:
            misses += 1  # fewer than k calls (batching can vary): try k again, then stop
            continue
        misses = 0
        assert compare(result) == expected, f"crash at API call {k}"
        tried += 1
        k += 1
    assert tried >= 2
