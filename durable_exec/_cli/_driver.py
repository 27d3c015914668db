"""Playing Lambda for local executions that outlive the process.

:class:`Driver` invokes an execution's handler whenever the service has news
for it, performs the chained invokes it starts (it starts a new local
execution for a durable target and calls a plain one directly), and moves time: a virtual clock
jumps to the next timer, the system clock is waited on in short slices (so a
callback answered from another terminal is seen within half a second). It
stops when the execution ends or waits for something only a person can give:
an open callback (unless told to let callbacks time out).

It works like :class:`~durable_exec.testing.DurableTestRunner` but keeps
its links in the store: each child execution is annotated with its parent and
CHAINED_INVOKE operation the moment it starts, so ``resume`` in another
process picks the whole tree up again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, Final

from durable_exec._cli._errors import EXIT_FAILED, CliError
from durable_exec._cli._progress import ObservedClient, Progress
from durable_exec._clock import Clock
from durable_exec._handler import DurableHandler, run_invocation
from durable_exec._wire import ErrorObject
from durable_exec.testing import FakeLambdaContext, LocalDurableService, StoreError, VirtualClock

__all__ = ["Driver", "bare_function_name"]

_TERMINAL: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
_REAL_TIME_SLICE: Final = 0.5
_MAX_INVOCATIONS: Final = 10_000


def bare_function_name(name: str) -> str:
    """Return the function name in a name, ``name:qualifier`` or function ARN."""
    return name.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]


def _store_error_in(exc: BaseException) -> StoreError | None:
    """Return a StoreError anywhere in ``exc``'s cause chain (the SDK wraps API errors)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, StoreError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


class HandlerCrashedError(CliError):
    """The handler raised on several invocations in a row (the execution stays RUNNING).

    Args:
        arn: The execution.
        error: The last exception.
        attempts: Invocations that raised in a row.
    """

    def __init__(self, arn: str, error: BaseException, attempts: int) -> None:
        super().__init__(
            f"the handler raised on {attempts} invocations in a row and was not retried further "
            f"(the execution stays RUNNING; fix it and resume): {type(error).__name__}: {error}",
            EXIT_FAILED,
            kind="handler_crashed",
        )
        self.arn = arn
        self.error = error


class Driver:
    """Runs local executions (and the child executions they invoke) as far as they can go.

    Args:
        service: The local service.
        clock: The clock shared with the service.
        targets: Chained-invoke targets by function name (durable or plain handlers).
        progress: The live progress line.
        link: Records ``(child_arn, parent_arn, operation_id)`` durably when a
            child execution starts (None: do not record).
        children_of: Returns the recorded ``(child_arn, operation_id)`` links of
            a parent (None: there are none).
        max_invocation_retries: Consecutive invocations that may raise before
            the driver gives up (Lambda would keep retrying).
        owner: Recorded with each invocation while it is in flight (who runs it).
    """

    def __init__(
        self,
        service: LocalDurableService,
        clock: Clock,
        targets: Mapping[str, Any],
        progress: Progress,
        *,
        link: Callable[[str, str, str], None] | None = None,
        children_of: Callable[[str], list[tuple[str, str]]] | None = None,
        max_invocation_retries: int = 3,
        owner: str | None = None,
    ) -> None:
        self.service = service
        self.clock = clock
        self.targets = dict(targets)
        self.progress = progress
        self._link = link
        self._children_of = children_of
        self.max_invocation_retries = max_invocation_retries
        self.owner = owner
        self._client = ObservedClient(service, progress)
        self._handlers: dict[str, DurableHandler[Any]] = {}
        # parent ARN -> {CHAINED_INVOKE operation id: child ARN}, for open invokes only.
        self._children: dict[str, dict[str, str]] = {}
        self._invocations: dict[str, int] = {}

    # ------------------------------------------------------------------ public

    def target(self, function_name: str) -> Any:
        """Return the registered target for ``function_name`` (exact, then bare name), or None."""
        found = self.targets.get(function_name)
        if found is None:
            found = self.targets.get(bare_function_name(function_name))
        return found

    def children(self, arn: str) -> list[str]:
        """Return the child executions ``arn`` still waits on (after :meth:`drive`)."""
        return list(self._children.get(arn, {}).values())

    def drive(
        self,
        arn: str,
        handler: DurableHandler[Any],
        *,
        pause_on_callbacks: bool = True,
    ) -> str:
        """Drive execution ``arn`` until it ends or waits for a person; return its status.

        Raises:
            HandlerCrashedError: The handler raised on too many invocations in a row.
            StoreError: The store became unusable (locked, changed elsewhere).
        """
        self._handlers[arn] = handler
        self._restore_children(arn)
        service = self.service
        retry_now = False
        failures = 0
        while True:
            progressed = self._dispatch(arn, pause_on_callbacks)
            status = service.execution_status(arn)
            if status in _TERMINAL:
                return status
            if retry_now or service.is_runnable(arn):
                retry_now = False
                error = self._invoke(arn)
                if error is None:
                    failures = 0
                    continue
                failures += 1
                if failures > self.max_invocation_retries:
                    raise HandlerCrashedError(arn, error, failures)
                retry_now = True
                continue
            if progressed:
                continue
            due = service.next_due(
                arn,
                include_execution_timeout=False,
                include_callback_timeouts=not pause_on_callbacks,
            )
            if due is None:
                return status
            self._advance_to(due, arn)
            service.fire_due_timers()

    # ----------------------------------------------------------------- inside

    def _advance_to(self, due: float, arn: str) -> None:
        clock = self.clock
        if isinstance(clock, VirtualClock):
            clock.advance_to(due)
            return
        left = due - clock.now()
        if left > 0:
            self.progress.wait(left)
            # One slice at a time: the caller's loop then sees changes other
            # processes made (an answered callback) before the timer is due.
            clock.sleep(min(left, _REAL_TIME_SLICE))

    def _invoke(self, arn: str) -> BaseException | None:
        """Invoke once; return the error if the invocation raised (Lambda would retry)."""
        count = self._invocations.get(arn, 0) + 1
        if count > _MAX_INVOCATIONS:
            raise CliError(f"execution {arn} used {_MAX_INVOCATIONS} invocations", EXIT_FAILED)
        self._invocations[arn] = count
        service = self.service
        event = service.invocation_event(arn, owner=self.owner)
        name = arn.rsplit("/", 2)[-2] if "/" in arn else arn
        self.progress.invocation(name)
        context = FakeLambdaContext(bare_function_name(arn), clock=self.clock)
        try:
            output = run_invocation(
                self._handlers[arn], event, context, client=self._client, clock=self.clock
            )
        except Exception as exc:
            store_error = _store_error_in(exc)
            if store_error is not None:
                raise store_error from exc
            service.record_invocation(arn, None, error=exc)
            return exc
        service.record_invocation(arn, output)
        return None

    def _restore_children(self, arn: str) -> None:
        """Reattach child executions recorded by an earlier process (open invokes only)."""
        if arn in self._children or self._children_of is None:
            self._children.setdefault(arn, {})
            return
        links = self._children_of(arn)
        open_ops = {
            op["Id"]
            for op in self.service.operations(arn)
            if op["Type"] == "CHAINED_INVOKE" and op["Status"] == "STARTED"
        }
        children: dict[str, str] = {}
        for child_arn, op_id in links:
            target = self.target(bare_function_name(child_arn))
            if op_id in open_ops and isinstance(target, DurableHandler):
                children[op_id] = child_arn
                self._handlers[child_arn] = target
        self._children[arn] = children

    def _child_name(self, parent_arn: str, op_id: str, function_name: str) -> str:
        # Derived from the invoke, so re-dispatching it after a crash finds the same child.
        digest = hashlib.blake2b(f"{parent_arn}|{op_id}".encode(), digest_size=6).hexdigest()
        return f"{function_name[:48]}-{digest}"

    def _dispatch(self, arn: str, pause_on_callbacks: bool) -> bool:
        """Start the chained invokes ``arn`` asked for and drive its open children."""
        service = self.service
        progressed = False
        children = self._children.setdefault(arn, {})
        for request in service.pending_chained_invokes(arn):
            progressed = True
            target = self.target(request.function_name)
            if target is None:
                service.complete_chained_invoke(
                    arn,
                    request.operation_id,
                    status="FAILED",
                    error={
                        "ErrorType": "ResourceNotFoundException",
                        "ErrorMessage": (
                            f"Function not found: {request.function_name} (register it with "
                            "--function NAME=PATH:HANDLER)"
                        ),
                    },
                )
            elif isinstance(target, DurableHandler):
                function_name = bare_function_name(request.function_name)
                child_arn = service.start_execution(
                    function_name,
                    request.payload,
                    execution_name=self._child_name(arn, request.operation_id, function_name),
                )
                if self._link is not None:
                    self._link(child_arn, arn, request.operation_id)
                children[request.operation_id] = child_arn
                self._handlers[child_arn] = target
            else:
                self._call_plain(arn, request.operation_id, target, request)
        for op_id, child_arn in list(children.items()):
            status = self.drive(
                child_arn, self._handlers[child_arn], pause_on_callbacks=pause_on_callbacks
            )
            if status not in _TERMINAL:
                continue
            progressed = True
            del children[op_id]
            try:
                if status == "SUCCEEDED":
                    service.complete_chained_invoke(
                        arn, op_id, status=status, result=service.result(child_arn)
                    )
                else:
                    service.complete_chained_invoke(
                        arn, op_id, status=status, error=service.error(child_arn)
                    )
            except ValueError:
                pass  # an earlier process completed it already
        return progressed

    def _call_plain(self, arn: str, op_id: str, target: Any, request: Any) -> None:
        event = json.loads(request.payload) if request.payload else None
        context = FakeLambdaContext(bare_function_name(request.function_name), clock=self.clock)
        try:
            payload = json.dumps(target(event, context))
        except Exception as exc:
            self.service.complete_chained_invoke(
                arn, op_id, status="FAILED", error=ErrorObject.from_exception(exc).to_wire()
            )
            return
        self.service.complete_chained_invoke(arn, op_id, status="SUCCEEDED", result=payload)
