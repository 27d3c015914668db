"""The plugins of one invocation: building them, calling their hooks, keeping their failures in.

The rest of the SDK talks to plugins only through a :class:`PluginExecutor`,
and holds ``None`` instead when the handler registered no factory: every hook
point is then a single ``is None`` test, and this module is never imported.

Contract
--------

The rules below are what the hooks promise; the code in this module exists to
keep them, and the tests (``tests/plugins``, ``tests/interop``) check them,
partly against the official SDK running the same workflow.

Building (B)
  B1. Each factory's ``create_plugin(start_info)`` runs once per invocation, on
      the handler thread, before any hook. A factory that raises, returns
      ``None`` or returns something that is no plugin is logged and left out of
      this invocation; the others are unaffected.
  B2. A plugin is *started* from the moment its ``on_invocation_start`` is
      called, even if that call raises. Only started plugins get later hooks,
      so a plugin never sees an ending it did not see begin.

Timing (T)
  T1. ``on_invocation_start``: handler thread, before the handler body.
  T2. ``on_operation_start``: the thread about to queue an operation's START,
      just before it is queued (never when it cannot be queued any more); or
      the replaying thread, with ``is_replayed``, the first time replay meets
      an operation an earlier invocation left in progress (READY excepted).
  T3. ``on_user_function_start`` / ``_end``: around every call into user code
      (a step attempt, a child body, a condition check), on that code's
      thread; the end says SUCCEEDED, FAILED or INCOMPLETE (a suspension).
  T4. ``on_operation_end``: see the E rules.
  T5. ``on_operation_change``: see the C rules.
  T6. ``provide_propagation_metadata``: the invoking thread, before the
      START of a new chained invoke (never for a replayed one). The first
      non-blank header, in registration order, is used; a different one
      from a later plugin is logged and dropped.
  T7. ``on_invocation_end``: handler thread, strictly last. Before it, every
      end report still owed is delivered (E5) and the change courier has
      delivered its last notification and stopped (C3).

End reports (E): one ``on_operation_end`` per operation per invocation
  E1. An operation that has a terminal checkpoint is reported when this
      invocation learns it is terminal: from a checkpoint response, or by
      replaying an operation the service lists among the updated ones. One
      that was already terminal in an earlier invocation, and is not listed,
      is not reported again. Contexts without a checkpoint that records
      their outcome (virtual children, FLAT branches, contexts whose value is
      rebuilt from their children) are the exception: their thread reports
      them directly, on each run of their body.
  E2. Reports are written down by whoever sends the checkpoint (the
      checkpoint thread, or a blocked caller sending its own batch), ahead of
      the response's merge into the state, and delivered afterwards: by the first
      thread that goes on to *use* the result, before it does. That is the
      thread that was blocked on that very checkpoint (the report is held for
      it), or any thread that reads the terminal operation afterwards (a
      resumed branch, ``Callback.result``, replay).
  E3. A thread that wants a result whose report is held for another thread,
      or is being delivered by one, blocks until delivery is over. So user
      code never gets a result ahead of the plugins.
  E4. Delivering a report first delivers the unclaimed reports of the
      operation's descendants, bottom level first, so a child always ends
      before its parent (a callback created and never awaited, for one).
  E5. Reports nobody used are delivered by the handler thread after the
      operation threads are gone, oldest first, each with its descendants
      as in E4.
  E6. A thread that is itself inside a plugin hook neither delivers nor
      waits for a report; the report stays for the next user of the result.
      Hooks therefore never nest and never wait for one another.

Change notifications (C)
  C1. After each checkpoint response in which some operation's status moved,
      its sender posts one notification (never calling a plugin).
  C2. A courier thread, started by the first post, delivers them in posting
      order. Posting never blocks and never queues: a post that finds an
      undelivered notification folds into it, keeping for every reported
      operation its newest state and the newest full operation map.
  C3. The handler thread closes the courier before ``on_invocation_end``;
      what is still posted is delivered first. Should starting the courier
      thread fail, that is logged as a warning, and the handler thread hands
      over the one folded notification itself, at close.

Failures (F)
  F1. Whatever plugin code raises is logged on ``durable_exec.plugins`` and
      swallowed. Stop signals are let through (``KeyboardInterrupt``,
      ``SystemExit``, ``GeneratorExit``; an exception group holding one is
      split, and its other members are logged).
  F2. A stop signal leaves at once, through whichever SDK call fired the
      hook, except where every plugin must still be called first:
      ``on_invocation_end``, a change notification, and the end reports the
      handler thread delivers before the end. There the first signal is kept
      and raised after the round (after ``on_invocation_end``, for E5).
  F3. On the courier thread a stop signal is logged; the next notification
      still goes out.
  F4. If a stop signal interrupts a batch of end reports (E4), the rest of
      the batch is marked delivered without running: nobody waits on it, and
      it is not reported later.

Threads (L)
  L1. No plugin code runs while this module holds a lock.
  L2. Nothing started here outlives the invocation: the courier is joined in
      T7, and the executor serves exactly one invocation.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import enum
import inspect
import logging
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from durable_exec._clock import SYSTEM_CLOCK, Clock
from durable_exec._operation_ref import OperationRef
from durable_exec._plugin_api import (
    DurableInstrumentationPlugin,
    DurableInstrumentationPluginFactory,
    InvocationEndInfo,
    InvocationStartInfo,
    OperationChangeInfo,
    OperationEndInfo,
    OperationInfo,
    OperationStartInfo,
    OperationType,
    PropagationInput,
    PropagationMetadata,
    UserFunctionEndInfo,
    UserFunctionOutcome,
    UserFunctionStartInfo,
    operation_infos,
    to_datetime,
)
from durable_exec._plugin_official import OfficialTypes, official_types_for
from durable_exec._wire import (
    TERMINAL_STATUSES,
    ErrorObject,
    Operation,
    OperationAction,
    OperationStatus,
    OperationUpdate,
)
from durable_exec._wire import OperationType as WireOperationType

__all__ = ["OperationRef", "PluginExecutor", "PluginHost"]

logger = logging.getLogger("durable_exec.plugins")

T = TypeVar("T")

# F1: what a plugin may raise to stop the thread it runs on.
_STOP_SIGNALS = (KeyboardInterrupt, SystemExit, GeneratorExit)

_METHOD_FOR: dict[type, str] = {
    InvocationStartInfo: "on_invocation_start",
    InvocationEndInfo: "on_invocation_end",
    OperationStartInfo: "on_operation_start",
    OperationEndInfo: "on_operation_end",
    OperationChangeInfo: "on_operation_change",
    UserFunctionStartInfo: "on_user_function_start",
    UserFunctionEndInfo: "on_user_function_end",
}


def _class_label(value: object) -> str:
    """``module.Class`` of a value (or of a class), for log lines; never raises."""
    try:
        cls = value if isinstance(value, type) else type(value)
        label = f"{cls.__module__}.{cls.__qualname__}"
    except BaseException:  # naming a culprit must not create a new failure
        label = "<unnamed>"
    return label


def _split_failure(error: BaseException) -> tuple[BaseException | None, BaseException | None]:
    """Return ``(stop signal to re-raise, plugin defect to log)`` of what plugin code raised."""
    if isinstance(error, BaseExceptionGroup):
        return error.split(_STOP_SIGNALS)
    if isinstance(error, _STOP_SIGNALS):
        return error, None
    return None, error


def _absorb(error: BaseException, what: str, *args: object) -> BaseException | None:
    """F1: log the defect part of ``error``; hand back the stop signal, if any."""
    signal, defect = _split_failure(error)
    if defect is not None:
        with contextlib.suppress(Exception):
            logger.error(what, *args, exc_info=defect)
    return signal


@dataclasses.dataclass(slots=True)
class _Member:
    """One plugin instance of this invocation (B1), and whether it was started (B2)."""

    instance: Any
    official: OfficialTypes | None
    started: bool = False


# -- end reports (the E rules) ------------------------------------------------------------


class _Phase(enum.Enum):
    """Where one operation's end report is in its life."""

    OPEN = "open"  # written down; the first thread that uses the result delivers it
    HELD = "held"  # written down for the thread blocked on the operation's own checkpoint
    RUNNING = "running"  # a thread has taken it and is calling the plugins
    SETTLED = "settled"  # delivered, or dropped by a stop signal (F4): never again


@dataclasses.dataclass(slots=True, eq=False)
class _Report:
    operation_id: str
    parent_id: str | None
    info: OperationEndInfo | None  # dropped once settled: results can be large
    phase: _Phase


class _ReportBook:
    """Every end report of one invocation, with one lock and an explicit phase each.

    Transitions: (new) -> OPEN | HELD; OPEN -> OPEN (a newer state replaces the
    info); OPEN | HELD -> RUNNING (taken); RUNNING -> SETTLED. Two indexes are
    kept in step with the phases, so that no operation scans the whole book:
    the reports not yet taken, in the order they were written down (E5), and
    the OPEN ones under each parent id (E4).
    """

    def __init__(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self._by_id: dict[str, _Report] = {}  # guarded by _changed
        self._untaken: dict[str, _Report] = {}  # OPEN or HELD, oldest first
        self._open_children: dict[str | None, dict[str, _Report]] = {}

    def write(self, infos: Iterable[OperationEndInfo], held_for: Collection[str] = ()) -> None:
        """Write reports down (E2); an OPEN one already there takes the newer info."""
        with self._changed:
            for info in infos:
                report = self._by_id.get(info.operation_id)
                if report is None:
                    phase = _Phase.HELD if info.operation_id in held_for else _Phase.OPEN
                    report = _Report(info.operation_id, info.parent_id, info, phase)
                    self._by_id[info.operation_id] = report
                    self._index(report)
                elif report.phase is _Phase.OPEN:
                    report.info = info

    def write_if_new(self, info: OperationEndInfo) -> None:
        """Write a report replay found, unless this operation already has one."""
        with self._changed:
            if info.operation_id not in self._by_id:
                report = _Report(info.operation_id, info.parent_id, info, _Phase.OPEN)
                self._by_id[info.operation_id] = report
                self._index(report)

    def take(self, operation_id: str, *, holder: bool) -> list[tuple[_Report, OperationEndInfo]]:
        """Take what the calling thread must deliver before using the operation's result.

        ``holder``: the caller was blocked on this operation's own checkpoint.
        Blocks instead (E3), and returns nothing, when the report is another
        thread's to deliver.
        """
        with self._changed:
            report = self._by_id.get(operation_id)
            if report is None or report.phase is _Phase.SETTLED:
                return []
            if report.phase is _Phase.OPEN or (report.phase is _Phase.HELD and holder):
                return self._take_family(report)
            self._changed.wait_for(lambda: report.phase is _Phase.SETTLED)
            return []

    def take_oldest(self) -> list[tuple[_Report, OperationEndInfo]]:
        """Take the oldest report nobody took, with its family (E5); empty when none is left."""
        with self._changed:
            oldest = next(iter(self._untaken.values()), None)
            return [] if oldest is None else self._take_family(oldest)

    def settle(self, reports: Iterable[_Report]) -> None:
        """Mark reports delivered and wake the threads waiting for them."""
        with self._changed:
            for report in reports:
                report.phase = _Phase.SETTLED
                report.info = None
            self._changed.notify_all()

    def _index(self, report: _Report) -> None:
        self._untaken[report.operation_id] = report
        if report.phase is _Phase.OPEN:
            siblings = self._open_children.setdefault(report.parent_id, {})
            siblings[report.operation_id] = report

    def _unindex(self, report: _Report) -> None:
        self._untaken.pop(report.operation_id, None)
        siblings = self._open_children.get(report.parent_id)
        if siblings is not None:
            siblings.pop(report.operation_id, None)
            if not siblings:
                del self._open_children[report.parent_id]

    def _take_family(self, root: _Report) -> list[tuple[_Report, OperationEndInfo]]:
        """Move ``root`` and its OPEN descendants to RUNNING; return them bottom level first.

        Descendants are found level by level through the OPEN reports' parent
        ids; one that is HELD or RUNNING, and whatever lies below it, is left
        to its own thread. Within a level, later-written reports come first.
        """
        self._unindex(root)
        levels: list[list[_Report]] = [[root]]
        while True:
            below: list[_Report] = []
            for parent in levels[-1]:
                below.extend(self._open_children.pop(parent.operation_id, {}).values())
            if not below:
                break
            for report in below:
                self._untaken.pop(report.operation_id, None)
            levels.append(below)
        taken: list[tuple[_Report, OperationEndInfo]] = []
        for level in reversed(levels):
            for report in reversed(level):
                info = report.info
                report.phase = _Phase.RUNNING
                if info is not None:
                    taken.append((report, info))
        return taken


# -- change notifications (the C rules) ---------------------------------------------------


def _fold(waiting: OperationChangeInfo, newer: OperationChangeInfo) -> OperationChangeInfo:
    """C2: one notification standing for two, each reported operation in its newest state."""
    reported = dict(waiting.updated_operations)
    reported.update(newer.updated_operations)
    for op_id in reported:
        latest = newer.operations.get(op_id)
        if latest is not None:
            reported[op_id] = latest
    return OperationChangeInfo(newer.execution_arn, reported, newer.operations)


class _ChangeCourier:
    """Carries change notifications to the plugins on a thread of its own (C2, C3).

    ``deliver`` calls the plugins; it runs on the courier thread, or on the
    closing thread when no courier thread could be started.
    """

    def __init__(self, deliver: Callable[[OperationChangeInfo], None]) -> None:
        self._hand_over = deliver
        self._mailbox = threading.Condition(threading.Lock())
        self._letter: OperationChangeInfo | None = None  # guarded by _mailbox
        self._closed = False  # guarded by _mailbox
        worker = threading.Thread(
            target=self._serve, name=f"durable-plugin-change-{id(self):x}", daemon=True
        )
        try:
            worker.start()
        except RuntimeError:
            logger.warning(
                "no courier thread for on_operation_change could be started; the handler "
                "thread hands the plugins one merged notification when the invocation closes",
                exc_info=True,
            )
            self._worker: threading.Thread | None = None
        else:
            self._worker = worker

    def post(self, info: OperationChangeInfo) -> None:
        with self._mailbox:
            letter = self._letter
            self._letter = info if letter is None else _fold(letter, info)
            self._mailbox.notify()

    def close(self) -> None:
        """Deliver what is posted, stop the thread and wait for it (on the calling thread)."""
        with self._mailbox:
            self._closed = True
            self._mailbox.notify()
        if self._worker is not None:
            self._worker.join()
        with self._mailbox:
            leftover, self._letter = self._letter, None
        if leftover is not None:
            self._hand_over(leftover)  # no thread ran: stop signals reach the caller

    def _serve(self) -> None:
        while True:
            with self._mailbox:
                while self._letter is None and not self._closed:
                    self._mailbox.wait()
                letter, self._letter = self._letter, None
            if letter is None:
                return
            try:
                self._hand_over(letter)
            except BaseException:  # F3: a stop signal has no thread to stop here
                logger.exception("a stop signal from on_operation_change was ignored")


# -- the executor -------------------------------------------------------------------------


class PluginExecutor:
    """The plugins of one invocation, and every hook the SDK fires at them.

    Built per invocation from the handler's factories (never shared: concurrent
    invocations in one process each have their own); :meth:`run` opens its one
    invocation scope. The module docstring states the rules it keeps.

    Args:
        plugins: The registered factories.
        clock: Where hook timestamps are read.
    """

    def __init__(
        self,
        plugins: Sequence[DurableInstrumentationPluginFactory] | None,
        *,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._factories = list(plugins or [])
        self._clock = clock
        self._members: list[_Member] = []
        self._start_info: InvocationStartInfo | None = None
        self._read_operations: Callable[[], Mapping[str, Operation]] | None = None
        self._used = False
        self._plugin_frames = threading.local()  # E6: hook calls the thread is inside
        # Replay (T2, E1): what earlier invocations recorded, what the service says
        # changed meanwhile, and what replay has met so far.
        self._recorded_before: frozenset[str] = frozenset()
        self._changed_while_away: frozenset[str] = frozenset()
        self._lock = threading.Lock()
        self._met_on_replay: set[str] = set()  # guarded by _lock
        self._courier: _ChangeCourier | None = None  # guarded by _lock
        self._closing = False  # guarded by _lock: no courier starts after T7 began
        self._reports = _ReportBook()
        # Statuses a response moved (C1); touched by the checkpointer's sender, one at a time.
        self._moved: dict[str, Operation] = {}

    @property
    def has_plugins(self) -> bool:
        """Whether any factory is registered."""
        return bool(self._factories)

    # -- the invocation ------------------------------------------------------------

    @contextlib.contextmanager
    def run(self) -> Iterator[PluginExecutor]:
        """Scope the single invocation this executor is for; leaving it drops every plugin.

        Raises:
            RuntimeError: The executor already served an invocation.
        """
        if self._used:
            raise RuntimeError(
                "this PluginExecutor was used already and is good for one invocation only; "
                "create another"
            )
        self._used = True
        try:
            yield self
        finally:
            try:
                self._wind_down()
            finally:
                self._members = []
                self._start_info = None
                self._read_operations = None

    def on_invocation_start(
        self,
        execution_arn: str,
        is_first_invocation: bool,
        execution_start_time: Any,
        lambda_context: Any,
        execution_input: Any = None,
        operations_provider: Callable[[], Mapping[str, Operation]] | None = None,
        updated_operation_ids: Sequence[str] | None = None,
    ) -> None:
        """Build this invocation's plugins and send them ``on_invocation_start`` (B1, T1).

        Args:
            execution_arn: The execution.
            is_first_invocation: Nothing but the execution was recorded before.
            execution_start_time: When the execution started (datetime, or epoch seconds).
            lambda_context: Lambda's context (its ``aws_request_id`` is reported).
            execution_input: The handler's input; plugins get a deep copy.
            operations_provider: Returns the known operations, keyed by id.
            updated_operation_ids: What changed while the execution was suspended.
        """
        if not self._factories:
            return
        self._read_operations = operations_provider
        known = operations_provider() if operations_provider is not None else {}
        self._recorded_before = frozenset(
            op_id for op_id, op in known.items() if op.type is not WireOperationType.EXECUTION
        )
        self._changed_while_away = frozenset(updated_operation_ids or ())
        described = self._describe_operations()
        if isinstance(execution_start_time, int | float):
            execution_start_time = to_datetime(execution_start_time)
        info = InvocationStartInfo(
            request_id=getattr(lambda_context, "aws_request_id", None),
            execution_arn=execution_arn,
            is_first_invocation=is_first_invocation,
            execution_start_time=execution_start_time,
            execution_input=_detached_copy(execution_input),
            operations=described,
            updated_operations={
                op_id: described[op_id] for op_id in self._changed_while_away if op_id in described
            },
        )
        self._start_info = info
        self._members = self._build_members(info)
        self._call_plugins(info)

    def on_invocation_end(self, output: Any) -> None:
        """Deliver what is owed, then send ``on_invocation_end`` (T7, F2).

        Args:
            output: The output envelope the handler returns (or an object with
                ``status``, ``result`` and ``error``).
        """
        start = self._start_info
        if start is None:
            return
        first_signal: BaseException | None = None
        try:
            self._wind_down()
        except BaseException as signal:
            first_signal = signal
        info = InvocationEndInfo.from_durable_execution_invocation_output(
            start, output, operations=self._describe_operations()
        )
        try:
            self._call_plugins(info)
        except BaseException:
            if first_signal is not None:
                raise first_signal  # noqa: B904 - the earlier stop signal goes first
            raise
        if first_signal is not None:
            raise first_signal

    def on_invocation_failed(self, error: BaseException) -> None:
        """The invocation raised (Lambda retries it): send ``on_invocation_end`` with RETRY.

        What a plugin raises here is logged: the invocation's own error is the one
        that propagates.
        """
        try:
            self.on_invocation_end(
                {"Status": "RETRY", "Error": ErrorObject.from_exception(error).to_wire()}
            )
        except BaseException:
            logger.exception(
                "on_invocation_end of a failing invocation raised; logged here so the "
                "handler's error, not the plugin's, reaches Lambda"
            )

    # -- calling plugins -----------------------------------------------------------

    def _build_members(self, info: InvocationStartInfo) -> list[_Member]:
        members: list[_Member] = []
        for factory in self._factories:
            try:
                instance: Any = factory.create_plugin(info)
                official = official_types_for(instance)
                usable = official is not None or isinstance(instance, DurableInstrumentationPlugin)
            except BaseException as error:
                signal = _absorb(
                    error,
                    "factory %s raised in create_plugin; this invocation runs without its plugin",
                    _class_label(factory),
                )
                if signal is not None:
                    raise signal from None
                continue
            if instance is None:
                logger.error(
                    "create_plugin of %s gave None; this invocation runs without that plugin",
                    _class_label(factory),
                )
            elif not usable:
                logger.error(
                    "create_plugin of %s gave %s, no DurableInstrumentationPlugin (nor an "
                    "official-SDK plugin); this invocation runs without it",
                    _class_label(factory),
                    _class_label(instance),
                )
            else:
                members.append(_Member(instance, official))
        return members

    def _enter_plugin_code(self) -> None:
        frames = self._plugin_frames
        frames.depth = getattr(frames, "depth", 0) + 1

    def _leave_plugin_code(self) -> None:
        self._plugin_frames.depth -= 1

    def _inside_plugin_code(self) -> bool:
        return getattr(self._plugin_frames, "depth", 0) > 0

    def _call_plugins(self, info: Any, *, whole_round: bool = False) -> None:
        """Call one hook of every started plugin on this thread (B2, F1, F2).

        ``whole_round`` (implied for ``on_invocation_end``): a stop signal is
        kept until every plugin was called, then raised.
        """
        if not self._factories:
            return
        opening = type(info) is InvocationStartInfo
        whole_round = whole_round or type(info) is InvocationEndInfo
        method = _METHOD_FOR[type(info)]
        as_official: Any = None
        kept: BaseException | None = None
        self._enter_plugin_code()
        try:
            for member in self._members:
                if opening:
                    member.started = True  # B2: even if its start hook fails
                elif not member.started:
                    continue
                argument = info
                if member.official is not None:
                    if as_official is None:
                        as_official = member.official.convert(info)
                    argument = as_official
                try:
                    getattr(member.instance, method)(argument)
                except BaseException as error:
                    signal = _absorb(
                        error,
                        "plugin %s raised in %s; ignored",
                        _class_label(member.instance),
                        method,
                    )
                    if signal is None:
                        continue
                    if not whole_round:
                        raise signal from None
                    kept = kept or signal
        finally:
            self._leave_plugin_code()
        if kept is not None:
            raise kept

    def provide_propagation_metadata(self, info: PropagationInput) -> PropagationMetadata:
        """Ask the started plugins, in order, for a chained invoke's trace header (T6)."""
        offered: list[tuple[str, str]] = []
        for member in self._members:
            if not member.started:
                continue
            label = _class_label(member.instance)
            self._enter_plugin_code()
            try:
                header = _header_from(member, info)
            except Exception:
                logger.exception("plugin %s failed to provide propagation metadata; ignored", label)
                continue
            finally:
                self._leave_plugin_code()
            if header is not None and header.strip():
                offered.append((label, header))
        if not offered:
            return PropagationMetadata(x_amzn_trace_id=None)
        chosen_by, chosen = offered[0]
        for label, header in offered[1:]:
            if header != chosen:
                logger.warning(
                    "plugins %s and %s give different trace headers for an invoke; "
                    "keeping the first",
                    chosen_by,
                    label,
                )
        return PropagationMetadata(x_amzn_trace_id=chosen)

    # -- operations ------------------------------------------------------------------

    def _now(self) -> Any:
        return to_datetime(self._clock.now())

    def operation_starting(self, update: OperationUpdate, known: Operation | None) -> None:
        """An operation's START is about to be queued (``known``: its prior checkpoint; T2)."""
        if update.action is not OperationAction.START:
            return
        self._call_plugins(
            OperationStartInfo(
                operation_id=update.id,
                operation_type=OperationType(update.type.value),
                sub_type=update.sub_type,
                name=update.name,
                parent_id=update.parent_id,
                start_time=None,
                is_replayed=known is not None,
                status=OperationStatus.STARTED,
            )
        )

    def on_checkpoint_read(self, operation: Operation, *, replaying: bool = True) -> None:
        """An operation reads its checkpoint before acting on it (T2, E1, E2).

        ``replaying`` is False inside a virtual child context, where (as in the
        official SDK) replay is not reported.
        """
        op_id = operation.id
        if replaying and op_id in self._recorded_before and self._first_meeting(op_id):
            if op_id in self._changed_while_away:
                if operation.is_terminal:
                    self._reports.write_if_new(OperationEndInfo.from_terminal(operation))
            elif not operation.is_terminal and operation.status is not OperationStatus.READY:
                self._call_plugins(_replayed_start(operation))
        if operation.status in TERMINAL_STATUSES:
            self.observe_terminal(op_id)

    def _first_meeting(self, op_id: str) -> bool:
        with self._lock:
            if op_id in self._met_on_replay:
                return False
            self._met_on_replay.add(op_id)
            return True

    def run_user_function(
        self,
        ref: OperationRef,
        attempt: int | None,
        is_replay_children: bool,
        function: Callable[..., T],
        *args: Any,
    ) -> T:
        """Call user code between ``on_user_function_start`` and ``on_user_function_end`` (T3)."""
        start = UserFunctionStartInfo(
            operation_id=ref.operation_id,
            operation_type=OperationType(ref.operation_type.value),
            sub_type=ref.sub_type,
            name=ref.name,
            parent_id=ref.parent_id,
            start_time=self._now(),
            is_replayed=False,
            status=OperationStatus.STARTED,
            is_replay_children=is_replay_children,
            attempt=attempt,
        )
        self._call_plugins(start)
        outcome = UserFunctionOutcome.INCOMPLETE
        error: ErrorObject | None = None
        try:
            result = function(*args)
        except Exception as exc:
            outcome = UserFunctionOutcome.FAILED
            error = ErrorObject.from_exception(exc)
            raise
        else:
            outcome = UserFunctionOutcome.SUCCEEDED
            return result
        finally:
            self._call_plugins(
                UserFunctionEndInfo.from_start_info(
                    start, error, outcome=outcome, end_time=self._now()
                )
            )

    def on_child_context_end(
        self,
        ref: OperationRef,
        status: OperationStatus,
        *,
        error: ErrorObject | None = None,
        is_replayed: bool = False,
    ) -> None:
        """A child context without a terminal checkpoint of its own finished (E1)."""
        self._call_plugins(
            OperationEndInfo(
                operation_id=ref.operation_id,
                operation_type=OperationType(ref.operation_type.value),
                sub_type=ref.sub_type,
                name=ref.name,
                parent_id=ref.parent_id,
                start_time=None,
                end_time=self._now(),
                status=status,
                error=error,
                is_replayed=is_replayed,
            )
        )

    # -- checkpoint responses (whoever holds the sending turn; it calls no plugin) -------

    def before_publish(
        self,
        operations: Sequence[Operation],
        known: Callable[[str], Operation | None],
        waited_for: Collection[str] = (),
    ) -> None:
        """Write down a response's end reports and status moves, before it becomes readable.

        The reports of operations in ``waited_for`` (a thread sits blocked on
        their checkpoint, and this response releases it) are held for that
        thread (E2).
        """
        if not operations:
            return
        ended = [OperationEndInfo.from_terminal(op) for op in operations if op.is_terminal]
        if ended:
            self._reports.write(ended, waited_for)
        for op in operations:
            before = known(op.id)
            if before is None or before.status is not op.status:
                self._moved[op.id] = op

    def after_publish(self) -> None:
        """Post the change notification of the response just published (C1)."""
        moved, self._moved = self._moved, {}
        start = self._start_info
        if not moved or start is None:
            return
        info = OperationChangeInfo(
            start.execution_arn,
            {op_id: OperationInfo.from_operation(op) for op_id, op in moved.items()},
            self._describe_operations(),
        )
        with self._lock:
            if self._closing:
                return  # a response that straggled in after T7 began: nobody to tell
            courier = self._courier
            if courier is None:
                courier = self._courier = _ChangeCourier(self._deliver_change)
        courier.post(info)

    def _deliver_change(self, info: OperationChangeInfo) -> None:
        self._call_plugins(info, whole_round=True)

    # -- end reports -------------------------------------------------------------------

    def observe_terminal(self, operation_id: str, *, own_checkpoint: bool = False) -> None:
        """This thread is about to use a terminal operation's result: deliver its report first.

        ``own_checkpoint``: the thread was blocked on that operation's checkpoint
        (E2). Waits when another thread delivers it (E3); does nothing inside a
        plugin hook (E6) or when no report is owed.
        """
        if self._inside_plugin_code():
            return
        batch = self._reports.take(operation_id, holder=own_checkpoint)
        if batch:
            self._deliver_reports(batch)

    def _deliver_reports(self, batch: list[tuple[_Report, OperationEndInfo]]) -> None:
        for position, (report, info) in enumerate(batch):
            try:
                self._call_plugins(info)
            except BaseException:
                self._reports.settle(report for report, _ in batch[position:])  # F4
                raise
            self._reports.settle((report,))

    def _deliver_unclaimed(self) -> None:
        """E5 on the handler thread; the first stop signal is raised once all went out (F2)."""
        first_signal: BaseException | None = None
        while batch := self._reports.take_oldest():
            try:
                self._deliver_reports(batch)
            except BaseException as signal:
                first_signal = first_signal or signal
        if first_signal is not None:
            raise first_signal

    def _wind_down(self) -> None:
        """Everything owed before ``on_invocation_end``: unclaimed reports, then the courier."""
        try:
            self._deliver_unclaimed()
        finally:
            with self._lock:
                self._closing = True
                courier, self._courier = self._courier, None
            if courier is not None:
                courier.close()

    def _describe_operations(self) -> dict[str, OperationInfo]:
        read = self._read_operations
        if read is None or not self._factories:
            return {}
        try:
            return operation_infos(read())
        except Exception:
            logger.exception("reading the operations for a plugin hook failed; it gets none")
            return {}


def _header_from(member: _Member, info: PropagationInput) -> str | None:
    """One plugin's trace header for an invoke; TypeError when its answer has the wrong shape."""
    argument = member.official.convert(info) if member.official is not None else info
    answer: Any = member.instance.provide_propagation_metadata(argument)
    if answer is None:
        return None
    if inspect.iscoroutine(answer):
        answer.close()
        raise TypeError(
            "provide_propagation_metadata returned a coroutine; it is called synchronously"
        )
    accepted: tuple[type, ...] = (PropagationMetadata,)
    if member.official is not None:
        accepted += (member.official.metadata_class,)
    if not isinstance(answer, accepted):
        raise TypeError(f"expected PropagationMetadata or None, got {_class_label(answer)}")
    header: object = getattr(answer, "x_amzn_trace_id", None)
    if header is None:
        return None
    if not isinstance(header, str):
        raise TypeError(f"x_amzn_trace_id is {_class_label(header)}; give a str, or None")
    return str.__str__(header)  # a str subclass is read as plain text


def _replayed_start(operation: Operation) -> OperationStartInfo:
    return OperationStartInfo(
        operation_id=operation.id,
        operation_type=OperationType(operation.type.value),
        sub_type=operation.sub_type,
        name=operation.name,
        parent_id=operation.parent_id,
        start_time=to_datetime(operation.start_timestamp),
        is_replayed=True,
        status=operation.status,
    )


def _detached_copy(value: Any) -> Any:
    """The handler's input as plugins see it: a deep copy, so neither can change the other's."""
    if value is None:
        return None
    try:
        return copy.deepcopy(value)
    except Exception:
        logger.exception("the execution input cannot be deep-copied; plugins see None instead")
        return None


class PluginHost:
    """The plugin factories of one handler; hands out a fresh executor per invocation.

    Args:
        plugins: The factories.
    """

    def __init__(self, plugins: Sequence[DurableInstrumentationPluginFactory] | None) -> None:
        self._factories = list(plugins or [])

    @property
    def factories(self) -> list[DurableInstrumentationPluginFactory]:
        """The registered factories (a copy)."""
        return list(self._factories)

    @contextlib.contextmanager
    def invocation(self, *, clock: Clock = SYSTEM_CLOCK) -> Iterator[PluginExecutor]:
        """Yield a fresh executor, inside its invocation scope."""
        executor = PluginExecutor(self._factories, clock=clock)
        with executor.run():
            yield executor

    @property
    def handle_durable_output(self) -> Callable[[Callable[..., Any]], Callable[[Any, Any], Any]]:
        """Decorate ``body(event, context, executor) -> output`` so the end hook sees its outcome.

        The body calls ``executor.on_invocation_start(...)`` itself; the wrapper sends
        ``on_invocation_end`` with the returned envelope, or RETRY when it raises.
        """

        def decorate(body: Callable[..., Any]) -> Callable[[Any, Any], Any]:
            def wrapper(event: Any, context: Any) -> Any:
                with self.invocation() as executor:
                    try:
                        output = body(event, context, executor)
                    except BaseException as error:
                        executor.on_invocation_failed(error)
                        raise
                    executor.on_invocation_end(output)
                    return output

            wrapper.__wrapped__ = body  # type: ignore[attr-defined]
            return wrapper

        return decorate
