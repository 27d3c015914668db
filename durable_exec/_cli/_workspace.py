"""A project's local executions: where the store is, and typed reads and writes over it.

:func:`locate_store` finds the store as git finds ``.git/``: ``--store PATH``,
else ``$DURABLE_EXEC_STORE``, else the nearest ``.durable/executions.db``
walking up from the current directory, else ``./.durable/executions.db``
(created only by a command that starts an execution).

:class:`Workspace` is the one API over that store for the command line and
for tools built on it (the web console): paginated listings, one execution's
description, operations, history and view, the callbacks executions wait
for, answering those callbacks, stopping an execution, and driving one
further (:meth:`Workspace.resume`). Every method raises
:class:`~durable_exec._cli._errors.CliError` with a one-line message that
names the store for anything it cannot find.

Time is virtual per execution tree: a new execution starts at the real time,
and each tree keeps how far its virtual clock runs ahead of the real one
(an annotation), so start times in listings are real and a tree's history
never runs backwards across commands.

A :class:`Workspace` may be shared by threads: the store and the service
serialise their own calls. Driving executions (:meth:`Workspace.run_driver`)
holds a lease on the execution tree, so two processes never drive one tree
at once; a lease or invocation left by a process that died is taken over.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Self

from durable_exec._cli._errors import EXIT_WAITING, CliError
from durable_exec._cli._loader import HandlerSpec, load_handler
from durable_exec._cli._owner import current_owner, describe_owner, owner_alive
from durable_exec._clock import SYSTEM_CLOCK, Clock
from durable_exec.testing._clock import VirtualClock
from durable_exec.testing._sqlite_store import (
    ExecutionPage,
    OpenCallback,
    SqliteStore,
    StoredExecution,
    StoredOperation,
    StoreError,
)

if TYPE_CHECKING:
    from durable_exec._cli._driver import Driver
    from durable_exec._cli._progress import Progress
    from durable_exec._cli._view import ExecutionView
    from durable_exec.testing._service import LocalDurableService

__all__ = [
    "DRIVER_KEY",
    "PARENT_KEY",
    "PARENT_OPERATION_KEY",
    "RUN_KEY",
    "STORE_DIR",
    "STORE_ENV",
    "STORE_FILE",
    "ExecutionPage",
    "OpenCallback",
    "RunRecord",
    "StoreLocation",
    "StoredExecution",
    "Workspace",
    "locate_store",
]

STORE_DIR: Final = ".durable"
STORE_FILE: Final = "executions.db"
STORE_ENV: Final = "DURABLE_EXEC_STORE"
LOCK_TIMEOUT_ENV: Final = "DURABLE_EXEC_LOCK_TIMEOUT"
RUN_KEY: Final = "durable-exec.run"
PARENT_KEY: Final = "durable-exec.parent"
PARENT_OPERATION_KEY: Final = "durable-exec.parent-operation"
DRIVER_KEY: Final = "durable-exec.driver"
CLOCK_KEY: Final = "durable-exec.clock-offset"
TERMINAL: Final = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})


# ------------------------------------------------------------------ locating


@dataclasses.dataclass(frozen=True, slots=True)
class StoreLocation:
    """Where the store is and how it was found.

    Attributes:
        path: The store file.
        source: ``option`` (``--store``), ``environment`` (``$DURABLE_EXEC_STORE``),
            ``found`` (a ``.durable/`` walking up from ``start``) or ``default``
            (none found: a new one goes in ``start``).
        start: The directory the search started from.
    """

    path: Path
    source: Literal["option", "environment", "found", "default"]
    start: Path

    def describe(self) -> str:
        """Say how the store was chosen, in a few words."""
        if self.source == "option":
            return "given with --store"
        if self.source == "environment":
            return f"given with ${STORE_ENV}"
        if self.source == "found":
            return f"found walking up from {self.start}"
        return f"none found walking up from {self.start}; `durable-exec run` creates it here"


def locate_store(
    option: str | os.PathLike[str] | None = None,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> StoreLocation:
    """Find the store: ``--store``, ``$DURABLE_EXEC_STORE``, the nearest ``.durable/``, or here.

    Args:
        option: The ``--store`` value, if given.
        cwd: Where to start the search (the current directory by default).
        environ: The environment (``os.environ`` by default).
    """
    start = (cwd or Path.cwd()).absolute()
    env = os.environ if environ is None else environ
    if option:
        return StoreLocation(Path(option), "option", start)
    if env.get(STORE_ENV):
        return StoreLocation(Path(env[STORE_ENV]), "environment", start)
    for directory in (start, *start.parents):
        candidate = directory / STORE_DIR
        if candidate.is_dir():
            return StoreLocation(candidate / STORE_FILE, "found", start)
    return StoreLocation(start / STORE_DIR / STORE_FILE, "default", start)


def _lock_timeout() -> float:
    raw = os.environ.get(LOCK_TIMEOUT_ENV)
    if not raw:
        return 5.0
    try:
        value = float(raw)
    except ValueError:
        raise CliError(f"${LOCK_TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    return max(0.0, value)


# ------------------------------------------------------------------ metadata


@dataclasses.dataclass(frozen=True, slots=True)
class RunRecord:
    """What ``run`` records so that ``resume`` can drive the execution later.

    Attributes:
        handler: The execution's handler.
        functions: Chained-invoke targets by name (``--function``).
        real_time: Whether it runs on the system clock.
    """

    handler: HandlerSpec
    functions: dict[str, HandlerSpec]
    real_time: bool

    def dumps(self) -> str:
        """Return the record as JSON text."""
        return json.dumps(
            {
                "handler": self.handler.to_json(),
                "functions": {name: spec.to_json() for name, spec in self.functions.items()},
                "real_time": self.real_time,
            }
        )

    @classmethod
    def loads(cls, text: str) -> RunRecord:
        """Parse what :meth:`dumps` wrote.

        Raises:
            CliError: The text is not a run record.
        """
        try:
            data: Any = json.loads(text)
            return cls(
                HandlerSpec.from_json(data["handler"]),
                {name: HandlerSpec.from_json(s) for name, s in dict(data["functions"]).items()},
                bool(data.get("real_time", False)),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise CliError(
                f"the store holds an unreadable run record ({type(exc).__name__})"
            ) from exc

    def files(self) -> list[str]:
        """Return what running this record imports: files and modules, handler first."""
        specs = [self.handler, *self.functions.values()]
        found = [spec.target if spec.is_path else f"module {spec.target}" for spec in specs]
        return list(dict.fromkeys(found))


class OffsetClock:
    """The real clock, shifted ``offset`` seconds ahead (a tree resumed in real time).

    Args:
        offset: Seconds this clock's ``now`` runs ahead of the system clock.
    """

    __slots__ = ("offset",)

    def __init__(self, offset: float) -> None:
        self.offset = offset

    def now(self) -> float:
        """Return the system time plus the offset."""
        return SYSTEM_CLOCK.now() + self.offset

    def monotonic(self) -> float:
        """Return the system monotonic time."""
        return SYSTEM_CLOCK.monotonic()

    def sleep(self, seconds: float) -> None:
        """Really sleep."""
        SYSTEM_CLOCK.sleep(seconds)

    def timeout_until(self, due: float) -> float:
        """Return the real seconds until ``due`` on this clock."""
        return max(0.0, due - self.now())

    def skip_to(self, due: float) -> None:
        """Do nothing: real time cannot be moved."""


# ------------------------------------------------------------------ the workspace


class Workspace:
    """The local store of a project, with typed reads and the writes a console needs.

    Args:
        location: Where the store is (:func:`locate_store`).
        create: Create the store file (and ``.durable/`` with a ``.gitignore``)
            if it is missing. Otherwise a missing store reads as empty.

    Raises:
        CliError: The store is locked, corrupt, untrusted, or cannot be created.

    Example:
        >>> with Workspace.open() as workspace:  # doctest: +SKIP
        ...     page = workspace.list_executions(status="RUNNING", limit=20)
        ...     for callback in workspace.open_callbacks():
        ...         workspace.send_callback_success(callback.callback_id, "approved")
    """

    def __init__(self, location: StoreLocation, *, create: bool = False) -> None:
        self.location = location
        self.path = location.path
        self.store: SqliteStore | None = None
        path = location.path
        if create or os.path.lexists(path):
            new_directory = not path.parent.exists()
            try:
                self.store = SqliteStore(path, timeout=_lock_timeout(), create=create)
            except StoreError as exc:
                raise CliError(str(exc), kind="store") from exc
            if new_directory and path.parent.name == STORE_DIR:
                # Keep local executions (inputs, results) out of version control.
                with contextlib.suppress(OSError):
                    (path.parent / ".gitignore").write_text("*\n")

    @classmethod
    def open(
        cls, store: str | os.PathLike[str] | None = None, *, create: bool = False
    ) -> Workspace:
        """Open the store :func:`locate_store` finds from the current directory.

        Args:
            store: An explicit store file (``--store``), if any.
            create: Create it if missing.
        """
        return cls(locate_store(store), create=create)

    def close(self) -> None:
        """Close the store."""
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace({os.fspath(self.path)!r})"

    @property
    def where(self) -> str:
        """``the store PATH``, for messages."""
        return f"the store {self.path}"

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except StoreError as exc:
            raise CliError(str(exc), kind="store") from exc

    def _need_store(self) -> SqliteStore:
        if self.store is None:
            raise CliError(
                f"there is no store at {self.path} ({self.location.describe()}); "
                "`durable-exec run` creates it",
                kind="not_found",
            )
        return self.store

    # ---------------------------------------------------------------- clocks

    def clock_offset(self, arn: str) -> float:
        """Return how far the virtual clock of ``arn``'s tree runs ahead of real time."""
        if self.store is None:
            return 0.0
        root = self.root_of(arn)
        with self._errors():
            text = self.store.annotation(root, CLOCK_KEY)
        try:
            return max(0.0, float(text)) if text else 0.0
        except ValueError:
            return 0.0

    def clock_for(self, arn: str | None, *, real_time: bool = False) -> Clock:
        """Return the clock for work on ``arn``'s tree (real now for None).

        Virtual time starts where the tree's virtual time is now; ``real_time``
        uses the system clock shifted by that same offset.
        """
        offset = self.clock_offset(arn) if arn is not None else 0.0
        if real_time:
            return OffsetClock(offset) if offset else SYSTEM_CLOCK
        return VirtualClock(SYSTEM_CLOCK.now() + offset)

    def save_clock(self, arn: str, clock: Clock) -> None:
        """Remember how far ``clock`` runs ahead of real time, for ``arn``'s tree."""
        store = self._need_store()
        offset = max(0.0, clock.now() - SYSTEM_CLOCK.now())
        with self._errors():
            store.annotate(self.root_of(arn), CLOCK_KEY, repr(offset))

    def service(self, arn: str | None = None, *, real_time: bool = False) -> LocalDurableService:
        """Return a local service over the store, its clock set for ``arn``'s tree."""
        # Reading commands (list, show, info) never load the service.
        from durable_exec.testing._service import LocalDurableService

        return LocalDurableService(self.clock_for(arn, real_time=real_time), self.store)

    # ---------------------------------------------------------------- reading

    def list_executions(
        self,
        *,
        status: str | list[str] | None = None,
        function_name: str | None = None,
        name: str | None = None,
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = True,
    ) -> ExecutionPage:
        """Return one page of executions (summary columns only; no history is read).

        Args:
            status: Only this status (or these).
            function_name: Only this function.
            name: Only names starting with this.
            search: Only executions whose name, function or ARN contains this.
            limit: Page size, 1 to 1000.
            cursor: ``next_cursor`` of the previous page.
            newest_first: Newest first (else oldest first).

        Raises:
            CliError: A bad limit or cursor, or an unusable store.
        """
        if self.store is None:
            return ExecutionPage([], None, 0)
        try:
            with self._errors():
                return self.store.list_executions(
                    status=status,
                    function_name=function_name,
                    name=name,
                    search=search,
                    limit=limit,
                    cursor=cursor,
                    newest_first=newest_first,
                )
        except ValueError as exc:
            raise CliError(str(exc)) from exc

    def changed_since(self, updated_seq: int) -> list[StoredExecution]:
        """Return executions changed after ``updated_seq`` (poll with the largest seen)."""
        if self.store is None:
            return []
        with self._errors():
            return self.store.changed_since(updated_seq)

    def change_sequence(self) -> int:
        """Return the store's latest change sequence (0 when empty or missing).

        Any save by any process raises it, so comparing it with a value read
        before tells a live view whether to read again; the rows that changed
        are :meth:`changed_since` that value.
        """
        if self.store is None:
            return 0
        with self._errors():
            return self.store.change_sequence()

    def summary(self, arn: str) -> StoredExecution:
        """Return one execution's summary.

        Raises:
            CliError: No such execution in this store.
        """
        found = None
        if self.store is not None:
            with self._errors():
                found = self.store.summary(arn)
        if found is None:
            raise CliError(f"unknown execution {arn} in {self.where}", kind="not_found")
        return found

    def resolve(self, ref: str, *, function_name: str | None = None) -> str:
        """Return the ARN ``ref`` names: an ARN, an execution name, or a unique prefix of either.

        Raises:
            CliError: Unknown (naming the store searched) or ambiguous.
        """
        if ref.startswith("arn:"):
            self.summary(ref)
            return ref
        entries: list[StoredExecution] = []
        if self.store is not None:
            with self._errors():
                entries = self.store.index()
        candidates = [
            e for e in entries if function_name is None or e.function_name == function_name
        ]
        exact = [e.arn for e in candidates if e.name == ref]
        matches = exact or [
            e.arn
            for e in candidates
            if e.name.startswith(ref) or e.arn.rsplit("/", 1)[-1].startswith(ref)
        ]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise CliError(
                f"unknown execution {ref!r} in {self.where} ({self.location.describe()}; "
                "durable-exec list shows what it holds)",
                kind="not_found",
            )
        names = ", ".join(arn.rsplit("/", 2)[-2] for arn in matches[:5])
        more = "" if len(matches) <= 5 else f" and {len(matches) - 5} more"
        raise CliError(
            f"{ref!r} matches {len(matches)} executions ({names}{more}); give more of it"
        )

    def describe(self, arn: str) -> dict[str, Any]:
        """Return ``GetDurableExecution`` for ``arn`` (input, result or error included)."""
        self.summary(arn)
        with self._errors():
            return self.service(arn).get_durable_execution(
                DurableExecutionArn=arn, IncludeExecutionData=True
            )

    def history(self, arn: str) -> list[dict[str, Any]]:
        """Return every history event of ``arn``, oldest first, in the API's shape."""
        self.summary(arn)
        with self._errors():
            return self.service(arn).events(arn)

    def operations(self, arn: str) -> list[dict[str, Any]]:
        """Return every operation of ``arn`` in the API's ``Operation`` shape, in start order."""
        self.summary(arn)
        with self._errors():
            return self.service(arn).operations(arn)

    def operation_index(self, arn: str) -> list[StoredOperation]:
        """Return the queryable columns of every operation of ``arn`` (no payloads decoded)."""
        store = self._need_store()
        with self._errors():
            return store.operations_of(arn)

    def view(self, arn: str) -> ExecutionView:
        """Return ``arn`` folded into an operation tree (:class:`ExecutionView`)."""
        from durable_exec._cli._view import build_view

        service = self.service(arn)
        self.summary(arn)
        with self._errors():
            description = service.get_durable_execution(
                DurableExecutionArn=arn, IncludeExecutionData=True
            )
            return build_view(description, service.events(arn))

    def open_callbacks(self, arn: str | None = None, limit: int = 1000) -> list[OpenCallback]:
        """Return the callbacks executions wait for (of ``arn`` only, if given)."""
        if self.store is None:
            return []
        with self._errors():
            return self.store.open_callbacks(arn, limit)

    def callback_ref(self, callback: OpenCallback | StoredOperation) -> str | None:
        """Return the short ``EXECUTION/CALLBACK-NAME`` form of a callback, if it is unambiguous."""
        label = callback.name if isinstance(callback, OpenCallback) else callback.label
        if not label or self.store is None:
            return None
        with self._errors():
            same = [
                op
                for op in self.store.callbacks_named(callback.arn, label)
                if op.status == "STARTED"
            ]
        if len(same) != 1:
            return None
        name = callback.execution_name if isinstance(callback, OpenCallback) else None
        if name is None:
            name = self.summary(callback.arn).name
        return f"{name}/{label}"

    def resolve_callback(self, ref: str) -> str:
        """Return the CallbackId ``ref`` names: an id, or ``EXECUTION/CALLBACK-NAME``.

        ``EXECUTION`` is an execution name, ARN or unique prefix; ``CALLBACK-NAME``
        is the callback's name or that of the ``wait_for_callback`` around it.

        Raises:
            CliError: No such callback in this store (the message names it), or
                several open callbacks share the name.
        """
        store = self.store
        if store is not None:
            with self._errors():
                if store.find_callback(ref) is not None:
                    return ref
        execution_ref, slash, label = ref.partition("/")
        if not slash or not label or not execution_ref or len(ref) > 300:
            return ref  # an id this store does not know: the service says so
        if store is None:
            raise CliError(
                f"unknown callback {ref!r}: there is no store at {self.path} "
                f"({self.location.describe()})",
                kind="not_found",
            )
        arn = self.resolve(execution_ref)
        with self._errors():
            found = store.callbacks_named(arn, label)
        open_ones = [op for op in found if op.status == "STARTED"]
        if len(open_ones) == 1 and open_ones[0].callback_id:
            return open_ones[0].callback_id
        name = self.summary(arn).name
        if len(open_ones) > 1:
            raise CliError(
                f"{len(open_ones)} open callbacks of {name} are called {label!r}; "
                "answer one by its id (durable-exec show lists them)"
            )
        if found:
            raise CliError(
                f"the callback is closed: {label!r} of {name} is {found[-1].status}",
                kind="callback_closed",
            )
        raise CliError(
            f"execution {name} has no callback called {label!r} in {self.where} "
            "(durable-exec show lists its callbacks)",
            kind="not_found",
        )

    def root_of(self, arn: str) -> str:
        """Return the root of ``arn``'s tree (itself, unless a chained invoke started it)."""
        root = arn
        seen = {root}
        while (parent := self.parent_of(root)) is not None and parent[0] not in seen:
            root = parent[0]
            seen.add(root)
        return root

    def parent_of(self, arn: str) -> tuple[str, str] | None:
        """Return (parent ARN, CHAINED_INVOKE operation id) of a child execution, if any."""
        if self.store is None:
            return None
        with self._errors():
            parent = self.store.annotation(arn, PARENT_KEY)
            operation = self.store.annotation(arn, PARENT_OPERATION_KEY)
        return None if parent is None or operation is None else (parent, operation)

    def children_of(self, arn: str) -> list[tuple[str, str]]:
        """Return the (child ARN, CHAINED_INVOKE operation id) links ``arn`` recorded."""
        store = self.store
        if store is None:
            return []
        links = []
        with self._errors():
            for child in store.annotated(PARENT_KEY, arn):
                operation = store.annotation(child, PARENT_OPERATION_KEY)
                if operation is not None:
                    links.append((child, operation))
        return links

    def tree(self, root: str) -> list[str]:
        """Return ``root`` and every execution its chained invokes started, parents first."""
        order = [root]
        for arn in order:
            order.extend(child for child, _ in self.children_of(arn) if child not in order)
        return order

    def run_record(self, arn: str) -> RunRecord | None:
        """Return what ``run`` recorded for ``arn``'s tree, if it started it."""
        if self.store is None:
            return None
        with self._errors():
            text = self.store.annotation(self.root_of(arn), RUN_KEY)
        return None if text is None else RunRecord.loads(text)

    def driver_of(self, arn: str) -> str | None:
        """Return the owner of the process driving ``arn``'s tree, if one is alive or unknown."""
        if self.store is None:
            return None
        with self._errors():
            owner = self.store.annotation(self.root_of(arn), DRIVER_KEY)
        if not owner or owner_alive(owner) is False:
            return None
        return owner

    # ---------------------------------------------------------------- writing

    def _callback_service(self, callback_id: str) -> LocalDurableService:
        arn = None
        if self.store is not None:
            with self._errors():
                found = self.store.find_callback(callback_id)
            arn = found.arn if found is not None else None
        return self.service(arn)

    def _not_found(self, callback_id: str) -> Callable[[Exception], CliError | None]:
        def translate(exc: Exception) -> CliError | None:
            response = getattr(exc, "response", None)
            if not isinstance(response, dict) or not isinstance(response.get("Error"), dict):
                return None
            code = response["Error"].get("Code", "")
            message = response["Error"].get("Message") or str(exc)
            if code == "ResourceNotFoundException":
                short = callback_id if len(callback_id) <= 40 else callback_id[:37] + "..."
                return CliError(f"unknown callback id {short} in {self.where}", kind="not_found")
            if code == "CallbackTimeoutException":
                return CliError(f"the callback is closed: {message}", kind="callback_closed")
            return CliError(f"{code}: {message}")

        return translate

    def _send(self, ref: str, call: Callable[[LocalDurableService, str], object]) -> str:
        callback_id = self.resolve_callback(ref)
        self._need_store()
        service = self._callback_service(callback_id)
        translate = self._not_found(callback_id)
        try:
            with self._errors():
                call(service, callback_id)
        except CliError:
            raise
        except Exception as exc:
            error = translate(exc)
            if error is None:
                raise
            raise error from exc
        return callback_id

    def send_callback_success(self, ref: str, payload: bytes | str = b"") -> str:
        """Complete a callback with ``payload``, sent as it is.

        The handler receives that string unless the callback's config has a
        serdes or a ``result_type`` that decodes it: ``"approved"`` arrives as
        ``"approved"``, ``'"approved"'`` as a string with quotes in it.

        Args:
            ref: The CallbackId, or ``EXECUTION/CALLBACK-NAME``.
            payload: The result (bytes holding UTF-8, or text).

        Returns:
            The CallbackId answered.

        Raises:
            CliError: Unknown or closed callback, or an invalid payload.
        """
        data = payload.encode("utf-8") if isinstance(payload, str) else payload
        return self._send(
            ref,
            lambda service, cid: service.send_durable_execution_callback_success(
                CallbackId=cid, Result=data
            ),
        )

    def send_callback_failure(
        self,
        ref: str,
        message: str,
        *,
        error_type: str = "CallbackFailed",
        data: str | None = None,
    ) -> str:
        """Fail a callback with an ErrorObject (``message``, ``error_type``, ``data``).

        Returns:
            The CallbackId answered.

        Raises:
            CliError: Unknown or closed callback, or an invalid error.
        """
        error = {"ErrorType": error_type, "ErrorMessage": message}
        if data is not None:
            error["ErrorData"] = data
        return self._send(
            ref,
            lambda service, cid: service.send_durable_execution_callback_failure(
                CallbackId=cid, Error=error
            ),
        )

    def send_callback_heartbeat(self, ref: str) -> str:
        """Push a callback's heartbeat deadline further.

        Returns:
            The CallbackId.

        Raises:
            CliError: Unknown or closed callback.
        """
        return self._send(
            ref,
            lambda service, cid: service.send_durable_execution_callback_heartbeat(CallbackId=cid),
        )

    def stop(self, arn: str, message: str = "Execution stopped by user request") -> str:
        """Stop a running execution (STOPPED); return its status afterwards."""
        self.summary(arn)
        service = self.service(arn)
        with self._errors():
            service.stop_durable_execution(DurableExecutionArn=arn, Error={"ErrorMessage": message})
            return service.execution_status(arn)

    # ---------------------------------------------------------------- driving

    def load_run(
        self, arn: str, *, on_import: Callable[[str], None] | None = None
    ) -> tuple[str, RunRecord, Any, dict[str, Any]]:
        """Return (root ARN, run record, handler, chained-invoke targets) to drive ``arn``.

        ``on_import`` is told each file or module about to be imported, first.

        Raises:
            CliError: ``run`` did not start it, or the handler cannot be imported.
        """
        root = self.root_of(arn)
        record = self.run_record(root)
        if record is None:
            raise CliError(
                f"execution {arn.rsplit('/', 2)[-2]} was not started by `durable-exec run`, "
                "so no handler is known for it"
            )
        if on_import is not None:
            for item in record.files():
                on_import(item)
        handler = load_handler(record.handler, durable=True)
        targets = {
            name: load_handler(target, durable=False) for name, target in record.functions.items()
        }
        return root, record, handler, targets

    @contextlib.contextmanager
    def _lease(self, root: str) -> Iterator[str | None]:
        """Hold the driver lease of ``root``'s tree; yield the dead owner taken over, if any."""
        store = self._need_store()
        me = current_owner()
        with self._errors(), store.transaction():
            holder = store.annotation(root, DRIVER_KEY)
            if holder and holder != me:
                alive = owner_alive(holder)
                if alive is not False:
                    name = root.rsplit("/", 2)[-2]
                    how = "is running it" if alive else "may be running it (it cannot be checked)"
                    raise CliError(
                        f"execution {name} is being driven by {describe_owner(holder)}, which "
                        f"{how}; wait for it to finish, or stop that process",
                        EXIT_WAITING,
                        kind="busy",
                    )
            store.annotate(root, DRIVER_KEY, me)
        try:
            yield holder if holder and holder != me else None
        finally:
            with contextlib.suppress(StoreError), store.transaction():
                if store.annotation(root, DRIVER_KEY) == me:
                    store.annotate(root, DRIVER_KEY, "")

    def recover(self, root: str, service: LocalDurableService, dead_owner: str | None) -> int:
        """End invocations of ``root``'s tree left in flight by dead processes; return how many.

        An invocation whose owner died is ended as failed (InvocationCompleted
        with a ``Runtime.ExitError``), so the next invocation retries it, as
        Lambda does. When a dead driver is taken over, the chained invokes it
        was performing are handed out again.
        """
        recovered = 0
        with self._errors():
            for arn in self.tree(root):
                if service.execution_status(arn) in TERMINAL:
                    continue
                in_flight, owner = service.invocation_in_flight(arn)
                if in_flight and (owner is None or owner_alive(owner) is False):
                    who = describe_owner(owner) if owner else "a process"
                    service.interrupt_invocation(
                        arn,
                        f"The invocation did not finish: {who} that ran it stopped "
                        "(killed, interrupted or crashed). Lambda retries it.",
                    )
                    recovered += 1
                if dead_owner is not None or recovered:
                    service.redispatch_chained_invokes(arn)
        return recovered

    def run_driver(
        self,
        arn: str,
        handler: Any,
        targets: Mapping[str, Any],
        *,
        real_time: bool = False,
        expire_callbacks: bool = False,
        progress: Progress | None = None,
    ) -> Driver:
        """Drive ``arn``'s tree as far as it can go; return the driver (for its children).

        Holds the tree's lease while it runs, ends invocations left by dead
        processes first, and if interrupted (Ctrl-C, SIGTERM, an error in the
        runtime) ends its own invocation in flight as failed before re-raising,
        so that the next ``resume`` retries it.

        Raises:
            CliError: Another live process drives the tree (exit code 3), the
                store became unusable, or the handler kept crashing.
        """
        from durable_exec._cli._driver import Driver
        from durable_exec._cli._progress import Progress

        root = self.root_of(arn)
        store = self._need_store()
        with self._lease(root) as dead_owner:
            service = self.service(root, real_time=real_time)
            self.recover(root, service, dead_owner)
            driver = Driver(
                service,
                service.clock,
                targets,
                progress or Progress(sys.stderr, enabled=False, clock=SYSTEM_CLOCK),
                link=self._link,
                children_of=self.children_of,
                owner=current_owner(),
            )
            try:
                with self._errors():
                    if service.execution_status(root) not in TERMINAL:
                        driver.drive(root, handler, pause_on_callbacks=not expire_callbacks)
            except BaseException as exc:
                self._abandon(root, service, exc)
                raise
            finally:
                with contextlib.suppress(StoreError, CliError):
                    self.save_clock(root, service.clock)
        del store
        return driver

    def _link(self, child: str, parent: str, operation_id: str) -> None:
        store = self._need_store()
        with self._errors(), store.transaction():
            store.annotate(child, PARENT_KEY, parent)
            store.annotate(child, PARENT_OPERATION_KEY, operation_id)

    def _abandon(self, root: str, service: LocalDurableService, exc: BaseException) -> None:
        """End this process's invocations in flight, after an interruption or a runtime error."""
        me = current_owner()
        reason = (
            "it was interrupted (Ctrl-C or SIGTERM)"
            if isinstance(exc, KeyboardInterrupt)
            else f"the local runtime failed ({type(exc).__name__})"
        )
        with contextlib.suppress(Exception):
            for arn in self.tree(root):
                in_flight, owner = service.invocation_in_flight(arn)
                if in_flight and owner == me:
                    service.interrupt_invocation(
                        arn, f"The invocation did not finish: {reason}. Lambda retries it."
                    )

    def start(
        self,
        function_name: str,
        payload: str | None,
        name: str,
        record: RunRecord,
        *,
        timeout: int | None = None,
    ) -> str:
        """Start (or find, for the same name and input) an execution and record how to run it.

        Raises:
            CliError: The name is taken with other input, or the store failed.
        """
        store = self._need_store()
        kwargs: dict[str, Any] = {"execution_name": name}
        if timeout is not None:
            kwargs["execution_timeout"] = timeout
        service = self.service(None, real_time=record.real_time)
        try:
            # One transaction: an execution is never stored without the spec `resume` needs.
            with self._errors(), store.transaction():
                arn = service.start_execution(function_name, payload, **kwargs)
                store.annotate(arn, RUN_KEY, record.dumps())
        except CliError:
            raise
        except Exception as exc:
            response = getattr(exc, "response", None)
            if isinstance(response, dict) and "Error" in response:
                code = response["Error"].get("Code")
                if code == "DurableExecutionAlreadyStartedException":
                    raise CliError(
                        f"an execution named {name!r} of {function_name} already exists with "
                        "other input (pick another --name, or resume it)"
                    ) from exc
                raise CliError(str(response["Error"].get("Message"))) from exc
            raise
        return arn
