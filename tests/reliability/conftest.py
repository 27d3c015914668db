"""Fixtures of the reliability campaigns: probes, counters, history checks and figures.

The campaigns run bounded by default (CI: the whole directory in well under a
minute). ``DURABLE_RELIABILITY_FULL=1`` runs the full campaign whose figures
RELIABILITY.md reports; ``DURABLE_RELIABILITY_REPORT=path.json`` also writes
the figures collected by the run to ``path.json``.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import pathlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import durable_exec._context
import durable_exec._operations.callback
import durable_exec.testing._runner
from durable_exec.testing import FaultInjectingClient, SimulatedCrash, TestResult, VirtualClock

FULL = os.environ.get("DURABLE_RELIABILITY_FULL") == "1"

# -- figures -------------------------------------------------------------------

_FIGURES: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)


class Figures:
    """Counts of what a campaign tried and saw, printed at the end of the run."""

    def add(self, campaign: str, key: str, amount: int = 1) -> None:
        """Add ``amount`` to ``campaign``'s counter ``key``."""
        _FIGURES[campaign][key] += amount


@pytest.fixture(scope="session")
def figures() -> Figures:
    """The session's campaign figures (printed in the terminal summary)."""
    return Figures()


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print the campaign figures; write them as JSON when DURABLE_RELIABILITY_REPORT is set."""
    if not _FIGURES:
        return
    terminalreporter.section("reliability campaign figures")
    for campaign in sorted(_FIGURES):
        counts = _FIGURES[campaign]
        text = ", ".join(f"{k}={counts[k]}" for k in sorted(counts))
        terminalreporter.write_line(f"{campaign}: {text}")
    path = os.environ.get("DURABLE_RELIABILITY_REPORT")
    if path:
        data = {c: dict(sorted(v.items())) for c, v in sorted(_FIGURES.items())}
        text = json.dumps({"full": FULL, "campaigns": data}, indent=2)
        pathlib.Path(path).write_text(text, encoding="utf-8")


# -- thread hygiene --------------------------------------------------------------


@pytest.fixture(autouse=True)
def thread_exceptions() -> Iterator[list[str]]:
    """Record every exception that escapes a thread; the test fails if there is one."""
    seen: list[str] = []
    previous = threading.excepthook

    def hook(args: threading.ExceptHookArgs) -> None:
        name = args.thread.name if args.thread is not None else "?"
        seen.append(f"{name}: {args.exc_type.__name__}: {args.exc_value}")

    threading.excepthook = hook
    try:
        yield seen
    finally:
        threading.excepthook = previous
    assert not seen, f"exceptions escaped threads: {seen}"


def checkpoint_threads() -> list[str]:
    """Return the names of live checkpoint threads."""
    return [t.name for t in threading.enumerate() if t.name.startswith("durable-checkpoint")]


@dataclasses.dataclass
class InvocationRecord:
    """What one run_invocation call ended with."""

    output: dict[str, Any] | None
    error: BaseException | None
    threads_after: list[str]
    calls_after: int | None = None

    @property
    def outcome(self) -> str:
        """SUCCEEDED, FAILED, PENDING, or the class name of what it raised."""
        if self.error is not None:
            return f"raised:{type(self.error).__name__}"
        assert self.output is not None
        return str(self.output.get("Status"))


class InvocationProbe:
    """Records every invocation the runner makes and the threads left after each.

    Attributes:
        client: If set, each record notes how many calls it had made by the end
            (``calls_after``), so a call can be traced to its invocation.
    """

    def __init__(self) -> None:
        self.records: list[InvocationRecord] = []
        self.client: FaultInjectingClient | None = None

    def invocation_of(self, call_index: int) -> InvocationRecord:
        """Return the invocation that made intercepted call ``call_index``."""
        for record in self.records:
            if record.calls_after is not None and record.calls_after >= call_index:
                return record
        raise AssertionError(f"no invocation made call {call_index}: {self.records}")

    @property
    def outcomes(self) -> list[str]:
        """The outcome of each invocation, in order."""
        return [r.outcome for r in self.records]

    def reset(self) -> None:
        """Forget the records (after checking them) for the next run of a loop."""
        self.assert_clean()
        self.records.clear()
        self.client = None

    def assert_clean(self) -> None:
        """No invocation left a checkpoint thread running."""
        leftovers = [r.threads_after for r in self.records if r.threads_after]
        assert not leftovers, f"checkpoint threads outlived their invocation: {leftovers}"


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> Iterator[InvocationProbe]:
    """Wrap the runner's run_invocation to record each invocation's outcome and leftovers."""
    recorder = InvocationProbe()
    original = durable_exec.testing._runner.run_invocation  # type: ignore[attr-defined]

    def recorded(*args: Any, **kwargs: Any) -> dict[str, Any]:
        def calls() -> int | None:
            return recorder.client.count() if recorder.client is not None else None

        try:
            output = original(*args, **kwargs)
        except BaseException as exc:
            recorder.records.append(InvocationRecord(None, exc, checkpoint_threads(), calls()))
            raise
        recorder.records.append(InvocationRecord(output, None, checkpoint_threads(), calls()))
        return output

    monkeypatch.setattr(durable_exec.testing._runner, "run_invocation", recorded)
    yield recorder
    recorder.assert_clean()


# -- clocks -------------------------------------------------------------------------


class RecordingClock(VirtualClock):
    """A virtual clock that records every transport back-off (``sleep``)."""

    def __init__(self) -> None:
        super().__init__()
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        """Record ``seconds`` and advance virtual time."""
        self.sleeps.append(seconds)
        super().sleep(seconds)


@pytest.fixture
def recording_clock() -> RecordingClock:
    """A virtual clock recording its sleeps."""
    return RecordingClock()


# -- step bodies -------------------------------------------------------------------


class BodyCounter:
    """Counts step-body runs per (operation id, attempt); can crash a chosen run.

    Installed by wrapping the SDK's ``run_step`` and ``run_wait_for_condition``
    where the public API calls them, so the bodies of unmodified example
    workflows are counted too. Condition checks are keyed ``condition:<name>``.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started: collections.Counter[tuple[str, int]] = collections.Counter()
        self.names: dict[str, str | None] = {}
        self.total = 0
        self.crash_at: int | None = None  # the n-th body run (1-based) crashes
        self.crash_after_body = False  # ... after its side effects instead of before
        self.crashes = 0

    def reset(self, crash_at: int | None = None, *, after_body: bool = False) -> None:
        """Forget every count; crash the ``crash_at``-th body run from now on (if given)."""
        with self._lock:
            self.started.clear()
            self.names.clear()
            self.total = 0
            self.crashes = 0
            self.crash_at = crash_at
            self.crash_after_body = after_body

    def per_operation(self) -> collections.Counter[str]:
        """Body runs per operation id, all attempts together."""
        counts: collections.Counter[str] = collections.Counter()
        for (op_id, _), n in self.started.items():
            counts[op_id] += n
        return counts

    def _run(self, key: str, attempt: int, name: str | None, thunk: Callable[[], Any]) -> Any:
        with self._lock:
            self.total += 1
            run = self.total
            self.started[key, attempt] += 1
            self.names[key] = name
        crash = run == self.crash_at
        if crash and not self.crash_after_body:
            self.crashes += 1
            raise SimulatedCrash(f"crash before body run {run}")
        try:
            result = thunk()
        except Exception as error:
            if crash:  # the body failed, and the process died before recording it
                self.crashes += 1
                raise SimulatedCrash(f"crash after body run {run} raised") from error
            raise
        if crash:
            self.crashes += 1
            raise SimulatedCrash(f"crash after body run {run}")
        return result

    def wrap(self, func: Callable[[Any], Any], name: str | None) -> Callable[[Any], Any]:
        """Return the step body ``func`` counting its runs (and crashing the chosen one)."""

        def body(step_context: Any) -> Any:
            return self._run(
                step_context.operation_id, step_context.attempt, name, lambda: func(step_context)
            )

        return body

    def wrap_check(
        self, check: Callable[[Any, Any], Any], name: str | None
    ) -> Callable[[Any, Any], Any]:
        """Return the condition check ``check`` counting its runs (keyed by name)."""

        def body(state: Any, check_context: Any) -> Any:
            return self._run(
                f"condition:{name}",
                check_context.attempt,
                name,
                lambda: check(state, check_context),
            )

        return body


@pytest.fixture
def bodies(monkeypatch: pytest.MonkeyPatch) -> BodyCounter:
    """Count every step body run (steps, wait_for_callback submitters, condition checks)."""
    counter = BodyCounter()
    for module in (durable_exec._context, durable_exec._operations.callback):
        original = module.run_step

        def counted(
            core: Any,
            func: Any,
            name: Any,
            config: Any,
            *args: Any,
            _original: Any = original,
            **kwargs: Any,
        ) -> Any:
            return _original(core, counter.wrap(func, name), name, config, *args, **kwargs)

        monkeypatch.setattr(module, "run_step", counted)
    original_condition = durable_exec._context.run_wait_for_condition  # type: ignore[attr-defined]

    def counted_condition(core: Any, check: Any, config: Any, name: Any) -> Any:
        return original_condition(core, counter.wrap_check(check, name), config, name)

    monkeypatch.setattr(durable_exec._context, "run_wait_for_condition", counted_condition)
    return counter


# -- history checks ------------------------------------------------------------------

_OUTCOME_EVENTS = ("Succeeded", "Failed", "TimedOut", "Stopped", "Cancelled")


class HistoryChecks:
    """Checks on a finished execution's history."""

    @staticmethod
    def operation_events(result: TestResult) -> list[tuple[str, str | None, str | None]]:
        """(EventType, Id, Name) of each operation event (no execution or invocation events)."""
        return operation_events(result)

    @staticmethod
    def per_operation(result: TestResult) -> dict[str | None, list[str]]:
        """Each operation's event types, in order (branch interleavings left out)."""
        events: dict[str | None, list[str]] = collections.defaultdict(list)
        for event_type, op_id, _ in operation_events(result):
            events[op_id].append(event_type)
        return dict(events)

    @staticmethod
    def sound(result: TestResult) -> None:
        """Assert one outcome per operation and nothing lost (see assert_history_sound)."""
        assert_history_sound(result)

    @staticmethod
    def step_outcomes(result: TestResult) -> collections.Counter[str]:
        """StepSucceeded events per step id."""
        return collections.Counter(
            op_id
            for event, op_id, _ in operation_events(result)
            if event == "StepSucceeded" and op_id is not None
        )


def _event_type(event: dict[str, Any]) -> str:
    """The event's type; a step attempt that scheduled another one reads ``StepRetried``."""
    event_type: str = event["EventType"]
    for key, details in event.items():
        if key.endswith("Details") and isinstance(details, dict):
            retry = details.get("RetryDetails") or {}
            if "NextAttemptDelaySeconds" in retry:
                return "StepRetried"
    return event_type


def operation_events(result: TestResult) -> list[tuple[str, str | None, str | None]]:
    """(EventType, Id, Name) of every operation event (execution and invocation events left out).

    A step attempt that scheduled another one (StepFailed or StepSucceeded with
    ``NextAttemptDelaySeconds``) reads ``StepRetried``: it is not an outcome.
    """
    return [
        (_event_type(e), e.get("Id"), e.get("Name"))
        for e in result.history
        if not e["EventType"].startswith(("Execution", "Invocation"))
    ]


def assert_history_sound(result: TestResult) -> None:
    """One outcome per operation, and every operation that succeeded is SUCCEEDED at the end.

    A step may have several RETRY events but at most one SUCCEEDED or FAILED;
    a duplicated update would show up as a second outcome event.
    """
    outcomes: collections.Counter[str] = collections.Counter()
    succeeded: set[str] = set()
    for event_type, op_id, _ in operation_events(result):
        if event_type.endswith(_OUTCOME_EVENTS):
            assert op_id is not None
            outcomes[op_id] += 1
            if event_type.endswith("Succeeded"):
                succeeded.add(op_id)
    duplicated = {op_id: n for op_id, n in outcomes.items() if n > 1}
    assert not duplicated, f"operations with more than one outcome: {duplicated}"
    final = {op.id: op.status.value for op in result.operations}
    lost = {op_id: final.get(op_id) for op_id in succeeded if final.get(op_id) != "SUCCEEDED"}
    assert not lost, f"operations that succeeded but are not SUCCEEDED at the end: {lost}"


@pytest.fixture
def history() -> HistoryChecks:
    """History checks: one outcome per operation, nothing lost, event lists."""
    return HistoryChecks()
