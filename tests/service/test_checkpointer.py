"""The checkpoint thread: batching, the token chain, failures, revocation and shutdown."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from durable_exec._checkpointer import BatcherConfig, Checkpointer
from durable_exec._clock import SYSTEM_CLOCK, Budget, Deadline
from durable_exec._errors import CheckpointError, ExecutionError
from durable_exec._scope import CancelScope
from durable_exec._service import CheckpointResult, StatePage
from durable_exec._signals import BranchOrphaned, DeadlineApproaching, SuspendExecution
from durable_exec._state import ExecutionState
from durable_exec._wire import (
    Operation,
    OperationAction,
    OperationStatus,
    OperationType,
    OperationUpdate,
)
from durable_exec.testing import VirtualClock

ARN = "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/n/exec1"
HOLD = BatcherConfig(max_delay=3600.0)  # asynchronous updates wait for company


@dataclasses.dataclass
class Call:
    """One recorded checkpoint call."""

    token: str
    updates: list[OperationUpdate]
    client_token: str

    @property
    def pairs(self) -> list[tuple[str, str]]:
        """(id, action) of each update, in order."""
        return [(u.id, u.action.value) for u in self.updates]


class FakeService:
    """A DurableService that records calls and answers from a script.

    Each checkpoint answers with the next scripted result (or raises it); once
    the script runs out it answers ``tok<n>`` with no operations.
    """

    def __init__(
        self,
        script: Sequence[CheckpointResult | BaseException | Callable[[], CheckpointResult]] = (),
        pages: dict[str, StatePage] | None = None,
    ) -> None:
        self.calls: list[Call] = []
        self.state_calls: list[tuple[str, str | None]] = []
        self._script = list(script)
        self._pages = pages or {}
        self.called = threading.Event()

    def checkpoint(
        self, arn: str, token: str, updates: Sequence[OperationUpdate], client_token: str
    ) -> CheckpointResult:
        assert arn == ARN
        self.calls.append(Call(token, list(updates), client_token))
        self.called.set()
        if self._script:
            answer = self._script.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer() if callable(answer) else answer
        return CheckpointResult(token=f"tok{len(self.calls)}", operations=[])

    def get_state(self, arn: str, token: str, marker: str | None) -> StatePage:
        assert arn == ARN
        self.state_calls.append((token, marker))
        return self._pages[marker or ""]

    @property
    def sent(self) -> list[tuple[str, str]]:
        """(id, action) of every update sent, across calls."""
        return [pair for call in self.calls for pair in call.pairs]


def _update(
    op_id: str,
    action: OperationAction = OperationAction.START,
    op_type: OperationType = OperationType.STEP,
    payload: str | None = None,
) -> OperationUpdate:
    return OperationUpdate(id=op_id, type=op_type, action=action, payload=payload)


def _op(op_id: str, status: OperationStatus = OperationStatus.SUCCEEDED) -> Operation:
    return Operation(id=op_id, type=OperationType.STEP, status=status, start_timestamp=1.0)


@pytest.fixture
def state() -> ExecutionState:
    """An execution state holding only the EXECUTION operation."""
    return ExecutionState(
        ARN, [Operation(id="exec1", type=OperationType.EXECUTION, status=OperationStatus.STARTED)]
    )


@pytest.fixture
def make(
    state: ExecutionState, clock: VirtualClock
) -> Iterator[Callable[..., tuple[Checkpointer, FakeService]]]:
    """Build a Checkpointer over a FakeService; every one is closed after the test."""
    made: list[Checkpointer] = []

    def build(
        service: FakeService | None = None, config: BatcherConfig = HOLD
    ) -> tuple[Checkpointer, FakeService]:
        service = service or FakeService()
        checkpointer = Checkpointer(service, state, "tok0", clock=clock, config=config)
        made.append(checkpointer)
        return checkpointer, service

    yield build
    for checkpointer in made:
        checkpointer.close()


class TestBatching:
    """Which updates share a call."""

    def test_async_held_for_sync(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """A step's asynchronous START waits and goes in one call with its synchronous SUCCEED."""
        checkpointer, service = make()
        checkpointer.enqueue(_update("a"))
        checkpointer.checkpoint(_update("a", OperationAction.SUCCEED, payload="1"))
        assert [c.pairs for c in service.calls] == [[("a", "START"), ("a", "SUCCEED")]]

    def test_queued_async_travel_together(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """Several queued asynchronous updates go with the next synchronous one, in order."""
        checkpointer, service = make()
        checkpointer.enqueue(_update("a"))
        checkpointer.enqueue(_update("b", op_type=OperationType.CONTEXT))
        checkpointer.checkpoint(_update("c", op_type=OperationType.WAIT))
        assert [c.pairs for c in service.calls] == [
            [("a", "START"), ("b", "START"), ("c", "START")]
        ]

    def test_refresh_sends_empty_call(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """refresh() makes a call with no updates."""
        checkpointer, service = make()
        checkpointer.refresh()
        assert [c.updates for c in service.calls] == [[]]

    def test_flush_empty_sends_nothing(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """flush() with nothing queued makes no call."""
        checkpointer, service = make()
        checkpointer.flush()
        assert service.calls == []

    def test_flush_sends_queued(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """flush() returns once the queued asynchronous updates are sent."""
        checkpointer, service = make()
        checkpointer.enqueue(_update("a"))
        checkpointer.flush()
        assert service.sent == [("a", "START")]

    def test_max_updates(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """A call carries at most max_updates updates, and order is kept across calls."""
        checkpointer, service = make(config=BatcherConfig(max_updates=2, max_delay=3600.0))
        for op_id in "abcde":
            checkpointer.enqueue(_update(op_id))
        checkpointer.flush()
        assert [[i for i, _ in c.pairs] for c in service.calls] == [["a", "b"], ["c", "d"], ["e"]]

    def test_max_bytes(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """A call carries at most max_bytes of updates."""
        updates = [_update(op_id, OperationAction.SUCCEED, payload="x" * 1000) for op_id in "abc"]
        limit = updates[0].size() * 2
        checkpointer, service = make(config=BatcherConfig(max_bytes=limit, max_delay=3600.0))
        for update in updates:
            checkpointer.enqueue(update)
        checkpointer.flush()
        assert [[i for i, _ in c.pairs] for c in service.calls] == [["a", "b"], ["c"]]
        assert all(sum(u.size() for u in c.updates) <= limit for c in service.calls)

    def test_oversized_update_sent_alone(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """An update larger than max_bytes is still sent, in a call of its own."""
        checkpointer, service = make(config=BatcherConfig(max_bytes=100, max_delay=3600.0))
        checkpointer.enqueue(_update("small"))
        checkpointer.checkpoint(_update("big", OperationAction.SUCCEED, payload="x" * 500))
        assert [[i for i, _ in c.pairs] for c in service.calls] == [["small"], ["big"]]

    @pytest.mark.parametrize(
        ("op_type", "first", "second", "calls"),
        [
            (OperationType.STEP, OperationAction.START, OperationAction.SUCCEED, 1),
            (OperationType.STEP, OperationAction.START, OperationAction.FAIL, 1),
            (OperationType.STEP, OperationAction.START, OperationAction.RETRY, 1),
            (OperationType.CONTEXT, OperationAction.START, OperationAction.SUCCEED, 1),
            (OperationType.CONTEXT, OperationAction.START, OperationAction.FAIL, 1),
            (OperationType.STEP, OperationAction.RETRY, OperationAction.START, 2),
            (OperationType.STEP, OperationAction.START, OperationAction.START, 2),
            (OperationType.STEP, OperationAction.SUCCEED, OperationAction.SUCCEED, 2),
            (OperationType.WAIT, OperationAction.START, OperationAction.CANCEL, 2),
            (OperationType.CALLBACK, OperationAction.START, OperationAction.SUCCEED, 2),
            (OperationType.CHAINED_INVOKE, OperationAction.START, OperationAction.SUCCEED, 2),
        ],
    )
    def test_one_update_per_operation(
        self,
        make: Callable[..., tuple[Checkpointer, FakeService]],
        op_type: OperationType,
        first: OperationAction,
        second: OperationAction,
        calls: int,
    ) -> None:
        """A second update for one id shares the call only for a STEP/CONTEXT START then outcome."""
        checkpointer, service = make()
        checkpointer.enqueue(_update("a", first, op_type))
        checkpointer.checkpoint(_update("a", second, op_type))
        assert len(service.calls) == calls
        assert service.sent == [("a", first.value), ("a", second.value)]

    def test_execution_update_last(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """An EXECUTION update ends its call; what was queued after it goes in the next."""
        checkpointer, service = make()
        checkpointer.enqueue(_update("a"))
        checkpointer.enqueue(_update("exec1", OperationAction.SUCCEED, OperationType.EXECUTION))
        checkpointer.enqueue(_update("b"))
        checkpointer.flush()
        assert [c.pairs for c in service.calls] == [
            [("a", "START"), ("exec1", "SUCCEED")],
            [("b", "START")],
        ]

    def test_max_delay_flushes_lonely_async(self, state: ExecutionState) -> None:
        """Asynchronous updates alone are sent once max_delay has passed, with no sync caller."""
        service = FakeService()
        checkpointer = Checkpointer(
            service, state, "tok0", clock=SYSTEM_CLOCK, config=BatcherConfig(max_delay=0.01)
        )
        try:
            checkpointer.enqueue(_update("a"))
            assert service.called.wait(timeout=30)
            assert service.sent == [("a", "START")]
        finally:
            checkpointer.close()

    def test_client_token_per_call(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """Every call gets a fresh, non-empty ClientToken."""
        checkpointer, service = make()
        checkpointer.checkpoint(_update("a"))
        checkpointer.checkpoint(_update("b"))
        tokens = [c.client_token for c in service.calls]
        assert all(tokens)
        assert len(set(tokens)) == 2

    def test_counters(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """calls and updates_sent count what went out."""
        checkpointer, _ = make()
        checkpointer.enqueue(_update("a"))
        checkpointer.checkpoint(_update("a", OperationAction.SUCCEED))
        checkpointer.checkpoint(_update("b"))
        assert (checkpointer.calls, checkpointer.updates_sent) == (2, 3)


class TestTokenChain:
    """Each call uses the token the previous response returned."""

    def test_chain(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """Calls use tok0, then each response's token in turn."""
        service = FakeService(
            [
                CheckpointResult(token="t-A", operations=[]),
                CheckpointResult(token="t-B", operations=[]),
            ]
        )
        checkpointer, _ = make(service)
        for op_id in "abc":
            checkpointer.checkpoint(_update(op_id))
        assert [c.token for c in service.calls] == ["tok0", "t-A", "t-B"]

    def test_response_merged_before_return(
        self, make: Callable[..., tuple[Checkpointer, FakeService]], state: ExecutionState
    ) -> None:
        """A synchronous checkpoint returns only after the response's operations are merged."""
        service = FakeService([CheckpointResult(token="t1", operations=[_op("other")])])
        checkpointer, _ = make(service)
        checkpointer.checkpoint(_update("a"))
        other = state.get("other")
        assert other is not None
        assert other.status is OperationStatus.SUCCEEDED

    def test_own_updates_applied(
        self, make: Callable[..., tuple[Checkpointer, FakeService]], state: ExecutionState
    ) -> None:
        """Accepted updates are recorded in the state once the call succeeds."""
        checkpointer, _ = make()
        checkpointer.enqueue(_update("a"))
        checkpointer.checkpoint(_update("a", OperationAction.SUCCEED, payload="7"))
        op = state.get("a")
        assert op is not None
        assert (op.status, op.result) == (OperationStatus.SUCCEEDED, "7")

    def test_paging_uses_new_token(
        self, make: Callable[..., tuple[Checkpointer, FakeService]], state: ExecutionState
    ) -> None:
        """NewExecutionState.NextMarker is paged with get_state using the response's new token."""
        service = FakeService(
            [CheckpointResult(token="t-new", operations=[_op("p1")], next_marker="m1")],
            pages={
                "m1": StatePage(operations=[_op("p2")], next_marker="m2"),
                "m2": StatePage(operations=[_op("p3")]),
            },
        )
        checkpointer, _ = make(service)
        checkpointer.checkpoint(_update("a"))
        assert service.state_calls == [("t-new", "m1"), ("t-new", "m2")]
        assert all(state.get(i) is not None for i in ("p1", "p2", "p3"))

    def test_next_call_after_paging(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """Paging does not consume the token: the next call uses the checkpoint's token."""
        service = FakeService(
            [CheckpointResult(token="t-new", operations=[], next_marker="m1")],
            pages={"m1": StatePage(operations=[])},
        )
        checkpointer, _ = make(service)
        checkpointer.checkpoint(_update("a"))
        checkpointer.checkpoint(_update("b"))
        assert [c.token for c in service.calls] == ["tok0", "t-new"]


class TestFailure:
    """A failed call is never stranded on the thread."""

    def test_waiter_gets_error(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """The caller blocked on a failing call receives its error."""
        error = CheckpointError("payload too large", retryable=False)
        checkpointer, _ = make(FakeService([error]))
        with pytest.raises(CheckpointError) as info:
            checkpointer.checkpoint(_update("a"))
        assert info.value is error

    @pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
    def test_an_interrupt_during_the_call_still_interrupts_the_caller(
        self,
        make: Callable[..., tuple[Checkpointer, FakeService]],
        interrupt: type[BaseException],
    ) -> None:
        """Ctrl-C (or SystemExit) in a call made on the caller's thread reaches the caller.

        It is not turned into a checkpoint failure to retry; the checkpointer is
        failed for everyone else, so later checkpoints raise instead of sending.
        """
        checkpointer, service = make(FakeService([interrupt()]))
        with pytest.raises(interrupt):
            checkpointer.checkpoint(_update("a"))
        with pytest.raises(CheckpointError):
            checkpointer.checkpoint(_update("b"))
        assert service.sent == [("a", "START")]

    def test_every_waiter_woken(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """Callers queued behind a failing call are woken with the same error."""
        gate = threading.Event()
        error = CheckpointError("boom", retryable=True)

        def blocked() -> CheckpointResult:
            gate.wait(timeout=30)
            raise error

        service = FakeService([blocked])
        checkpointer, _ = make(service)
        queued = threading.Event()

        class SignallingScope(CancelScope):
            @property
            def cancelled(self) -> bool:
                queued.set()  # checked under the checkpointer's lock, right before queueing
                return False

        outcomes: dict[str, BaseException | None] = {}

        def call(name: str, update: OperationUpdate, scope: CancelScope | None) -> None:
            try:
                checkpointer.checkpoint(update, scope)
                outcomes[name] = None
            except BaseException as exc:
                outcomes[name] = exc

        first = threading.Thread(target=call, args=("first", _update("a"), None))
        first.start()
        assert service.called.wait(timeout=30)
        checkpointer.enqueue(_update("async"))
        second = threading.Thread(target=call, args=("second", _update("b"), SignallingScope()))
        second.start()
        assert queued.wait(timeout=30)
        gate.set()
        first.join(timeout=30)
        second.join(timeout=30)
        assert outcomes == {"first": error, "second": error}
        assert len(service.calls) == 1

    def test_later_calls_reraise(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """After a failure, checkpoint(), enqueue() and flush() re-raise it at once."""
        error = CheckpointError("boom", retryable=False)
        checkpointer, service = make(FakeService([error]))
        with pytest.raises(CheckpointError):
            checkpointer.checkpoint(_update("a"))
        attempts: list[Callable[[], None]] = [
            lambda: checkpointer.checkpoint(_update("b")),
            lambda: checkpointer.enqueue(_update("c")),
            checkpointer.flush,
        ]
        for attempt in attempts:
            with pytest.raises(CheckpointError) as info:
                attempt()
            assert info.value is error
        assert len(service.calls) == 1
        assert checkpointer.failure is error

    def test_foreign_error_wrapped(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """An unexpected exception from the service becomes a retryable CheckpointError."""
        bug = RuntimeError("service bug")
        checkpointer, _ = make(FakeService([bug]))
        with pytest.raises(CheckpointError) as info:
            checkpointer.checkpoint(_update("a"))
        assert info.value.is_retryable()
        assert info.value.__cause__ is bug

    def test_async_failure_surfaces(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """A failure while sending only asynchronous updates is raised by flush()."""
        error = CheckpointError("boom", retryable=False)
        checkpointer, _ = make(FakeService([error]))
        checkpointer.enqueue(_update("a"))
        with pytest.raises(CheckpointError):
            checkpointer.flush()
        assert checkpointer.failure is error

    def test_close_after_failure(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """close() returns after a failure, with the thread stopped."""
        checkpointer, _ = make(FakeService([CheckpointError("boom")]))
        with pytest.raises(CheckpointError):
            checkpointer.checkpoint(_update("a"))
        checkpointer.close()
        assert not checkpointer._thread.is_alive()

    def test_paging_failure(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """A failure while paging the response reaches the waiter."""
        error = CheckpointError("page failed", retryable=True)

        class FailingPages(FakeService):
            def get_state(self, arn: str, token: str, marker: str | None) -> StatePage:
                raise error

        service = FailingPages([CheckpointResult(token="t1", operations=[], next_marker="m1")])
        checkpointer, _ = make(service)
        with pytest.raises(CheckpointError) as info:
            checkpointer.checkpoint(_update("a"))
        assert info.value is error


PATIENT = BatcherConfig(max_delay=3600.0, max_linger=3600.0, max_hold=3600.0)


class Queued(CancelScope):
    """A scope that reports when the checkpointer checks it (right before queueing)."""

    def __init__(self) -> None:
        super().__init__()
        self.queued = threading.Event()

    @property
    def cancelled(self) -> bool:
        self.queued.set()
        return False


class BrokenTake:
    """Makes ``Checkpointer._take`` raise (once armed) on threads whose name starts with ``on``."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, on: str = "durable-checkpoint") -> None:
        self.armed = threading.Event()
        self.raised = threading.Event()
        original = Checkpointer._take

        def take(checkpointer: Checkpointer, batch: list[Any]) -> None:
            if self.armed.is_set() and threading.current_thread().name.startswith(on):
                original(checkpointer, batch)  # the items are taken, then the loop breaks
                self.raised.set()
                raise RuntimeError("loop broke")
            original(checkpointer, batch)

        monkeypatch.setattr(Checkpointer, "_take", take)


Outcome = dict[str, BaseException | None]


def _in_thread(call: Callable[[], None]) -> tuple[threading.Thread, Outcome]:
    outcome: Outcome = {}

    def run() -> None:
        try:
            call()
            outcome["error"] = None
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


class TestLoopCrash:
    """An exception in the batching loop itself (not in an API call) strands no waiter."""

    def test_blocked_caller_fails(
        self, state: ExecutionState, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A crash on the thread fails the caller whose update it had taken, and later calls."""
        broken = BrokenTake(monkeypatch)
        broken.armed.set()
        service = FakeService()
        # Less time left than a call may take: callers never send, the thread does.
        deadline = Deadline(SYSTEM_CLOCK, 30.0, 1.0)
        checkpointer = Checkpointer(service, state, "tok0", deadline=deadline)
        try:
            caller, outcome = _in_thread(lambda: checkpointer.checkpoint(_update("a")))
            caller.join(timeout=30)
            assert not caller.is_alive(), "a waiter was stranded by the crashed thread"
            error = outcome["error"]
            assert isinstance(error, CheckpointError)
            assert error.is_retryable()
            assert "checkpoint thread stopped" in str(error)
            assert isinstance(error.__cause__, RuntimeError)
            with pytest.raises(CheckpointError):
                checkpointer.enqueue(_update("b"))
            assert service.calls == []
        finally:
            checkpointer.close()
        assert not checkpointer._thread.is_alive()

    def test_sending_caller_fails_with_the_others(
        self, state: ExecutionState, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A crash while a caller takes its own batch fails it and everything queued."""
        broken = BrokenTake(monkeypatch, on="MainThread")
        checkpointer = Checkpointer(FakeService(), state, "tok0", config=PATIENT)
        checkpointer.add_producers(1)
        try:
            scope = Queued()
            other, outcome = _in_thread(lambda: checkpointer.checkpoint(_update("a"), scope))
            assert scope.queued.wait(timeout=30)
            broken.armed.set()
            with pytest.raises(CheckpointError, match="checkpoint thread stopped"):
                checkpointer.checkpoint(_update("b"))  # all blocked: this thread sends
            other.join(timeout=30)
            assert isinstance(outcome["error"], CheckpointError)
        finally:
            checkpointer.close()

    def test_crash_while_idle_fails_next_call(
        self, state: ExecutionState, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A crash while sending only asynchronous updates makes the next blocking call raise."""
        broken = BrokenTake(monkeypatch)
        broken.armed.set()
        checkpointer = Checkpointer(FakeService(), state, "tok0", config=HOLD)
        checkpointer.add_producers(-1)  # nobody left to add: the thread sends at once
        try:
            checkpointer.enqueue(_update("a"))
            assert broken.raised.wait(timeout=30)
            caller, outcome = _in_thread(lambda: checkpointer.checkpoint(_update("b")))
            caller.join(timeout=30)
            assert not caller.is_alive(), "the blocking call hung on a dead thread"
            assert isinstance(outcome["error"], CheckpointError)
            assert isinstance(checkpointer.failure, CheckpointError)
        finally:
            checkpointer.close()

    def test_broken_clock_fails_waiters_clearly(self, state: ExecutionState) -> None:
        """A Clock raising while a call's outcome is recorded fails the caller, never hangs it."""

        class BrokenNow(VirtualClock):
            def now(self) -> float:
                if threading.current_thread().name.startswith("durable-checkpoint"):
                    raise RuntimeError("clock broke")
                return super().now()

        deadline = Deadline(SYSTEM_CLOCK, 30.0, 1.0)  # the checkpoint thread makes the call
        checkpointer = Checkpointer(
            FakeService(), state, "tok0", clock=BrokenNow(), deadline=deadline
        )
        try:
            caller, outcome = _in_thread(lambda: checkpointer.checkpoint(_update("a")))
            caller.join(timeout=30)
            assert not caller.is_alive()
            error = outcome["error"]
            assert isinstance(error, CheckpointError)
            assert isinstance(error.__cause__, RuntimeError)
        finally:
            checkpointer.close()


class TestRevocation:
    """A response without a token revokes the chain."""

    def test_waiter_suspends(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """The caller of the call whose response had no token gets SuspendExecution."""
        checkpointer, _ = make(FakeService([CheckpointResult(token=None, operations=[])]))
        with pytest.raises(SuspendExecution):
            checkpointer.checkpoint(_update("a"))
        assert checkpointer.revoked

    def test_later_calls_suspend(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """After revocation, checkpoint() and enqueue() raise SuspendExecution without a call."""
        checkpointer, service = make(FakeService([CheckpointResult(token=None, operations=[])]))
        with pytest.raises(SuspendExecution):
            checkpointer.checkpoint(_update("a"))
        with pytest.raises(SuspendExecution):
            checkpointer.checkpoint(_update("b"))
        with pytest.raises(SuspendExecution):
            checkpointer.enqueue(_update("c"))
        assert len(service.calls) == 1
        assert checkpointer.failure is None

    def test_execution_update_is_not_revocation(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """No token after a batch holding the EXECUTION update means done, not revoked."""
        checkpointer, _ = make(FakeService([CheckpointResult(token=None, operations=[])]))
        checkpointer.checkpoint(
            _update("exec1", OperationAction.SUCCEED, OperationType.EXECUTION, payload="1")
        )
        assert not checkpointer.revoked


class TestScopes:
    """Map/parallel scopes refuse updates once their batch completed."""

    def test_complete_scope_sends_outcome(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """complete_scope sends the outcome durably and cancels the scope."""
        checkpointer, service = make()
        scope = CancelScope()
        checkpointer.complete_scope(
            scope, _update("map", OperationAction.SUCCEED, OperationType.CONTEXT)
        )
        assert service.sent == [("map", "SUCCEED")]
        assert scope.cancelled

    def test_later_enqueue_orphaned(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """An update from a completed scope, or a scope nested in it, raises BranchOrphaned."""
        checkpointer, service = make()
        scope = CancelScope()
        nested = CancelScope(scope)
        checkpointer.complete_scope(
            scope, _update("map", OperationAction.SUCCEED, OperationType.CONTEXT)
        )
        with pytest.raises(BranchOrphaned):
            checkpointer.enqueue(_update("late"), scope)
        with pytest.raises(BranchOrphaned):
            checkpointer.checkpoint(_update("later"), nested)
        checkpointer.flush()
        assert service.sent == [("map", "SUCCEED")]

    def test_atomic(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """No update from a scope is queued after its outcome, even while a branch races it."""
        checkpointer, service = make(config=BatcherConfig(max_delay=0.01))
        scope = CancelScope()
        started = threading.Event()
        sent_by_branch: list[str] = []

        def branch() -> None:
            n = 0
            try:
                while True:
                    checkpointer.enqueue(_update(f"b{n}"), scope)
                    sent_by_branch.append(f"b{n}")
                    started.set()
                    n += 1
            except BranchOrphaned:
                return

        worker = threading.Thread(target=branch)
        worker.start()
        assert started.wait(timeout=30)
        checkpointer.complete_scope(
            scope, _update("map", OperationAction.SUCCEED, OperationType.CONTEXT)
        )
        worker.join(timeout=30)
        checkpointer.flush()
        assert service.sent[-1] == ("map", "SUCCEED")
        assert [i for i, _ in service.sent[:-1]] == sent_by_branch

    def test_cancel_quietly(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """A quietly cancelled scope refuses updates without anything being sent."""
        checkpointer, service = make()
        scope = CancelScope()
        scope.cancel()
        with pytest.raises(BranchOrphaned):
            checkpointer.enqueue(_update("a"), scope)
        checkpointer.flush()
        assert service.calls == []


class TestClose:
    """Shutdown leaves nothing behind."""

    def test_thread_joined(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """close() joins the checkpoint thread."""
        checkpointer, _ = make()
        checkpointer.close()
        assert not checkpointer._thread.is_alive()
        assert checkpointer._thread not in threading.enumerate()

    def test_no_thread_left(self, state: ExecutionState, clock: VirtualClock) -> None:
        """After close() no durable-checkpoint thread is running."""
        before = set(threading.enumerate())
        checkpointer = Checkpointer(FakeService(), state, "tok0", clock=clock, config=HOLD)
        checkpointer.checkpoint(_update("a"))
        checkpointer.close()
        assert [t.name for t in set(threading.enumerate()) - before] == []

    def test_close_flushes(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """Asynchronous updates still queued are sent by close()."""
        checkpointer, service = make()
        checkpointer.enqueue(_update("a"))
        checkpointer.close()
        assert service.sent == [("a", "START")]

    def test_close_twice(self, make: Callable[..., tuple[Checkpointer, FakeService]]) -> None:
        """close() may be called twice."""
        checkpointer, _ = make()
        checkpointer.close()
        checkpointer.close()
        assert not checkpointer._thread.is_alive()

    def test_checkpoint_after_close(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """A checkpoint after close() raises ExecutionError instead of hanging."""
        checkpointer, _ = make()
        checkpointer.close()
        with pytest.raises(ExecutionError):
            checkpointer.checkpoint(_update("a"))

    def test_a_call_in_flight_is_given_up_on_and_nothing_more_is_sent(
        self, state: ExecutionState, clock: VirtualClock
    ) -> None:
        """The end's budget runs out with a call in flight: flush and close return, then silence.

        Without a deadline both would otherwise wait as long as the call; once it
        returns, the thread ends without sending what was queued behind it.
        """
        release = threading.Event()

        def answer_late() -> CheckpointResult:
            assert release.wait(10)
            return CheckpointResult(token="tok1", operations=[])

        service = FakeService([answer_late])
        prompt = BatcherConfig(max_delay=0.0)
        checkpointer = Checkpointer(service, state, "tok0", clock=clock, config=prompt)
        try:
            checkpointer.enqueue(_update("a"))
            assert service.called.wait(10)
            checkpointer.enqueue(_update("b"))  # queued behind the call in flight
            budget = Budget(0.01)
            with pytest.raises(DeadlineApproaching):
                checkpointer.flush(budget)
            checkpointer.close(budget)
            assert not checkpointer.stopped
            with pytest.raises(ExecutionError):
                checkpointer.checkpoint(_update("c"))
        finally:
            release.set()
        checkpointer._thread.join(10)
        assert checkpointer.stopped
        assert service.sent == [("a", "START")]


class TestPolicy:
    """When a batch somebody waits for leaves: once every producer is blocked, or after a linger."""

    def test_waits_for_every_producer(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """With a second producer running, a blocked caller's update waits for it to block too."""
        checkpointer, service = make(config=PATIENT)
        checkpointer.add_producers(1)
        scope = Queued()
        other, outcome = _in_thread(lambda: checkpointer.checkpoint(_update("a"), scope))
        assert scope.queued.wait(timeout=30)
        checkpointer.checkpoint(_update("b"))  # now both producers are blocked
        other.join(timeout=30)
        assert outcome == {"error": None}
        assert [c.pairs for c in service.calls] == [[("a", "START"), ("b", "START")]]

    def test_producer_leaving_releases_the_batch(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """A producer that stops (add_producers(-1)) lets the blocked caller's batch go."""
        checkpointer, service = make(config=PATIENT)
        checkpointer.add_producers(1)
        scope = Queued()
        other, outcome = _in_thread(lambda: checkpointer.checkpoint(_update("a"), scope))
        assert scope.queued.wait(timeout=30)
        checkpointer.add_producers(-1)
        other.join(timeout=30)
        assert not other.is_alive()
        assert outcome == {"error": None}
        assert service.sent == [("a", "START")]

    def test_linger_bounds_the_wait(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """A producer that never blocks delays a blocked caller only by the linger."""
        checkpointer, service = make(config=BatcherConfig(max_linger=0.001, max_hold=0.002))
        checkpointer.add_producers(5)  # five more threads "running", none of them ever blocks
        checkpointer.checkpoint(_update("a"))
        assert service.sent == [("a", "START")]

    def test_starting_producer_is_awaited(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """A producer not yet running holds the batch past the linger, until it starts."""
        started = threading.Event()
        seen: list[bool] = []

        def record() -> CheckpointResult:
            seen.append(started.is_set())
            return CheckpointResult(token="t1", operations=[])

        checkpointer, service = make(
            FakeService([record]), config=BatcherConfig(max_linger=0.0, max_hold=3600.0)
        )
        checkpointer.add_producers(1, starting=1)
        scope = Queued()
        other, outcome = _in_thread(lambda: checkpointer.checkpoint(_update("a"), scope))
        assert scope.queued.wait(timeout=30)
        started.set()
        checkpointer.producer_started()  # it runs now, but adds nothing: the linger (0) ends
        other.join(timeout=30)
        assert outcome == {"error": None}
        assert seen == [True]
        assert service.sent == [("a", "START")]

    def test_async_sent_when_nobody_can_add(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """With no producer left, queued asynchronous updates leave at once (no max_delay wait)."""
        checkpointer, service = make(config=PATIENT)
        checkpointer.add_producers(-1)
        checkpointer.enqueue(_update("a"))
        assert service.called.wait(timeout=30)
        assert service.sent == [("a", "START")]

    def test_async_alone_still_held(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """While the producer runs, its asynchronous update waits for company."""
        checkpointer, service = make(config=PATIENT)
        checkpointer.enqueue(_update("a"))
        checkpointer.checkpoint(_update("a", OperationAction.SUCCEED))
        assert [c.pairs for c in service.calls] == [[("a", "START"), ("a", "SUCCEED")]]

    def test_caller_sends_on_its_own_thread(
        self, make: Callable[..., tuple[Checkpointer, FakeService]]
    ) -> None:
        """With no deadline and no call in flight, the blocked caller makes the call itself."""
        threads: list[str] = []

        def record() -> CheckpointResult:
            threads.append(threading.current_thread().name)
            return CheckpointResult(token="t1", operations=[])

        checkpointer, _ = make(FakeService([record]))
        checkpointer.checkpoint(_update("a"))
        assert threads == [threading.current_thread().name]

    @pytest.mark.parametrize("config", [PATIENT, BatcherConfig()])
    def test_concurrent_callers_keep_one_ordered_chain(
        self, state: ExecutionState, clock: VirtualClock, config: BatcherConfig
    ) -> None:
        """Many blocked callers: calls never overlap, tokens chain, each caller's order holds."""
        in_call = threading.Lock()
        overlaps: list[int] = []

        class Exclusive(FakeService):
            def checkpoint(
                self, arn: str, token: str, updates: Sequence[OperationUpdate], client_token: str
            ) -> CheckpointResult:
                if not in_call.acquire(blocking=False):
                    overlaps.append(len(self.calls))
                    in_call.acquire()
                try:
                    return super().checkpoint(arn, token, updates, client_token)
                finally:
                    in_call.release()

        service = Exclusive()
        checkpointer = Checkpointer(service, state, "tok0", clock=clock, config=config)
        threads_n, per_thread = 6, 60
        checkpointer.add_producers(threads_n - 1)
        try:

            def caller(t: int) -> Callable[[], None]:
                def run() -> None:
                    for i in range(per_thread):
                        checkpointer.checkpoint(_update(f"t{t}-{i}"))

                return run

            workers = [_in_thread(caller(t)) for t in range(threads_n)]
            for worker, _ in workers:
                worker.join(timeout=60)
            assert all(outcome == {"error": None} for _, outcome in workers)
        finally:
            checkpointer.close()
        assert overlaps == []
        tokens = [c.token for c in service.calls]
        assert tokens == ["tok0"] + [f"tok{n}" for n in range(1, len(tokens))]
        sent = [op_id for op_id, _ in service.sent]
        assert sorted(sent) == sorted(
            f"t{t}-{i}" for t in range(threads_n) for i in range(per_thread)
        )
        for t in range(threads_n):
            mine = [op_id for op_id in sent if op_id.startswith(f"t{t}-")]
            assert mine == [f"t{t}-{i}" for i in range(per_thread)]
        assert len(service.calls) < threads_n * per_thread  # callers shared calls
