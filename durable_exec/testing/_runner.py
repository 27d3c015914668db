"""DurableTestRunner: run a durable handler to the end, in-process, with time skipped."""

from __future__ import annotations

import dataclasses
import json
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

from durable_exec._clock import Clock
from durable_exec._errors import ValidationError
from durable_exec._handler import DurableHandler, run_invocation
from durable_exec._wire import ErrorObject, Operation, OperationType
from durable_exec.testing._clock import VirtualClock
from durable_exec.testing._service import LocalDurableService

__all__ = ["DurableTestRunner", "FakeLambdaContext", "SimulatedCrash", "TestResult"]


class SimulatedCrash(BaseException):
    """Raise inside a handler (or a step) to simulate the process dying mid-invocation.

    It is a ``BaseException``, so neither user code nor the SDK records it as a
    failure; the runner treats it like Lambda treats a crashed invocation: it
    invokes the function again.
    """


_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})


class FakeLambdaContext:
    """A stand-in for Lambda's context object.

    ``get_remaining_time_in_millis`` counts down from ``timeout`` seconds of real
    (monotonic) time from creation, or returns what ``remaining_ms`` says.

    Args:
        function_name: ``function_name``.
        timeout: The invocation's time limit in seconds.
        clock: Where elapsed time is read.
        remaining_ms: Overrides the countdown (a callable), for deadline tests.
        region: The region in ``invoked_function_arn``.
        tenant_id: ``tenant_id`` (the execution's tenant, if it has one).
    """

    def __init__(
        self,
        function_name: str = "test-function",
        timeout: float = 900.0,
        clock: Clock | None = None,
        remaining_ms: Callable[[], int] | None = None,
        *,
        region: str = "us-east-1",
        tenant_id: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:123456789012:function:{function_name}"
        self.tenant_id = tenant_id
        self.memory_limit_in_mb = 128
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self.client_context: Any = None
        self.identity: Any = None
        self._clock = clock or VirtualClock()
        self._deadline = self._clock.monotonic() + timeout
        self._remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left in this invocation."""
        if self._remaining_ms is not None:
            return self._remaining_ms()
        return max(0, int((self._deadline - self._clock.monotonic()) * 1000))

    def log(self, msg: str) -> None:
        """Write ``msg`` to standard output, as Lambda writes it to the function's log stream."""
        sys.stdout.write(str(msg))


@dataclasses.dataclass
class TestResult:
    """Where a run ended.

    Attributes:
        arn: The execution's ARN.
        status: ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT``, ``STOPPED``, or ``RUNNING``
            when it waits for something only the test can provide (a callback).
        result: The decoded result (SUCCEEDED only).
        result_payload: The result as the service stores it (a JSON string).
        error: The execution's error (FAILED and the like).
        operations: Every operation of the execution, in start order.
        outputs: The output envelope of each invocation, in order.
        api_calls: ``CheckpointDurableExecution`` calls made by the handler.
        updates: Operation updates those calls carried.
        history: The execution's history events (API shape).
    """

    __test__ = False  # not a pytest test class

    arn: str
    status: str
    result: Any
    result_payload: str | None
    error: ErrorObject | None
    operations: list[Operation]
    outputs: list[dict[str, Any]]
    api_calls: int
    updates: int
    history: list[dict[str, Any]]

    @property
    def invocations(self) -> int:
        """How many times the handler was invoked."""
        return len(self.outputs)

    def get_operation(self, name: str, op_type: OperationType | None = None) -> Operation:
        """Return the first operation named ``name`` (optionally of ``op_type``).

        Raises:
            KeyError: No such operation; the message lists the names there are.
        """
        for op in self.operations:
            if op.name == name and (op_type is None or op.type is op_type):
                return op
        names = sorted({op.name for op in self.operations if op.name})
        raise KeyError(f"no operation named {name!r}; operations with names: {names}")

    def get_step(self, name: str) -> Operation:
        """Return the STEP named ``name``."""
        return self.get_operation(name, OperationType.STEP)

    def get_wait(self, name: str) -> Operation:
        """Return the WAIT named ``name``."""
        return self.get_operation(name, OperationType.WAIT)

    def get_context(self, name: str) -> Operation:
        """Return the CONTEXT named ``name``."""
        return self.get_operation(name, OperationType.CONTEXT)

    def get_callback(self, name: str) -> Operation:
        """Return the CALLBACK named ``name``."""
        return self.get_operation(name, OperationType.CALLBACK)

    def get_invoke(self, name: str) -> Operation:
        """Return the CHAINED_INVOKE named ``name``."""
        return self.get_operation(name, OperationType.CHAINED_INVOKE)

    def children(self, parent: Operation | str) -> list[Operation]:
        """Return the operations whose parent is ``parent`` (an operation or its id)."""
        parent_id = parent if isinstance(parent, str) else parent.id
        return [op for op in self.operations if op.parent_id == parent_id]

    def decoded(self, op: Operation) -> Any:
        """Return ``op``'s stored result decoded with the default serdes."""
        from durable_exec._serde import EXTENDED_SERDES, SerDesContext

        if op.result is None:
            return None
        return EXTENDED_SERDES.deserialize(op.result, SerDesContext(op.id, self.arn))


class _RecordingClient:
    """Passes calls to the service and counts what the handler sent."""

    def __init__(self, service: LocalDurableService) -> None:
        self._service = service
        self._lock = threading.Lock()
        self.calls = 0
        self.updates = 0

    def checkpoint_durable_execution(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            self.updates += len(kwargs.get("Updates") or ())
        return self._service.checkpoint_durable_execution(**kwargs)

    def get_durable_execution_state(self, **kwargs: Any) -> dict[str, Any]:
        return self._service.get_durable_execution_state(**kwargs)


@dataclasses.dataclass
class _Answer:
    result: str | None = None
    error: dict[str, Any] | None = None


@dataclasses.dataclass
class _Target:
    handler: Any
    durable: bool
    execution_timeout: float | None = None
    arm_timeout: bool = True


@dataclasses.dataclass
class _Started:
    """How an execution was started: what its invocations' Lambda context says."""

    function_name: str
    tenant_id: str | None = None


class DurableTestRunner:
    """Runs a durable handler in-process until its execution ends.

    The runner owns an in-memory :class:`LocalDurableService` and a
    :class:`VirtualClock`: a wait of a year, a retry back-off or a callback
    timeout completes at once. Each invocation goes through the real handler
    code and botocore-shaped API calls, so what passes here is what runs on Lambda.

    Args:
        handler: A function decorated with ``@durable_execution``.
        service: The service to run against (a fresh in-memory one by default).
        clock: The clock shared by the service and the SDK (virtual by default).
        function_name: The function's name in ARNs.
        max_invocations: Safety stop for runaway executions.
        max_invocation_retries: Consecutive invocations that may raise before the
            run gives up and re-raises the error (Lambda would keep retrying).
        invocation_timeout: Each invocation's time limit in seconds, as Lambda's
            context reports it (``get_remaining_time_in_millis``).
        region: The region Lambda's context reports (``invoked_function_arn``).
        freeze_wall_clock: Make ``datetime.now()``, ``time.time()`` and the like,
            read by step code (and anything else) while the runner drives an
            execution, follow the runner's virtual clock, so a 5-minute durable wait
            moves them by 5 minutes. Off by default; needs freezegun (the
            ``testing`` extra).

    Example:
        >>> runner = DurableTestRunner(handler)  # doctest: +SKIP
        >>> result = runner.run({"order_id": "o-1"})  # doctest: +SKIP
        >>> assert result.status == "SUCCEEDED"  # doctest: +SKIP
    """

    def __init__(
        self,
        handler: DurableHandler[Any],
        *,
        service: LocalDurableService | None = None,
        clock: Clock | None = None,
        function_name: str = "test-function",
        max_invocations: int = 10_000,
        max_invocation_retries: int = 3,
        invocation_timeout: float = 900.0,
        region: str = "us-east-1",
        freeze_wall_clock: bool = False,
    ) -> None:
        self.invocation_timeout = invocation_timeout
        self.region = region
        if freeze_wall_clock:
            from durable_exec.testing._wall_clock import require_freezegun

            require_freezegun()
        self.freeze_wall_clock = freeze_wall_clock
        if not isinstance(handler, DurableHandler):
            raise ValidationError(
                "DurableTestRunner needs a handler decorated with @durable_execution, "
                f"got {handler!r}"
            )
        self.handler = handler
        self.clock: Clock = clock or (service.clock if service is not None else VirtualClock())
        self.service = service or LocalDurableService(self.clock)
        self.function_name = function_name
        self.max_invocations = max_invocations
        self.max_invocation_retries = max_invocation_retries
        self._answers: dict[str, _Answer] = {}
        self._answered: set[str] = set()
        self._targets: dict[str, _Target] = {}
        self._children: dict[tuple[str, str], str] = {}
        self._children_runners: dict[str, DurableTestRunner] = {}
        self._skip_to_timeout: dict[str, bool] = {}
        self._started: dict[str, _Started] = {}
        self._client = _RecordingClient(self.service)
        self._outputs: dict[str, list[dict[str, Any]]] = {}

    # -- set-up ---------------------------------------------------------------

    def on_callback(
        self,
        name: str,
        *,
        result: str | bytes | None = None,
        error: ErrorObject | dict[str, Any] | None = None,
    ) -> DurableTestRunner:
        """Answer the callback named ``name`` as soon as it is created.

        ``name`` is the callback's name, or the name given to ``wait_for_callback``.
        Give ``result`` (sent as ``SendDurableExecutionCallbackSuccess``) or
        ``error`` (``...Failure``).

        The result is sent as it is, and the handler receives that string
        unless the callback's config has a serdes or a ``result_type`` that
        decodes it (as with the official SDK, nothing reads it as JSON by
        default): ``result="approved"`` makes ``wait_for_callback`` return
        ``"approved"``, while ``result='"approved"'`` returns the string with
        its double quotes. With ``WaitForCallbackConfig(serdes=JsonSerDes())``
        send JSON text (``'"approved"'``, ``'{"ok": true}'``).

        Args:
            name: The callback's name.
            result: The result to send (text, or bytes holding UTF-8 text).
            error: The error to fail the callback with, as an ``ErrorObject`` or
                its wire dict (``ErrorType``, ``ErrorMessage``, ``ErrorData``).

        Returns:
            This runner, to chain calls.

        Raises:
            ValidationError: Neither or both of ``result`` and ``error`` given.
        """
        if (result is None) == (error is None):
            raise ValidationError("on_callback needs exactly one of result= or error=")
        if isinstance(result, bytes):
            result = result.decode()
        wire_error = error.to_wire() if isinstance(error, ErrorObject) else error
        self._answers[name] = _Answer(result, wire_error)
        return self

    def register_function(
        self,
        name: str,
        handler: Any,
        *,
        durable: bool | None = None,
        execution_timeout: float | None = None,
        arm_timeout: bool = True,
    ) -> DurableTestRunner:
        """Make ``name`` a chained-invoke target.

        A ``@durable_execution`` handler runs as a child durable execution; any other
        callable is called as a plain Lambda handler ``handler(event, context)``.
        A qualified name (``name:alias``) matches its exact registration first,
        then the bare function name.

        Args:
            name: The function name ``context.invoke`` uses.
            handler: The target.
            durable: Whether it is durable (by default: decorated with ``@durable_execution``).
            execution_timeout: The child execution's timeout in seconds (durable
                targets; by default the service's longest).
            arm_timeout: Whether the service times the child out by its clock;
                when false the caller enforces ``execution_timeout`` (see
                :meth:`running_children`).
        """
        is_durable = isinstance(handler, DurableHandler) if durable is None else durable
        self._targets[name] = _Target(handler, is_durable, execution_timeout, arm_timeout)
        return self

    def running_children(self) -> list[tuple[str, str]]:
        """Return ``(arn, function name)`` of every chained child execution still running.

        Children of children included: every execution this runner started for a
        ``context.invoke`` of a durable target.
        """
        found: list[tuple[str, str]] = []
        for child_arn, runner in self._children_runners.items():
            if self.service.execution_status(child_arn) == "RUNNING":
                started = runner._started.get(child_arn)
                found.append((child_arn, started.function_name if started else ""))
            found.extend(runner.running_children())
        return found

    # -- running ----------------------------------------------------------------

    def start(
        self,
        input: Any = None,  # noqa: A002 - the official runner's name
        *,
        execution_name: str | None = None,
        execution_timeout: float | None = None,
        encoded_input: str | None = None,
        function_name: str | None = None,
        tenant_id: str | None = None,
        arm_timeout: bool = True,
    ) -> str:
        """Start an execution without running it; return its ARN.

        Args:
            input: The execution's input (JSON-encoded for the handler).
            execution_name: A unique name (random by default).
            execution_timeout: Seconds until the execution times out; when given,
                the runner skips time to it if the execution is otherwise stuck.
            encoded_input: The input already encoded as the service stores it
                (instead of ``input``).
            function_name: The function's name in the ARN (the runner's by default).
            tenant_id: The tenant Lambda's context reports.
            arm_timeout: Whether the service times the execution out by its clock;
                when false the caller enforces ``execution_timeout``.
        """
        if input is not None and encoded_input is not None:
            raise ValidationError("start takes input or encoded_input, not both")
        payload = encoded_input if input is None else json.dumps(input)
        name = function_name or self.function_name
        kwargs: dict[str, Any] = {"execution_name": execution_name, "arm_timeout": arm_timeout}
        if execution_timeout is not None:
            kwargs["execution_timeout"] = execution_timeout
        arn = self.service.start_execution(name, payload, **kwargs)
        self._skip_to_timeout[arn] = execution_timeout is not None and arm_timeout
        self._started[arn] = _Started(name, tenant_id)
        return arn

    def run(
        self,
        input: Any = None,  # noqa: A002 - the official runner's name
        *,
        execution_name: str | None = None,
        execution_timeout: float | None = None,
        pause_on_callbacks: bool = False,
    ) -> TestResult:
        """Start an execution with ``input`` and drive it as far as it can go.

        Returns:
            The result once the execution ends, or with status ``RUNNING`` when it
            waits for something only the test can provide (see :meth:`resume`).
        """
        arn = self.start(input, execution_name=execution_name, execution_timeout=execution_timeout)
        return self.resume(arn, first=True, pause_on_callbacks=pause_on_callbacks)

    def resume(
        self, arn: str, *, first: bool = False, pause_on_callbacks: bool = False
    ) -> TestResult:
        """Drive an existing execution further (e.g. after answering a callback).

        Time is skipped whenever nothing else can happen: waits, retry delays and
        callback timeouts pass at once. The run stops (status ``RUNNING``) when the
        execution waits for something only the test can give: an unanswered
        callback with no timeout, or any unanswered callback when
        ``pause_on_callbacks`` is set. The execution's own timeout is skipped to
        only when it was given to :meth:`run` or :meth:`start`.

        Args:
            arn: The execution.
            first: Invoke at once even if nothing changed (a new execution).
            pause_on_callbacks: Stop instead of letting callbacks time out.
        """
        if self.freeze_wall_clock:
            from durable_exec.testing._wall_clock import follow_virtual_clock

            with follow_virtual_clock(self.clock):
                return self._drive(arn, first=first, pause_on_callbacks=pause_on_callbacks)
        return self._drive(arn, first=first, pause_on_callbacks=pause_on_callbacks)

    def _drive(self, arn: str, *, first: bool, pause_on_callbacks: bool) -> TestResult:
        service = self.service
        needs_invocation = first or service.is_runnable(arn)
        failures = 0
        while True:
            self._answer_callbacks(arn)
            progressed = self._dispatch_invokes(arn, pause_on_callbacks)
            if service.execution_status(arn) in _TERMINAL:
                break
            if needs_invocation or service.is_runnable(arn):
                needs_invocation = False
                error = self._invoke(arn)
                if error is not None:
                    failures += 1
                    if failures > self.max_invocation_retries:
                        if isinstance(error, SimulatedCrash):
                            raise RuntimeError(
                                f"the handler crashed {failures} invocations in a row"
                            ) from error
                        raise error
                    needs_invocation = True
                else:
                    failures = 0
                continue
            if progressed:
                continue
            due = service.next_due(
                arn,
                include_execution_timeout=self._skip_to_timeout.get(arn, False),
                include_callback_timeouts=not pause_on_callbacks,
            )
            if due is None:
                break
            self._advance_to(due)
            service.fire_due_timers()
        return self.result(arn)

    def _advance_to(self, due: float) -> None:
        clock = self.clock
        if isinstance(clock, VirtualClock):
            clock.advance_to(due)
        else:
            clock.sleep(max(0.0, due - clock.now()))

    def _invoke(self, arn: str) -> BaseException | None:
        """Invoke once; return the error if the invocation raised (Lambda would retry)."""
        outputs = self._outputs.setdefault(arn, [])
        if len(outputs) >= self.max_invocations:
            raise RuntimeError(
                f"execution {arn} used {self.max_invocations} invocations without finishing"
            )
        event = self.service.invocation_event(arn)
        started = self._started.get(arn, _Started(self.function_name))
        context = FakeLambdaContext(
            started.function_name,
            timeout=self.invocation_timeout,
            clock=self.clock,
            region=self.region,
            tenant_id=started.tenant_id,
        )
        try:
            output = run_invocation(
                self.handler, event, context, client=self._client, clock=self.clock
            )
        except (Exception, SimulatedCrash) as exc:
            self.service.record_invocation(arn, None, error=exc)
            outputs.append({"Status": "ERROR", "Error": repr(exc)})
            return exc
        outputs.append(output)
        self.service.record_invocation(arn, output)
        return None

    def _answer_callbacks(self, arn: str) -> None:
        for name, answer in self._answers.items():
            callback_id = self.service.callback_id(arn, name)
            if callback_id is None or callback_id in self._answered:
                continue
            self._answered.add(callback_id)
            if answer.error is not None:
                self.service.send_durable_execution_callback_failure(
                    CallbackId=callback_id, Error=answer.error
                )
            else:
                self.service.send_durable_execution_callback_success(
                    CallbackId=callback_id, Result=(answer.result or "").encode()
                )

    def _target(self, function_name: str) -> _Target | None:
        if function_name in self._targets:
            return self._targets[function_name]
        return self._targets.get(_bare_function_name(function_name))

    def _dispatch_invokes(self, arn: str, pause_on_callbacks: bool) -> bool:
        progressed = False
        for request in self.service.pending_chained_invokes(arn):
            progressed = True
            target = self._target(request.function_name)
            if target is None:
                self.service.complete_chained_invoke(
                    arn,
                    request.operation_id,
                    status="FAILED",
                    error={
                        "ErrorType": "ResourceNotFoundException",
                        "ErrorMessage": f"Function not found: {request.function_name}",
                    },
                )
                continue
            event = json.loads(request.payload) if request.payload else None
            if not target.durable:
                self._run_plain(arn, request.operation_id, target, event, request.function_name)
                continue
            child = DurableTestRunner(
                target.handler,
                service=self.service,
                clock=self.clock,
                function_name=_bare_function_name(request.function_name),
                invocation_timeout=self.invocation_timeout,
                region=self.region,
            )
            child._answers = self._answers
            child._answered = self._answered
            child._targets = self._targets
            child_arn = child.start(
                event,
                execution_timeout=target.execution_timeout,
                tenant_id=request.tenant_id,
                arm_timeout=target.arm_timeout,
            )
            self._children[(arn, request.operation_id)] = child_arn
            self._children_runners[child_arn] = child
        for (parent, op_id), child_arn in list(self._children.items()):
            if parent != arn:
                continue
            runner = self._children_runners[child_arn]
            outcome = runner.resume(
                child_arn,
                first=not runner._outputs.get(child_arn),
                pause_on_callbacks=pause_on_callbacks,
            )
            if outcome.status == "RUNNING":
                continue
            progressed = True
            del self._children[(parent, op_id)]
            if outcome.status == "SUCCEEDED":
                self.service.complete_chained_invoke(
                    arn, op_id, status="SUCCEEDED", result=outcome.result_payload
                )
            else:
                self.service.complete_chained_invoke(
                    arn,
                    op_id,
                    status=outcome.status,
                    error=outcome.error.to_wire() if outcome.error else None,
                )
        return progressed

    def _run_plain(
        self, arn: str, op_id: str, target: _Target, event: Any, function_name: str
    ) -> None:
        context = FakeLambdaContext(function_name, clock=self.clock, region=self.region)
        try:
            value = target.handler(event, context)
            payload = json.dumps(value)
        except Exception as exc:
            self.service.complete_chained_invoke(
                arn, op_id, status="FAILED", error=ErrorObject.from_exception(exc).to_wire()
            )
            return
        self.service.complete_chained_invoke(arn, op_id, status="SUCCEEDED", result=payload)

    # -- callbacks and results ----------------------------------------------------------

    def callback_id(self, arn: str, name: str) -> str:
        """Return the id of the callback named ``name``.

        ``name`` is the callback's own name or the name given to ``wait_for_callback``.
        """
        callback_id = self.service.callback_id(arn, name)
        if callback_id is None:
            raise KeyError(f"execution {arn} has no callback named {name!r} yet")
        return callback_id

    def send_callback_success(self, callback_id: str, result: str | bytes = b"") -> None:
        """Complete a callback successfully (``SendDurableExecutionCallbackSuccess``).

        ``result`` is sent as it is: the handler receives that string unless
        the callback's config has a serdes or a ``result_type`` that decodes it
        (see :meth:`on_callback`).
        """
        data = result.encode() if isinstance(result, str) else result
        self.service.send_durable_execution_callback_success(CallbackId=callback_id, Result=data)

    def send_callback_failure(
        self, callback_id: str, error: ErrorObject | dict[str, Any] | None = None
    ) -> None:
        """Fail a callback (``SendDurableExecutionCallbackFailure``)."""
        wire = error.to_wire() if isinstance(error, ErrorObject) else error
        self.service.send_durable_execution_callback_failure(
            CallbackId=callback_id, Error=wire or {}
        )

    def send_callback_heartbeat(self, callback_id: str) -> None:
        """Keep a callback alive (``SendDurableExecutionCallbackHeartbeat``)."""
        self.service.send_durable_execution_callback_heartbeat(CallbackId=callback_id)

    @property
    def api_calls(self) -> int:
        """Checkpoint calls made by every invocation so far."""
        return self._client.calls

    def result(self, arn: str) -> TestResult:
        """Return where execution ``arn`` stands now."""
        service = self.service
        status = service.execution_status(arn)
        payload = service.result(arn)
        raw_error = service.error(arn)
        return TestResult(
            arn=arn,
            status=status,
            result=json.loads(payload) if status == "SUCCEEDED" and payload else None,
            result_payload=payload,
            error=ErrorObject.from_wire(raw_error) if raw_error else None,
            operations=[Operation.from_wire(o) for o in service.operations(arn)],
            outputs=list(self._outputs.get(arn, [])),
            api_calls=self._client.calls,
            updates=self._client.updates,
            history=service.events(arn),
        )


def _bare_function_name(function_name: str) -> str:
    """``name``, ``name:alias`` or a function ARN (``arn:...:function:name[:alias]``) → ``name``."""
    return function_name.rsplit(":function:", maxsplit=1)[-1].split(":", maxsplit=1)[0]
