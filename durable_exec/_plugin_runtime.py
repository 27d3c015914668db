"""One invocation's plugins: building them, dispatching hooks, containing failures.

The SDK reaches the plugins through one object, :class:`PluginExecutor`, and
only when a factory is registered: the handler, the checkpointer and the
operations hold ``None`` otherwise, so an execution without plugins pays one
``is None`` test per hook point.

End hooks follow the operation's result. The checkpoint thread runs no hook:
it *records* the end hook of every terminal operation a response reports,
before the operation becomes readable, and queues a change notification. The
thread that then observes the result runs the hook before acting on it: the
caller blocked on the checkpoint, or a thread that reads the operation later
(a resumed map branch, ``Callback.result``). A second thread that observes the
same result meanwhile waits for the hook. Hooks nobody claimed run on the
handler thread before ``on_invocation_end``. A completed descendant that no
thread read (a callback created and never awaited) runs before its ancestor.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import inspect
import logging
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, TypeVar, cast

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

# Raised by plugin code, these tell the running thread to stop: they are not
# plugin defects, so they are re-raised; everything else a plugin raises is logged.
_CONTROL = (KeyboardInterrupt, SystemExit, GeneratorExit)

_HOOKS: dict[type, str] = {
    InvocationStartInfo: "on_invocation_start",
    InvocationEndInfo: "on_invocation_end",
    OperationStartInfo: "on_operation_start",
    OperationEndInfo: "on_operation_end",
    OperationChangeInfo: "on_operation_change",
    UserFunctionStartInfo: "on_user_function_start",
    UserFunctionEndInfo: "on_user_function_end",
}


def _type_name(value: object) -> str:
    try:
        kind = value if isinstance(value, type) else type(value)
        name = f"{kind.__module__}.{kind.__qualname__}"
    except BaseException:  # a name is never worth failing for
        return "<unnamed>"
    return name


def _contain(error: BaseException, message: str, *args: object) -> BaseException | None:
    """Log what plugin code raised; return the part that must propagate (thread control)."""
    control: BaseException | None
    rest: BaseException | None
    if isinstance(error, BaseExceptionGroup):
        control, rest = error.split(_CONTROL)
    elif isinstance(error, _CONTROL):
        control, rest = error, None
    else:
        control, rest = None, error
    if rest is not None:
        with contextlib.suppress(Exception):
            logger.error(message, *args, exc_info=rest)
    return control


@dataclasses.dataclass(slots=True)
class _Plugin:
    instance: Any
    official: OfficialTypes | None


class _EndHook:
    """A recorded end hook; ``done`` is set once a thread owns it, and fired when it ran."""

    __slots__ = ("done", "info", "reserved")

    def __init__(self, info: OperationEndInfo, *, reserved: bool) -> None:
        self.info = info
        self.reserved = reserved  # kept for the caller blocked on this operation's checkpoint
        self.done: threading.Event | None = threading.Event() if reserved else None


def _merge_changes(
    pending: OperationChangeInfo, latest: OperationChangeInfo
) -> OperationChangeInfo:
    """One notification for two responses: every reported operation in its newest state."""
    updated = {
        op_id: latest.operations.get(op_id, info)
        for reported in (pending.updated_operations, latest.updated_operations)
        for op_id, info in reported.items()
    }
    return OperationChangeInfo(latest.execution_arn, updated, latest.operations)


class _ChangeThread:
    """Delivers ``on_operation_change`` in response order, with one merged pending slot.

    Whatever the plugins' speed, one notification is being delivered and at most
    one waits. Started on the first notification; joined before the invocation
    ends, so it never outlives it. If no thread can be started, the merged
    notification is delivered on the handler thread at the end.
    """

    def __init__(self, executor: PluginExecutor) -> None:
        self._executor = executor
        self._cond = threading.Condition()
        self._pending: OperationChangeInfo | None = None  # guarded by _cond
        self._stopping = False  # guarded by _cond
        self._thread: threading.Thread | None = threading.Thread(
            target=self._run, name=f"durable-plugin-change-{id(self):x}", daemon=True
        )
        try:
            self._thread.start()
        except RuntimeError:
            logger.warning(
                "the plugin change thread could not start; on_operation_change runs once, "
                "on the handler thread, before on_invocation_end",
                exc_info=True,
            )
            self._thread = None

    def submit(self, info: OperationChangeInfo) -> None:
        with self._cond:
            pending = self._pending
            self._pending = info if pending is None else _merge_changes(pending, info)
            self._cond.notify()

    def join(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
        with self._cond:
            info, self._pending = self._pending, None
        if info is not None:
            self._executor.execute_plugins(info, finish_fan_out=True)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stopping:
                    self._cond.wait()
                info, self._pending = self._pending, None
            if info is None:
                return
            try:
                self._executor.execute_plugins(info, finish_fan_out=True)
            except BaseException:
                logger.exception("a plugin's on_operation_change raised on the change thread")


class PluginExecutor:
    """The plugins of one invocation, and every hook the SDK fires at them.

    Built per invocation (never shared: concurrent invocations in one process
    each have their own) from the handler's factories. :meth:`run` opens its
    one invocation scope.

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
        self._plugins: list[_Plugin] = []
        self._started: list[_Plugin] = []  # plugins that were sent on_invocation_start
        self._start_info: InvocationStartInfo | None = None
        self._operations: Callable[[], Mapping[str, Operation]] | None = None
        self._entered = False
        self._depth = threading.local()  # how many hooks the current thread is inside
        # Replay: operations known when the invocation started, and those it has reported.
        self._history: frozenset[str] = frozenset()
        self._updated: frozenset[str] = frozenset()
        self._replayed: set[str] = set()  # guarded by _lock
        # End hooks, keyed by operation id in recording order, and those run or retired.
        self._lock = threading.Lock()
        self._end_hooks: dict[str, _EndHook] = {}  # guarded by _lock
        self._ended: set[str] = set()  # guarded by _lock
        # Change notifications: built on the checkpoint thread only.
        self._changed: dict[str, Operation] = {}
        self._change_thread: _ChangeThread | None = None  # guarded by _lock
        self._finished = False  # guarded by _lock: no change thread starts after the end

    @property
    def has_plugins(self) -> bool:
        """Whether any factory is registered."""
        return bool(self._factories)

    # -- the invocation ------------------------------------------------------------

    @contextlib.contextmanager
    def run(self) -> Iterator[PluginExecutor]:
        """Open this executor's one invocation scope; on exit nothing of it survives.

        Raises:
            RuntimeError: The executor already served an invocation.
        """
        if self._entered:
            raise RuntimeError(
                "a PluginExecutor serves one invocation; build a new one for each invocation"
            )
        self._entered = True
        try:
            yield self
        finally:
            try:
                self._finish_hooks()
            finally:
                self._plugins = []
                self._started = []
                self._start_info = None
                self._operations = None

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
        """Build this invocation's plugins and send them ``on_invocation_start``.

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
        self._operations = operations_provider
        operations = self._snapshot()
        known = operations_provider() if operations_provider is not None else {}
        self._history = frozenset(
            op_id for op_id, op in known.items() if op.type is not WireOperationType.EXECUTION
        )
        self._updated = frozenset(updated_operation_ids or ())
        start = (
            to_datetime(execution_start_time)
            if isinstance(execution_start_time, int | float)
            else execution_start_time
        )
        info = InvocationStartInfo(
            request_id=getattr(lambda_context, "aws_request_id", None),
            execution_arn=execution_arn,
            is_first_invocation=is_first_invocation,
            execution_start_time=start,
            execution_input=_copy_input(execution_input),
            operations=operations,
            updated_operations={
                op_id: operations[op_id] for op_id in self._updated if op_id in operations
            },
        )
        self._start_info = info
        self._plugins = self._create_plugins(info)
        self.execute_plugins(info)

    def on_invocation_end(self, output: Any) -> None:
        """Run what is left (unclaimed end hooks, the last change) and send ``on_invocation_end``.

        Args:
            output: The output envelope the handler returns (or an object with
                ``status``, ``result`` and ``error``).
        """
        start = self._start_info
        if start is None:
            return
        held: BaseException | None = None
        try:
            self._finish_hooks()
        except BaseException as control:
            held = control
        info = InvocationEndInfo.from_durable_execution_invocation_output(
            start, output, operations=self._snapshot()
        )
        try:
            self.execute_plugins(info)
        except BaseException:
            if held is not None:
                raise held  # noqa: B904 - the earlier stop instruction wins
            raise
        if held is not None:
            raise held

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
                "a plugin's invocation-end hook failed while the invocation was failing; "
                "the invocation's own error is raised"
            )

    # -- dispatch ------------------------------------------------------------------

    def _create_plugins(self, info: InvocationStartInfo) -> list[_Plugin]:
        plugins: list[_Plugin] = []
        for factory in self._factories:
            try:
                instance: Any = factory.create_plugin(info)
                official = official_types_for(instance)
                usable = official is not None or isinstance(instance, DurableInstrumentationPlugin)
            except BaseException as error:
                control = _contain(error, "plugin factory %s raised; skipped", _type_name(factory))
                if control is not None:
                    raise control from None
                continue
            if instance is None:
                logger.error("plugin factory %s returned None; skipped", _type_name(factory))
                continue
            if not usable:
                logger.error(
                    "plugin factory %s returned %s, which is not a DurableInstrumentationPlugin; "
                    "skipped",
                    _type_name(factory),
                    _type_name(instance),
                )
                continue
            plugins.append(_Plugin(instance, official))
        return plugins

    def execute_plugins(self, info: Any, *, finish_fan_out: bool = False) -> None:
        """Send one hook to every started plugin, on the calling thread.

        A plugin receives hooks only after its ``on_invocation_start``. A
        KeyboardInterrupt, SystemExit or GeneratorExit raised by a plugin
        propagates; for the invocation-end hook (or with ``finish_fan_out``)
        only once every plugin got the hook.
        """
        if not self._factories:
            return
        starting = type(info) is InvocationStartInfo
        finishing = finish_fan_out or type(info) is InvocationEndInfo
        method = _HOOKS[type(info)]
        held: BaseException | None = None
        converted: Any = None
        depth = self._depth
        depth.value = getattr(depth, "value", 0) + 1
        try:
            for plugin in self._plugins if starting else list(self._started):
                if starting:
                    self._started.append(plugin)  # even a failed start may need its end
                if plugin.official is not None and converted is None:
                    converted = plugin.official.convert(info)
                argument = converted if plugin.official is not None else info
                try:
                    getattr(plugin.instance, method)(argument)
                except BaseException as error:
                    control = _contain(
                        error,
                        "plugin %s raised in %s; ignored",
                        _type_name(plugin.instance),
                        method,
                    )
                    if control is None:
                        continue
                    if not finishing:
                        raise control from None
                    if held is None:
                        held = control
        finally:
            depth.value -= 1
        if held is not None:
            raise held

    def _in_hook(self) -> bool:
        return getattr(self._depth, "value", 0) > 0

    def provide_propagation_metadata(self, info: PropagationInput) -> PropagationMetadata:
        """Ask the plugins, in order, for a chained invoke's trace header (the first wins)."""
        value: str | None = None
        owner = ""
        depth = self._depth
        for plugin in list(self._started):
            name = _type_name(plugin.instance)
            depth.value = getattr(depth, "value", 0) + 1
            try:
                argument = plugin.official.convert(info) if plugin.official is not None else info
                metadata: Any = plugin.instance.provide_propagation_metadata(argument)
                if metadata is None:
                    continue
                if inspect.iscoroutine(metadata):
                    metadata.close()
                    raise TypeError("provide_propagation_metadata must be synchronous")
                allowed = (PropagationMetadata,) + (
                    (plugin.official.metadata_class,) if plugin.official is not None else ()
                )
                if not isinstance(metadata, allowed):
                    raise TypeError(
                        f"expected PropagationMetadata or None, got {_type_name(metadata)}"
                    )
                candidate = cast("Any", metadata).x_amzn_trace_id
                if candidate is not None and not isinstance(candidate, str):
                    raise TypeError("x_amzn_trace_id must be a string or None")
            except Exception:
                logger.exception("plugin %s failed to provide propagation metadata; ignored", name)
                continue
            finally:
                depth.value -= 1
            if candidate is None or not candidate.strip():
                continue
            candidate = str.__str__(candidate)
            if value is None:
                value, owner = candidate, name
            elif candidate != value:
                logger.warning(
                    "plugins %s and %s give different trace headers for an invoke; "
                    "keeping the first",
                    owner,
                    name,
                )
        return PropagationMetadata(x_amzn_trace_id=value)

    # -- operations ------------------------------------------------------------------

    def _now(self) -> Any:
        return to_datetime(self._clock.now())

    def operation_starting(self, update: OperationUpdate, known: Operation | None) -> None:
        """An operation's START is about to be queued (``known``: its prior checkpoint)."""
        if update.action is not OperationAction.START:
            return
        self.execute_plugins(
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
        """An operation reads its checkpoint before acting on it.

        The first time replay reaches an operation an earlier invocation recorded,
        plugins hear of it: one that changed while the execution was suspended
        and is now terminal ends; one still in progress (not READY) starts, as
        replayed. Not inside a virtual child context (``replaying`` False), where
        the official SDK reports nothing of the kind. Then a terminal result's
        recorded end hook runs here.
        """
        op_id = operation.id
        if replaying and op_id in self._history:
            with self._lock:
                first = op_id not in self._replayed
                self._replayed.add(op_id)
            if first:
                if op_id in self._updated:
                    if operation.is_terminal:
                        self._run_end_hook_once(OperationEndInfo.from_terminal(operation))
                elif not operation.is_terminal and operation.status is not OperationStatus.READY:
                    self.execute_plugins(_replayed_start(operation))
        if operation.status in TERMINAL_STATUSES:
            self.claim_end_hook(op_id)

    def run_user_function(
        self,
        ref: OperationRef,
        attempt: int | None,
        is_replay_children: bool,
        function: Callable[..., T],
        *args: Any,
    ) -> T:
        """Call user code between ``on_user_function_start`` and ``on_user_function_end``."""
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
        self.execute_plugins(start)
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
            self.execute_plugins(
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
        """A child context without a terminal checkpoint of its own returned (or raised)."""
        self.execute_plugins(
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

    # -- checkpoint responses (the checkpoint thread) ---------------------------------

    def before_publish(
        self,
        operations: Sequence[Operation],
        known: Callable[[str], Operation | None],
        waited_for: Collection[str] = (),
    ) -> None:
        """Record a response's end hooks and changes, before its operations become readable.

        Runs no hook. ``waited_for`` names the operations whose blocked caller
        this response wakes: their end hooks are kept for that caller.
        """
        if not operations:
            return
        infos = [OperationEndInfo.from_terminal(op) for op in operations if op.is_terminal]
        if infos:
            with self._lock:
                for info in infos:
                    op_id = info.operation_id
                    if op_id in self._ended:
                        continue
                    entry = self._end_hooks.get(op_id)
                    if entry is None:
                        self._end_hooks[op_id] = _EndHook(info, reserved=op_id in waited_for)
                    elif entry.done is None:
                        entry.info = info
        for op in operations:
            previous = known(op.id)
            if previous is None or previous.status is not op.status:
                self._changed[op.id] = op

    def after_publish(self) -> None:
        """Queue the change notification of the response just published (runs no hook)."""
        if not self._changed or self._start_info is None:
            self._changed.clear()
            return
        updated = {op_id: OperationInfo.from_operation(op) for op_id, op in self._changed.items()}
        self._changed = {}
        info = OperationChangeInfo(self._start_info.execution_arn, updated, self._snapshot())
        with self._lock:
            if self._finished:
                return  # a straggling response after the invocation ended: nobody to tell
            thread = self._change_thread
            if thread is None:
                thread = self._change_thread = _ChangeThread(self)
        thread.submit(info)

    # -- end hooks -------------------------------------------------------------------

    def claim_end_hook(self, operation_id: str, *, waiter: bool = False) -> None:
        """Run (or wait for) the recorded end hook of an operation whose result this thread read.

        ``waiter``: the caller was blocked on the operation's own checkpoint.
        Nothing happens inside a hook, or when no hook is recorded.
        """
        if self._in_hook():
            return
        to_wait: threading.Event | None = None
        to_run: list[_EndHook] = []
        with self._lock:
            entry = self._end_hooks.get(operation_id)
            if entry is None:
                return
            if entry.done is not None and not (waiter and entry.reserved):
                to_wait = entry.done
            else:
                to_run = self._take_tree(entry)
        if to_wait is not None:
            to_wait.wait()
        if to_run:
            self._run_hooks(to_run)

    def _take_tree(self, root: _EndHook) -> list[_EndHook]:
        """Own ``root`` and its unowned recorded descendants; return them deepest first."""
        unowned = [e for e in self._end_hooks.values() if e.done is None and e is not root]
        ordered = [root]
        index = 0
        while index < len(ordered):
            parent = ordered[index].info.operation_id
            for entry in unowned:
                if entry.info.parent_id == parent and entry not in ordered:
                    ordered.append(entry)
            index += 1
        for entry in ordered:
            if entry.done is None:
                entry.done = threading.Event()
            entry.reserved = False
        ordered.reverse()
        return ordered

    def _run_hooks(self, entries: list[_EndHook]) -> None:
        for index, entry in enumerate(entries):
            try:
                self.execute_plugins(entry.info)
            except BaseException:
                for skipped in entries[index + 1 :]:
                    self._retire(skipped)
                raise
            finally:
                self._retire(entry)

    def _retire(self, entry: _EndHook) -> None:
        with self._lock:
            self._end_hooks.pop(entry.info.operation_id, None)
            self._ended.add(entry.info.operation_id)
        if entry.done is not None:
            entry.done.set()

    def _run_end_hook_once(self, info: OperationEndInfo) -> None:
        """Report an operation replay found terminal, unless this invocation already did."""
        with self._lock:
            if info.operation_id in self._ended:
                return
            if info.operation_id not in self._end_hooks:
                self._end_hooks[info.operation_id] = _EndHook(info, reserved=False)
        self.claim_end_hook(info.operation_id)

    def drain_end_hooks(self) -> None:
        """Run every end hook no thread claimed (handler thread, nothing else running)."""
        held: BaseException | None = None
        while True:
            with self._lock:
                entry = next(
                    (e for e in self._end_hooks.values() if e.done is None or e.reserved), None
                )
                if entry is None:
                    break
                entries = self._take_tree(entry)
            try:
                self._run_hooks(entries)
            except BaseException as control:
                if held is None:
                    held = control
        if held is not None:
            raise held

    def _finish_hooks(self) -> None:
        try:
            self.drain_end_hooks()
        finally:
            with self._lock:
                self._finished = True
                thread, self._change_thread = self._change_thread, None
            if thread is not None:
                thread.join()

    def _snapshot(self) -> dict[str, OperationInfo]:
        provider = self._operations
        if provider is None or not self._factories:
            return {}
        try:
            return operation_infos(provider())
        except Exception:
            logger.exception("could not describe the operations for a plugin hook")
            return {}


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


def _copy_input(value: Any) -> Any:
    if value is None:
        return None
    try:
        return copy.deepcopy(value)
    except Exception:
        logger.exception("could not copy the execution input for plugins; they get None")
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
        """Open one invocation's scope and yield its executor."""
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
