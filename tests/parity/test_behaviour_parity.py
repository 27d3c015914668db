"""The same workflow records the same history under the official SDK and under durable_exec.

Each workflow (``tests/parity/cases.py``) is written once against the API both
SDKs share and run by each SDK's own test runner; the histories are compared
operation for operation (ids, parents, types, subtypes, names, statuses, payloads,
errors).
"""

from __future__ import annotations

import cases
import pytest
from harness import Outcome, is_truncation_of, official_outcomes, our_api, run_ours

EARLY_COMPLETION = ["parallel_first_successful", "map_min_successful", "map_fail_fast"]
ONE_RUN = ["virtual_child", "virtual_child_failure", "virtual_child_with_wait"]
OFFICIAL_REPEATS = 3


@pytest.fixture(scope="module")
def official() -> dict[str, list[Outcome]]:
    """Each case's outcomes under the official SDK (early completions run a few times)."""
    outcomes = official_outcomes(ONE_RUN)
    outcomes.update(official_outcomes(EARLY_COMPLETION, repeat=OFFICIAL_REPEATS))
    return outcomes


def ours(name: str) -> Outcome:
    return run_ours(*cases.build(name, our_api()))


@pytest.mark.parametrize("name", ONE_RUN)
def test_virtual_child_contexts_record_what_the_official_sdk_records(official, name):
    """ChildConfig(is_virtual=True): no CONTEXT; operations parented above it; same result."""
    assert ours(name) == official[name][0]


def test_a_virtual_child_records_no_context_operation():
    """The only CONTEXT recorded is the non-virtual child's."""
    outcome = ours("virtual_child")
    assert [op.sub_type for op in outcome.operations if op.type == "CONTEXT"] == [
        "RunInChildContext"
    ]


@pytest.fixture(scope="module")
def settled() -> dict[str, list[Outcome]]:
    """Early completions under the official SDK, its branches ending before the batch does."""
    return official_outcomes(EARLY_COMPLETION, repeat=2, settled=True)


@pytest.mark.parametrize("name", EARLY_COMPLETION)
def test_early_completion_records_the_same_history_on_every_run(settled, name):
    """Early completion of map/parallel records the same history on every run.

    Every branch that started is recorded to its end, identically on each of 30
    runs, and that history, the batch's payload included, is the official SDK's
    when its branches end before its coordinator gives up on them (the schedule
    ``settle_official_batches`` pins, itself the same on every run).
    """
    runs = [ours(name) for _ in range(30)]
    assert all(run == runs[0] for run in runs[1:])
    assert {op.status for op in runs[0].operations} <= {"SUCCEEDED", "FAILED"}
    assert settled[name][1] == settled[name][0]
    assert runs[0] == settled[name][0]


@pytest.mark.parametrize("name", EARLY_COMPLETION)
def test_the_official_sdk_records_at_most_what_durable_exec_records(official, name):
    """Each racing official run is durable_exec's history with some branches cut short.

    Left to its thread timing, the official SDK refuses the checkpoints of
    branches still running when the batch completes: those stay STARTED or go
    missing, and the batch's payload lists them STARTED. Everything else is
    identical, on every run, whichever branches lose the race.
    """
    expected = ours(name).without_results_of("Map", "Parallel")
    for run in official[name]:
        assert is_truncation_of(run.without_results_of("Map", "Parallel"), expected), run.by_type()
