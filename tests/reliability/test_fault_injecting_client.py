"""The FaultInjectingClient itself: schedules, recorded calls, the faults it builds."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError, ReadTimeoutError

from durable_exec._service import translate_error
from durable_exec.testing import (
    Fault,
    FaultInjectingClient,
    LocalDurableService,
    SimulatedCrash,
    VirtualClock,
)

CHECKPOINT = FaultInjectingClient.CHECKPOINT
GET_STATE = FaultInjectingClient.GET_STATE


class Echo:
    """A botocore-shaped client that answers every call with its arguments."""

    def __init__(self) -> None:
        self.forwarded: list[tuple[str, dict[str, Any]]] = []
        self.revoked: list[str] = []
        self.extra = "passed through"

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        self.forwarded.append((CHECKPOINT, kwargs))
        return {"CheckpointToken": "next", "NewExecutionState": {"Operations": []}}

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        self.forwarded.append((GET_STATE, kwargs))
        return {"Operations": []}

    def revoke_token(self, arn: str) -> None:
        self.revoked.append(arn)


def checkpoint(client: FaultInjectingClient, n: int = 1) -> list[Any]:
    """Make ``n`` checkpoint calls; return each response or the exception it raised."""
    outcomes: list[Any] = []
    for i in range(n):
        try:
            outcomes.append(
                client.checkpoint_durable_execution(
                    DurableExecutionArn="arn", CheckpointToken=f"t{i}", Updates=[]
                )
            )
        except BaseException as exc:
            outcomes.append(exc)
    return outcomes


class TestSchedules:
    def test_at_strikes_the_kth_matching_call_only(self):
        """at=k strikes the k-th call of the operation, once."""
        client = FaultInjectingClient(Echo())
        client.inject(Fault.stale_token(), operation=CHECKPOINT, at=3)
        outcomes = checkpoint(client, 5)
        assert [isinstance(o, ClientError) for o in outcomes] == [False, False, True, False, False]
        [injection] = client.injections
        assert (injection.call.index, injection.call.operation_index) == (3, 3)
        assert injection.forwarded is False

    @pytest.mark.parametrize(("times", "struck"), [(1, 1), (3, 3), (None, 4)])
    def test_times_in_a_row(self, times, struck):
        """times=N strikes N matching calls in a row from at (None: all of them)."""
        client = FaultInjectingClient(Echo())
        client.inject(Fault.server_error(503), at=2, times=times)
        outcomes = checkpoint(client, 5)
        assert sum(isinstance(o, ClientError) for o in outcomes) == struck
        assert not isinstance(outcomes[0], ClientError)

    def test_predicate_and_operation_filters(self):
        """when= and operation= restrict which calls count as matching."""
        echo = Echo()
        client = FaultInjectingClient(echo)
        rule = client.inject(
            Fault.throttle(),
            operation=GET_STATE,
            when=lambda call: call.kwargs.get("Marker") == "m2",
            times=None,
        )
        checkpoint(client, 2)
        client.get_durable_execution_state(DurableExecutionArn="a", CheckpointToken="t")
        with pytest.raises(ClientError):
            client.get_durable_execution_state(
                DurableExecutionArn="a", CheckpointToken="t", Marker="m2"
            )
        assert rule.fired == 1
        assert [c.operation for c in client.calls] == [CHECKPOINT, CHECKPOINT, GET_STATE, GET_STATE]
        assert client.count(GET_STATE) == 2

    def test_first_matching_rule_wins(self):
        """Rules are tried in the order they were added."""
        client = FaultInjectingClient(Echo())
        client.inject(Fault.kms(), at=1)
        client.inject(Fault.stale_token(), at=1)
        [first] = checkpoint(client)
        assert first.response["Error"]["Code"] == "KMSAccessDeniedException"
        [second] = checkpoint(client)
        assert "Invalid checkpoint token" in second.response["Error"]["Message"]

    def test_bad_schedules_are_refused(self):
        """at and times below 1, and operations that are not intercepted, are refused."""
        client = FaultInjectingClient(Echo())
        with pytest.raises(ValueError, match="at must be"):
            client.inject(Fault.crash(), at=0)
        with pytest.raises(ValueError, match="times must be"):
            client.inject(Fault.crash(), times=0)
        with pytest.raises(ValueError, match="not intercepted"):
            client.inject(Fault.crash(), operation="StopDurableExecution")
        with pytest.raises(ValueError, match="unknown operations"):
            FaultInjectingClient(Echo(), intercept=["Nope"])

    def test_everything_else_passes_through(self):
        """Attributes the client does not intercept are the wrapped client's."""
        echo = Echo()
        client = FaultInjectingClient(echo)
        assert client.extra == "passed through"
        client.revoke_token("arn")
        assert echo.revoked == ["arn"]
        assert client.calls == []

    def test_thread_safe_numbering(self):
        """Calls from many threads are numbered once each, without gaps."""
        client = FaultInjectingClient(Echo())
        threads = [
            threading.Thread(target=checkpoint, args=(client, 50), name=f"faults-{i}")
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(c.index for c in client.calls) == list(range(1, 401))


class TestFaults:
    @pytest.mark.parametrize(
        ("fault", "code", "status", "retryable"),
        [
            (Fault.throttle(), "TooManyRequestsException", 429, True),
            (Fault.throttle(retry_after=3), "TooManyRequestsException", 429, True),
            (Fault.server_error(500), "ServiceException", 500, True),
            (Fault.server_error(502), "ServiceException", 502, True),
            (Fault.server_error(503), "ServiceException", 503, True),
            (Fault.stale_token(), "InvalidParameterValueException", 400, True),
            (Fault.kms("KMSDisabledException"), "KMSDisabledException", 502, False),
            (
                Fault.client_error("ResourceNotFoundException", "gone", 404),
                "ResourceNotFoundException",
                404,
                False,
            ),
        ],
        ids=lambda v: v.name if isinstance(v, Fault) else None,
    )
    def test_client_errors_are_botocore_shaped(self, fault, code, status, retryable):
        """Error faults are real ClientErrors the SDK classifies as documented."""
        client = FaultInjectingClient(Echo())
        client.inject(fault)
        [error] = checkpoint(client)
        assert isinstance(error, ClientError)
        assert type(error).__name__ == code
        meta = error.response["ResponseMetadata"]
        assert (error.response["Error"]["Code"], meta["HTTPStatusCode"]) == (code, status)
        assert translate_error(error, CHECKPOINT).is_retryable() is retryable
        if "retry-after" in fault.name:
            assert meta["HTTPHeaders"]["retry-after"] == "3"

    @pytest.mark.parametrize(
        ("fault", "kind", "forwarded"),
        [
            (Fault.connection_reset(), ConnectionClosedError, False),
            (Fault.connection_reset(after_forwarding=True), ConnectionClosedError, True),
            (Fault.read_timeout(), ReadTimeoutError, True),
            (Fault.read_timeout(after_forwarding=False), ReadTimeoutError, False),
            (Fault.crash(), SimulatedCrash, False),
            (Fault.crash(after_forwarding=True), SimulatedCrash, True),
            (Fault.server_error(503, after_forwarding=True), ClientError, True),
        ],
        ids=lambda v: v.name if isinstance(v, Fault) else None,
    )
    def test_before_and_after_forwarding(self, fault, kind, forwarded):
        """A fault strikes before the wrapped client sees the call, or after it handled it."""
        echo = Echo()
        client = FaultInjectingClient(echo)
        client.inject(fault)
        [error] = checkpoint(client)
        assert isinstance(error, kind)
        assert len(echo.forwarded) == (1 if forwarded else 0)
        assert client.injections[0].forwarded is forwarded

    def test_dropped_token_revokes_the_wrapped_service(self):
        """A response stripped of its token revokes the token of a LocalDurableService."""
        service = LocalDurableService(VirtualClock())
        arn = service.start_execution("f")
        event = service.invocation_event(arn)
        client = FaultInjectingClient(service)
        client.inject(Fault.drop_checkpoint_token())
        response = client.checkpoint_durable_execution(
            DurableExecutionArn=arn, CheckpointToken=event["CheckpointToken"], Updates=[]
        )
        assert "CheckpointToken" not in response
        assert service.is_runnable(arn)
        with pytest.raises(ClientError, match="Invalid checkpoint token"):
            service.get_durable_execution_state(
                DurableExecutionArn=arn, CheckpointToken=event["CheckpointToken"]
            )

    def test_respond_and_delay(self):
        """respond() rewrites a copy of the response; delay() runs its action first."""
        seen: list[int] = []
        client = FaultInjectingClient(Echo())
        client.inject(Fault.delay(lambda call: seen.append(call.index)), at=1)
        client.inject(Fault.respond(lambda r: {**r, "Odd": True}), at=1)
        first, second = checkpoint(client, 2)
        assert seen == [1]
        assert "Odd" not in first
        assert second["Odd"] is True
