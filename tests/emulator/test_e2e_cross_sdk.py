"""Cross-SDK: one execution, some invocations on AWS's official SDK, the rest on durable_exec.

``workflows/cross_official.py`` and ``workflows/cross_ours.py`` hold the same
workflow (a step with Decimal/datetime/tuple/int-key results, a retried step, a
wait, a child context that waits, a map whose items wait); only their imports
differ. The Invoke endpoint picks the file per invocation number, so each SDK
replays the checkpoints the other wrote: operation ids, payload encodings, retry
state and child/map contexts must agree for the execution to finish right.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from emulator_harness import WORKFLOWS, Emulator, Execution, operation_view, workflow

pytestmark = pytest.mark.emulator

OURS = workflow("cross_ours", "handler")
OFFICIAL = workflow("cross_official", "handler")
SHARED_MARKER = "# -- identical in cross_ours.py and cross_official.py from here on"
EXPECTED = {
    "price": "19.99",
    "at": "2025-01-02T03:04:05+00:00",
    "tags": ["new", "sale"],
    "stock": [["1", "eu"], ["2", "us"]],  # both SDKs turn int keys into strings
    "reserved": "reserved sku-1 on attempt 2",
    "shipped": "label-sku-1 picked up",
    "packed": ["0:A", "1:B"],
}
SWITCHES: dict[str, Callable[[int], str]] = {
    "official-then-durable-exec": lambda n: OFFICIAL if n == 0 else OURS,
    "durable-exec-then-official": lambda n: OURS if n == 0 else OFFICIAL,
    "alternating": lambda n: (OFFICIAL, OURS)[n % 2],
}


def run(emulator: Emulator, name: str, pick: Callable[[int], str]) -> Execution:
    """Run the cross workflow as function ``name``, with ``pick`` choosing each invocation's SDK."""
    emulator.endpoint.register(name, pick)
    execution = emulator.run(name, {"sku": "sku-1"})
    assert (execution.status, execution.error) == ("SUCCEEDED", None)
    return execution


@pytest.fixture(scope="module")
def single_sdk_runs(emulator: Emulator) -> dict[str, Execution]:
    """The workflow run start to end on each SDK alone."""
    return {
        "official": run(emulator, "cross-official", lambda _: OFFICIAL),
        "durable-exec": run(emulator, "cross-durable-exec", lambda _: OURS),
    }


def test_both_sdks_record_the_same_history(single_sdk_runs):
    """Run alone, each SDK gives the same result and the same operations (ids, payloads, order)."""
    official, ours = single_sdk_runs["official"], single_sdk_runs["durable-exec"]
    assert official.result == EXPECTED
    assert ours.result == EXPECTED
    assert operation_view(ours.history) == operation_view(official.history)


@pytest.mark.parametrize("switch", SWITCHES)
def test_an_execution_continues_on_the_other_sdk(emulator: Emulator, single_sdk_runs, switch):
    """An execution whose invocations switch SDK completes with the same result and history."""
    pick = SWITCHES[switch]
    execution = run(emulator, f"cross-{switch}", pick)
    assert execution.result == EXPECTED
    invocations = emulator.endpoint.invocations_of(execution.arn)
    assert [i.handler for i in invocations] == [pick(n) for n in range(len(invocations))]
    assert {i.handler for i in invocations} == {OURS, OFFICIAL}
    assert all(i.returncode == 0 for i in invocations)
    assert operation_view(execution.history) == operation_view(
        single_sdk_runs["durable-exec"].history
    )


def test_the_two_workflow_files_differ_only_in_imports():
    """The official and durable_exec copies of the workflow share their code after the imports."""
    ours = (WORKFLOWS / "cross_ours.py").read_text()
    official = (WORKFLOWS / "cross_official.py").read_text()
    assert SHARED_MARKER in ours
    assert ours.split(SHARED_MARKER, 1)[1] == official.split(SHARED_MARKER, 1)[1]
    assert "aws_durable_execution_sdk_python" not in ours
    assert "from durable_exec" not in official
    assert "import durable_exec" not in official
