"""The official testing package's runner API, on durable_exec's ``DurableTestRunner``.

:class:`DurableFunctionTestRunner` takes the same arguments and has the same
methods as ``aws-durable-execution-sdk-python-testing`` 1.4.0's, so a test written
for it runs here once its imports say ``durable_exec``. Underneath, a
:class:`~durable_exec.testing.DurableTestRunner` drives the handler against the
in-process :class:`~durable_exec.testing.LocalDurableService`.

Time. The official runner skips waits and retry delays but lets callback
timeouts, the execution timeout and its own ``timeout`` arguments run in real
time. Here nothing runs in real time (unless ``skip_time=False``): the
execution is driven synchronously as far as it can go, waits and retries
passing at once, and whenever it can only wait for the test (a callback), the
runner skips over that wait instead of sleeping. Such *blocked* time is what the
execution timeout, a callback's timeout (when no wait passed meanwhile) and the
``timeout`` of ``wait_for_result`` / ``wait_for_callback`` measure, as real time
does in the official runner. docs/migrating.md lists every difference.
"""

from __future__ import annotations

import dataclasses
import json
import math
import uuid
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from durable_exec._clock import SYSTEM_CLOCK, Clock
from durable_exec._context import DurableContext
from durable_exec._errors import ValidationError
from durable_exec._handler import DurableHandler, durable_execution
from durable_exec._wire import ErrorObject
from durable_exec.testing._clock import VirtualClock
from durable_exec.testing._compat_errors import (
    DurableFunctionsTestError,
    InvalidParameterValueException,
    ResourceNotFoundException,
)
from durable_exec.testing._compat_result import (
    DurableFunctionTestResult,
    Event,
    GetDurableExecutionHistoryResponse,
)
from durable_exec.testing._runner import DurableTestRunner
from durable_exec.testing._service import LocalDurableService

if TYPE_CHECKING:
    from durable_exec.testing._store import ExecutionStore

__all__ = ["DurableChildContextTestRunner", "DurableFunctionTestRunner"]

DEFAULT_ACCOUNT = "123456789012"
"""The only account the local service models (the official runner's default)."""
DEFAULT_CHILD_EXECUTION_TIMEOUT = 120
"""A chained durable function's execution timeout when none is given (as the official runner)."""
DEFAULT_CHILD_RETENTION_DAYS = 1
INVOCATION_RETRIES = 4
"""Invocations retried after one that raised (Lambda's retry), before the execution fails."""
_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
_CALLBACK_DONE = frozenset({"CallbackSucceeded", "CallbackFailed", "CallbackTimedOut"})


def normalized_input(value: Any) -> str:
    """The execution input as the official runner stores it.

    A string that is valid JSON is kept as it is; anything else (a dict, a list,
    ``None``, a string that is not JSON) is JSON-encoded.
    """
    if isinstance(value, str):
        try:
            json.loads(value)
        except ValueError:
            return json.dumps(value)
        return value
    return json.dumps(value)


def callback_id_from_events(events: list[Event], name: str | None) -> str | None:
    """The id of the callback a test may answer now, per the official runner's rules.

    With ``name``: the first callback of that name, as soon as the invocation
    it was started in has ended. Without: the newest callback not completed whose
    invocation has ended. ``None`` if there is none (yet).

    Raises:
        DurableFunctionsTestError: The named callback has completed already.
    """
    started = [e for e in events if e.event_type == "CallbackStarted"]
    done = {e.operation_id for e in events if e.event_type in _CALLBACK_DONE}

    def settled(event: Event) -> bool:
        position = events.index(event)
        return any(e.event_type == "InvocationCompleted" for e in events[position + 1 :])

    def callback_id(event: Event) -> str | None:
        details = event.callback_started_details
        return None if details is None else details.callback_id

    if name is not None:
        for event in started:
            if event.name != name:
                continue
            if event.operation_id in done:
                msg = (
                    f"callback {name!r} is finished already (answered or timed out): wait for "
                    "the next one by another name, or read its outcome from the result"
                )
                raise DurableFunctionsTestError(msg)
            return callback_id(event) if settled(event) else None
        return None
    active = [e for e in started if e.operation_id not in done and settled(e)]
    return callback_id(active[-1]) if active else None


@dataclasses.dataclass
class _Tracked:
    """The runner's bookkeeping of one execution."""

    execution_timeout: float
    blocked: float = 0.0  # seconds skipped while the execution could only wait for the test
    paused: bool = False


class DurableFunctionTestRunner:
    """Run a durable handler in-process, with the official testing package's API.

    Use it as a context manager (or call :meth:`close`). Each execution is driven
    synchronously: :meth:`run_async` returns once the execution has finished or
    waits for something only the test provides (a callback); the callback
    senders record the answer and :meth:`wait_for_result` or
    :meth:`wait_for_callback` drive it on.

    Args:
        handler: A ``@durable_execution`` handler.
        poll_interval: Accepted for compatibility; must be positive. Nothing
            polls here: the runner knows when the execution can go on.
        max_invocation_page_bytes: Not supported (the local service pages
            invocation envelopes by operation count); must be ``None``.
        execution_timeout: Default execution timeout of :meth:`run` and
            :meth:`run_async`, in seconds of blocked time (see the module docs).
        invocation_timeout: Each invocation's time limit, as Lambda's context
            reports it (``get_remaining_time_in_millis``).
        store: Where executions are kept (a :class:`~durable_exec.testing.MemoryStore`
            by default; a :class:`~durable_exec.testing.SqliteStore` keeps them on disk).
        skip_time: Skip waits, retry delays and blocked time (default). With
            ``False`` the handler, the service and the runner run on real time.
        region: The region Lambda's context reports.

    Example:
        >>> with DurableFunctionTestRunner(handler=handler) as runner:  # doctest: +SKIP
        ...     result = runner.run(input='{"order_id": "o-1"}', execution_timeout=10)
        >>> result.status is InvocationStatus.SUCCEEDED  # doctest: +SKIP
        True
    """

    def __init__(
        self,
        handler: Callable[..., Any],
        poll_interval: float = 1.0,
        max_invocation_page_bytes: int | None = None,
        execution_timeout: int = 300,
        invocation_timeout: int = 900,
        store: ExecutionStore | None = None,
        skip_time: bool = True,
        region: str = "us-west-2",
    ) -> None:
        if not (isinstance(poll_interval, int | float) and poll_interval > 0):
            raise ValidationError(f"poll_interval must be a positive number, got {poll_interval!r}")
        if max_invocation_page_bytes is not None:
            raise ValidationError(
                "max_invocation_page_bytes is not supported: the local service pages "
                "invocation envelopes by operation count; use "
                "LocalDurableService(envelope_max_operations=...) with DurableTestRunner"
            )
        _check_timeout(execution_timeout, "execution_timeout")
        _check_timeout(invocation_timeout, "invocation_timeout")
        if not isinstance(handler, DurableHandler):
            raise ValidationError(
                "DurableFunctionTestRunner needs a handler decorated with "
                f"durable_exec's @durable_execution, got {handler!r}"
            )
        self.poll_interval = poll_interval
        self._execution_timeout = execution_timeout
        self._skip_time = skip_time
        self._clock: Clock = VirtualClock() if skip_time else SYSTEM_CLOCK
        self._service = LocalDurableService(self._clock, store=store)
        self._runner = DurableTestRunner(
            handler,
            service=self._service,
            clock=self._clock,
            invocation_timeout=float(invocation_timeout),
            region=region,
            max_invocation_retries=INVOCATION_RETRIES,
        )
        self._tracked: dict[str, _Tracked] = {}
        self._child_timeouts: dict[str, float] = {}  # function name -> execution timeout
        self._child_blocked: dict[str, float] = {}  # child execution ARN -> blocked seconds

    # -- set-up -------------------------------------------------------------------

    def register_durable_function(
        self,
        function_name: str,
        handler: Callable[..., Any],
        execution_timeout: int = DEFAULT_CHILD_EXECUTION_TIMEOUT,
        retention_period_days: int = DEFAULT_CHILD_RETENTION_DAYS,
    ) -> Self:
        """Make ``function_name`` a durable chained-invoke target.

        ``context.invoke(function_name, ...)`` runs ``handler`` as a child durable
        execution, whose ``execution_timeout`` is measured in blocked time like
        the parent's. Executions stay in the store as long as it lives, so
        ``retention_period_days`` (at least 1) is always met.

        Returns:
            The runner itself, so registrations can be chained.
        """
        _check_timeout(execution_timeout, "execution_timeout")
        if not (isinstance(retention_period_days, int) and retention_period_days >= 1):
            raise ValidationError(
                f"retention_period_days must be a whole number of days >= 1, "
                f"got {retention_period_days!r}"
            )
        self._runner.register_function(
            function_name,
            handler,
            durable=True,
            execution_timeout=float(execution_timeout),
            arm_timeout=not self._skip_time,
        )
        self._child_timeouts[function_name.split(":", 1)[0]] = float(execution_timeout)
        return self

    def register_function(self, function_name: str, handler: Callable[..., Any]) -> Self:
        """Make ``function_name`` a non-durable chained-invoke target: ``handler(event, ctx)``.

        Returns:
            The runner itself, so registrations can be chained.
        """
        self._runner.register_function(function_name, handler, durable=False)
        return self

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the runner. Nothing runs in the background, so there is nothing to stop."""

    # -- running ------------------------------------------------------------------

    def run(
        self,
        input: Any = None,  # noqa: A002 - the official runner's name
        execution_timeout: int | None = None,
        timeout: int | None = None,
        function_name: str = "test-function",
        execution_name: str = "execution-name",
        account_id: str = DEFAULT_ACCOUNT,
        tenant_id: str | None = None,
    ) -> DurableFunctionTestResult:
        """Start an execution and drive it to its end.

        Args:
            input: The input: a JSON string is passed as it is, anything else is
                JSON-encoded (a dict, or a string that is not JSON).
            execution_timeout: Seconds of blocked time before the execution times
                out, and before this call gives up (the runner's default if ``None``).
            timeout: Deprecated name of ``execution_timeout``.
            function_name: The function's name in the execution's ARN.
            execution_name: The execution's name (a suffix is added if the runner
                already used it: the local service, like AWS, wants unique names).
            account_id: Must be the default: the local service models one account.
            tenant_id: The tenant Lambda's context reports.

        Raises:
            TimeoutError: The execution did not finish within ``execution_timeout``.
        """
        if timeout is not None and execution_timeout is None:
            warnings.warn(
                "run(timeout=...) is deprecated: it means execution_timeout=..., so pass that",
                DeprecationWarning,
                stacklevel=2,
            )
            execution_timeout = timeout
        effective = self._execution_timeout if execution_timeout is None else execution_timeout
        arn = self.run_async(
            input=input,
            execution_timeout=effective,
            function_name=function_name,
            execution_name=execution_name,
            account_id=account_id,
            tenant_id=tenant_id,
        )
        return self.wait_for_result(execution_arn=arn, timeout=effective)

    def run_async(
        self,
        input: Any = None,  # noqa: A002 - the official runner's name
        execution_timeout: int | None = None,
        timeout: int | None = None,
        function_name: str = "test-function",
        execution_name: str = "execution-name",
        account_id: str = DEFAULT_ACCOUNT,
        tenant_id: str | None = None,
    ) -> str:
        """Start an execution and drive it until it ends or waits for the test; return its ARN.

        Arguments as for :meth:`run`. A handler that keeps raising an error Lambda
        retries (an ``InvocationError``) is invoked 5 times, then its execution
        fails with that error.
        """
        if timeout is not None and execution_timeout is None:
            execution_timeout = timeout
        effective = self._execution_timeout if execution_timeout is None else execution_timeout
        _check_timeout(effective, "execution_timeout")
        if account_id != DEFAULT_ACCOUNT:
            raise ValidationError(
                f"account_id {account_id!r} is not supported: the local service models "
                f"the one account {DEFAULT_ACCOUNT}"
            )
        arn = self._runner.start(
            encoded_input=normalized_input(input),
            execution_name=self._unique_name(function_name, execution_name),
            execution_timeout=float(effective),
            function_name=function_name,
            tenant_id=tenant_id,
            arm_timeout=not self._skip_time,
        )
        self._tracked[arn] = _Tracked(float(effective) if self._skip_time else math.inf)
        self._settle(arn)
        return arn

    def wait_for_result(self, execution_arn: str, timeout: int = 60) -> DurableFunctionTestResult:
        """Drive the execution to its end and return the result.

        Args:
            execution_arn: The execution.
            timeout: Seconds of blocked time to wait for it.

        Raises:
            TimeoutError: It did not end within ``timeout`` (e.g. it waits for a
                callback no one answers).
        """
        self._tracked_for(execution_arn)
        if not self._drive(execution_arn, timeout, lambda: False):
            msg = (
                f"{execution_arn} had not finished after {timeout}s: give a longer timeout, "
                "or answer the callbacks it waits for"
            )
            raise TimeoutError(msg)
        return DurableFunctionTestResult.create(self._runner.result(execution_arn))

    def wait_for_callback(
        self, execution_arn: str, name: str | None = None, timeout: int = 60
    ) -> str:
        """Drive the execution until a callback the test can answer exists; return its id.

        Args:
            execution_arn: The execution.
            name: The callback's name (its own operation name); without one, the
                newest open callback.
            timeout: Seconds of blocked time to wait for it.

        Raises:
            DurableFunctionsTestError: The callback called ``name`` is finished.
            TimeoutError: No such callback within ``timeout``.
        """
        self._tracked_for(execution_arn)
        found: list[str] = []

        def available() -> bool:
            callback_id = callback_id_from_events(self._events(execution_arn), name)
            if callback_id is not None:
                found.append(callback_id)
            return bool(found)

        self._drive(execution_arn, timeout, available)
        if found:
            return found[0]
        msg = (
            f"no callback{' named ' + repr(name) if name else ''} could be answered within "
            f"{timeout}s: check the handler creates it, or give a longer timeout"
        )
        raise TimeoutError(msg)

    def send_callback_success(self, callback_id: str, result: bytes | None = None) -> None:
        """Complete a callback with ``result`` (raw bytes, as the API takes them).

        The handler receives them as a string, not decoded as JSON, unless the
        callback's config has a serdes or a ``result_type`` (as with the official
        SDK): ``b"approved"`` arrives as ``"approved"``, ``b'"approved"'`` with
        its double quotes.
        """
        self._runner.send_callback_success(callback_id, result or b"")

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        """Fail a callback with ``error``."""
        self._runner.send_callback_failure(callback_id, error)

    def send_callback_heartbeat(self, callback_id: str) -> None:
        """Report that the work behind a callback is still alive."""
        self._runner.send_callback_heartbeat(callback_id)

    def get_execution_history(
        self, execution_arn: str, include_execution_data: bool = False
    ) -> GetDurableExecutionHistoryResponse:
        """Return every event of an execution (also of a chained child execution)."""
        return GetDurableExecutionHistoryResponse(
            self._events(execution_arn, include_data=include_execution_data)
        )

    def pause_execution(self, execution_arn: str, timeout: float = 60) -> None:
        """Experimental: stop driving an execution until :meth:`resume_execution`.

        Nothing runs in the background here, so no invocation is in flight to wait
        for; while paused, waiting for the execution times out.

        Raises:
            InvalidParameterValueException: ``execution_arn`` is empty.
            ResourceNotFoundException: No such execution.
            ValueError: ``timeout`` is not a number of seconds above 0.
        """
        if not (isinstance(timeout, int | float) and math.isfinite(timeout) and timeout > 0):
            msg = f"timeout must be a number of seconds above 0, not {timeout!r}"
            raise ValueError(msg)
        self._tracked_for(execution_arn).paused = True

    def resume_execution(self, execution_arn: str) -> None:
        """Experimental: drive a paused execution again (from the next wait_* call).

        Raises:
            InvalidParameterValueException: ``execution_arn`` is empty.
            ResourceNotFoundException: No such execution.
        """
        self._tracked_for(execution_arn).paused = False

    # -- internals ----------------------------------------------------------------

    def _tracked_for(self, arn: str) -> _Tracked:
        if not isinstance(arn, str) or not arn.strip():
            msg = "execution_arn must not be blank"
            raise InvalidParameterValueException(msg)
        tracked = self._tracked.get(arn)
        if tracked is None:
            msg = f"Execution {arn} not found"
            raise ResourceNotFoundException(msg)
        return tracked

    def _unique_name(self, function_name: str, name: str) -> str:
        taken = {
            summary["DurableExecutionName"]
            for summary in self._all_executions(function_name)
            if "DurableExecutionName" in summary
        }
        if name not in taken:
            return name
        suffix = uuid.uuid4().hex[:8]
        return f"{name[: 64 - len(suffix) - 1]}-{suffix}"

    def _all_executions(self, function_name: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {"FunctionName": function_name, "MaxItems": 1000}
            if marker:
                kwargs["Marker"] = marker
            page = self._service.list_durable_executions_by_function(**kwargs)
            found.extend(page.get("DurableExecutions", []))
            marker = page.get("NextMarker")
            if not marker:
                return found

    def _events(self, arn: str, *, include_data: bool = True) -> list[Event]:
        events: list[Event] = []
        marker: str | None = None
        while True:
            kwargs: dict[str, Any] = {
                "DurableExecutionArn": arn,
                "IncludeExecutionData": include_data,
                "MaxItems": 1000,
            }
            if marker:
                kwargs["Marker"] = marker
            try:
                page = self._service.get_durable_execution_history(**kwargs)
            except Exception as error:
                if _error_code(error) == "ResourceNotFoundException":
                    raise ResourceNotFoundException(f"Execution {arn} not found") from error
                raise
            events.extend(Event.from_dict(e) for e in page.get("Events", []))
            marker = page.get("NextMarker")
            if not marker:
                return events

    def _settle(self, arn: str) -> None:
        """Drive the execution as far as it goes without the test (waits and retries pass).

        A handler that keeps raising (Lambda would retry it) fails the execution
        once the retries run out, with the error it raised, as the official runner does.
        """
        if self._tracked[arn].paused:
            return
        try:
            self._runner.resume(arn, pause_on_callbacks=True)
        except Exception as error:
            self._service.fail_execution(arn, ErrorObject.from_exception(error).to_wire())

    def _drive(self, arn: str, timeout: float, done: Callable[[], bool]) -> bool:
        """Drive ``arn`` until ``done()`` or its end, within ``timeout`` seconds of blocked time.

        When the execution can only wait for the test, blocked time passes: up to
        the next callback (or heartbeat) timeout, the execution's own timeout (or
        a chained child's), or the end of ``timeout``, whichever comes first.
        Returns whether the execution ended or ``done()`` held.
        """
        tracked = self._tracked[arn]
        left = float(timeout)
        service = self._service
        while True:
            self._settle(arn)
            if done():
                return True
            if service.execution_status(arn) in _TERMINAL:
                return True
            due = (
                None
                if tracked.paused
                else service.next_due(arn, include_execution_timeout=not self._skip_time)
            )
            gap = None if due is None else max(0.0, due - self._clock.now())
            timeout_left = max(0.0, tracked.execution_timeout - tracked.blocked)
            children = self._children_left()
            child_left = min(children.values(), default=None)
            step = min(x for x in (gap, timeout_left, child_left, left) if x is not None)
            self._pass(step)
            tracked.blocked += step
            for child in children:
                self._child_blocked[child] = self._child_blocked.get(child, 0.0) + step
            left -= step
            if gap is not None and step >= gap:
                service.fire_due_timers()
                continue
            expired = [child for child, remaining in children.items() if step >= remaining]
            if expired:
                for child in expired:
                    service.time_out_execution(child)
                continue
            if step >= left:
                # On a tie with the execution's own timeout the caller's wait ends
                # first, as it does with the official runner's run().
                return False
            service.time_out_execution(arn)

    def _children_left(self) -> dict[str, float]:
        """Blocked seconds left to each running chained child, by ARN (blocked-time mode)."""
        if not self._skip_time:
            return {}
        left: dict[str, float] = {}
        for child, function_name in self._runner.running_children():
            budget = self._child_timeouts.get(function_name)
            if budget is not None:
                left[child] = max(0.0, budget - self._child_blocked.get(child, 0.0))
        return left

    def _pass(self, seconds: float) -> None:
        if isinstance(self._clock, VirtualClock):
            self._clock.advance(seconds)
        else:
            self._clock.sleep(seconds)


class DurableChildContextTestRunner(DurableFunctionTestRunner):
    """Test one ``@durable_with_child_context`` function on its own.

    The function, bound to ``args`` and ``kwargs``, becomes the body of a handler
    that ignores its event.

    Args:
        context_function: A function decorated with ``@durable_with_child_context``.
        *args: Its arguments.
        skip_time: As for :class:`DurableFunctionTestRunner`.
        **kwargs: Its keyword arguments.
    """

    def __init__(
        self,
        context_function: Callable[..., Callable[[DurableContext], Any]],
        *args: Any,
        skip_time: bool = True,
        **kwargs: Any,
    ) -> None:
        def body(event: Any, context: DurableContext) -> Any:
            del event
            return context_function(*args, **kwargs)(context)

        body.__name__ = getattr(context_function, "__name__", "child_context")
        super().__init__(durable_execution(body), skip_time=skip_time)


def _check_timeout(value: Any, what: str) -> None:
    if not (isinstance(value, int | float) and not isinstance(value, bool) and value > 0):
        raise ValidationError(f"{what} must be a positive number of seconds, got {value!r}")


def _error_code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return code if isinstance(code, str) else None
    return None
