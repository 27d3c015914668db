"""A persistent :class:`~durable_exec.testing._store.ExecutionStore` in one SQLite file.

:class:`SqliteStore` lets the local service keep executions across processes
(the ``durable-exec`` command line uses it). The file holds four tables:

* ``executions``: one row per execution. Summary columns (name, function,
  status, times, counts, the error's type and message, who holds the
  invocation in flight, a store-wide change sequence) are what listings read;
  ``state`` holds the record's remaining scalar state as JSON, and ``version``
  is bumped by every save.
* ``operations``: one row per operation, with columns to query (id, type,
  status, name, a callback's id and label) beside the full record as JSON.
* ``events``: the history, one row per event, append-only.

Operations and events are keyed ``eid << 32 | seq`` (``eid`` the execution's
integer id, ``seq`` the position): one clustered b-tree per table and no
secondary index on the hot path, so a save touches a handful of pages.
* ``annotations``: free-form ``(arn, key) -> text`` metadata for tools layered
  on top (the command line records which handler runs an execution there);
  the service never reads it.

**Cost.** A save writes the execution's row, the operations the service marked
changed since the previous save (:attr:`ExecutionRecord.dirty`) and the new
events: O(what the batch changed), never O(history). Listing reads summary
columns through indexes, one page at a time. Timers are not stored: each live
timer follows from an operation's fields and is rebuilt when a record is read.

**Transactions.** Each ``transaction()`` is a real SQLite transaction (``BEGIN
IMMEDIATE`` ... ``COMMIT``; ``ROLLBACK`` if the block raises), so a service
mutation is written entirely or not at all. The file runs in WAL mode (readers
never block the writer) with a busy timeout, so several processes can share
it. Records are cached between loads; ``load`` checks the row's version first,
so a change committed by another process is read afresh, and ``save`` refuses
(raising :class:`StoreError`) to overwrite a row another process changed since
this one read it. A rollback drops the whole cache.

**Trust.** The store names the code ``durable-exec resume`` imports, so it is
treated like an ssh key: a store file or directory owned by another user or
writable by others, a store path that is a symbolic link, and a file readable
by others are refused with a :class:`StoreError` saying why and what to do
(``check_permissions=False`` turns this off). A new store file is created
``0600`` (without following links), in directories created ``0700``.

A file that is locked past the timeout, is not an SQLite database, or is
another application's database raises :class:`StoreError` with one clear
message, and nothing is written to it. A store of the previous schema version
is upgraded in place, in one transaction.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import heapq
import json
import operator
import os
import sqlite3
import stat
import threading
import urllib.parse
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Self, overload

from durable_exec.testing._model import (
    CALLBACK,
    PENDING,
    RUNNING,
    STARTED,
    TIMER_CALLBACK,
    TIMER_EXECUTION,
    TIMER_HEARTBEAT,
    TIMER_RETRY,
    TIMER_WAIT,
    WAIT,
    ExecutionRecord,
    IdempotencyRecord,
    OperationRecord,
    Timer,
    to_datetime,
)

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = [
    "ExecutionPage",
    "OpenCallback",
    "SqliteStore",
    "StoreError",
    "StoredExecution",
    "StoredOperation",
    "check_store_permissions",
]

_APPLICATION_ID: Final = 0x44584531  # "DXE1": marks the file as a durable_exec store
_SCHEMA_VERSION: Final = 2
_SCHEMA: Final = """
CREATE TABLE executions (
    eid INTEGER PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE,
    function_name TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    qualifier TEXT NOT NULL DEFAULT '$LATEST',
    updated_seq INTEGER NOT NULL DEFAULT 0,
    last_event_ts REAL,
    invocation_count INTEGER NOT NULL DEFAULT 0,
    operation_count INTEGER NOT NULL DEFAULT 0,
    error_type TEXT,
    error_message TEXT,
    invocation_owner TEXT,
    UNIQUE (function_name, name)
);
CREATE TABLE operations (
    key INTEGER PRIMARY KEY,
    data TEXT NOT NULL,
    id TEXT NOT NULL,
    type TEXT NOT NULL,
    status TEXT NOT NULL,
    name TEXT,
    label TEXT,
    callback_id TEXT
);
CREATE TABLE events (
    key INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS annotations (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
CREATE INDEX IF NOT EXISTS annotations_by_value ON annotations (key, value);
CREATE INDEX executions_by_start ON executions (start_ts);
CREATE INDEX executions_by_status ON executions (status, start_ts);
CREATE INDEX executions_by_function ON executions (function_name, start_ts);
CREATE INDEX executions_by_update ON executions (updated_seq);
CREATE INDEX operations_by_callback ON operations (callback_id) WHERE callback_id IS NOT NULL;
CREATE INDEX operations_open_callbacks ON operations (key)
    WHERE type = 'CALLBACK' AND status = 'STARTED';
"""
_V1_SET_ASIDE: Final = (
    "ALTER TABLE executions RENAME TO executions_v1",
    "ALTER TABLE operations RENAME TO operations_v1",
    "ALTER TABLE events RENAME TO events_v1",
    "DROP INDEX IF EXISTS annotations_by_value",
)
_V1_DROP: Final = (
    "DROP TABLE executions_v1",
    "DROP TABLE operations_v1",
    "DROP TABLE events_v1",
)
_SYNC_NORMAL: Final = "PRAGMA synchronous=NORMAL"
# Copy the WAL back into the file every 4,000 pages (16 MiB) rather than SQLite's 1,000:
# each copy costs two fsyncs, the largest part of a long run's store cost.
_AUTOCHECKPOINT: Final = "PRAGMA wal_autocheckpoint=4000"
_SYNC_FULL: Final = "PRAGMA synchronous=FULL"
_TABLES: Final = frozenset({"executions", "operations", "events", "annotations"})

# ExecutionRecord members kept elsewhere (own tables), derived on read, or never stored.
# ``last_checkpoint`` (the idempotency cache) stays in memory: it answers a retry of
# the latest checkpoint, which only the process that sent it can make.
_NOT_IN_STATE: Final = frozenset(
    {"ops", "order", "events", "timers", "dirty", "adopted", "last_checkpoint"}
)
_STATE_FIELDS: Final = tuple(
    f.name for f in dataclasses.fields(ExecutionRecord) if f.name not in _NOT_IN_STATE
)
_OP_FIELDS: Final = tuple(f.name for f in dataclasses.fields(OperationRecord))
_op_values = operator.attrgetter(*_OP_FIELDS)
_SUMMARY_COLUMNS: Final = (
    "arn, function_name, name, status, start_ts, end_ts, qualifier, updated_seq, "
    "last_event_ts, invocation_count, operation_count, error_type, error_message, "
    "invocation_owner"
)
_SELECT_SUMMARY: Final = f"SELECT {_SUMMARY_COLUMNS} FROM executions "  # noqa: S608
# Operations and events are keyed eid << 32 | seq (see the module docstring).
_SELECT_OPERATIONS: Final = (
    "SELECT e.arn, o.key, o.id, o.type, o.status, o.name, o.label, o.callback_id "
    "FROM operations o JOIN executions e ON e.eid = o.key >> 32 "
)
_OPS_OF_EXECUTION: Final = _SELECT_OPERATIONS + "WHERE o.key >= ? AND o.key < ? ORDER BY o.key"
_OPS_BY_CALLBACK: Final = _SELECT_OPERATIONS + "WHERE o.callback_id = ? ORDER BY o.key"
_OPS_NAMED: Final = (
    _SELECT_OPERATIONS + "WHERE o.key >= ? AND o.key < ? AND o.type = 'CALLBACK' "
    "AND (o.label = ? OR o.name = ?) ORDER BY o.key"
)
_OPEN_CALLBACKS: Final = (
    "SELECT e.arn, e.name, e.function_name, o.id, o.label, o.callback_id, o.data "
    "FROM operations o JOIN executions e ON e.eid = o.key >> 32 "
    "WHERE o.type = 'CALLBACK' AND o.status = 'STARTED' AND e.status = 'RUNNING'"
)
_MAX_PAGE: Final = 1000
_SEQ_BITS: Final = 32
_OP_INSERT: Final = (
    "INSERT OR REPLACE INTO operations (key, data, id, type, status, name, label, callback_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_ERROR_MESSAGE_CHARS: Final = 500


class StoreError(Exception):
    """The SQLite store cannot be used: locked, corrupt, foreign, untrusted, or changed elsewhere.

    Args:
        message: What went wrong and what to do, in one line.
        path: The store file.
    """

    def __init__(self, message: str, path: str | os.PathLike[str]) -> None:
        super().__init__(message)
        self.path = os.fspath(path)


class StoredExecution(NamedTuple):
    """One execution as the store's summary columns describe it (no history is read).

    Attributes:
        arn: The execution's ARN.
        function_name: The function it runs.
        name: The execution name.
        status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT or STOPPED.
        start_ts: Start time, epoch seconds.
        end_ts: End time, epoch seconds, or ``None`` while running.
        qualifier: The function version it runs (``$LATEST`` locally).
        updated_seq: The store-wide change sequence of its last save: a row
            whose ``updated_seq`` is above one seen before has changed since
            (see :meth:`SqliteStore.changed_since`).
        last_event_ts: Time of its newest history event, epoch seconds.
        invocation_count: Invocations so far.
        operation_count: Operations so far (the EXECUTION operation included).
        error_type: The execution error's ``ErrorType`` once it failed, else ``None``.
        error_message: The start of its ``ErrorMessage``, else ``None``.
        invocation_owner: Who holds the invocation in flight, or ``None``.
    """

    arn: str
    function_name: str
    name: str
    status: str
    start_ts: float
    end_ts: float | None
    qualifier: str = "$LATEST"
    updated_seq: int = 0
    last_event_ts: float | None = None
    invocation_count: int = 0
    operation_count: int = 0
    error_type: str | None = None
    error_message: str | None = None
    invocation_owner: str | None = None


class ExecutionPage(NamedTuple):
    """One page of :meth:`SqliteStore.list_executions`.

    Attributes:
        items: The executions of this page.
        next_cursor: Pass it as ``cursor`` for the next page; ``None`` on the last page.
        total: How many executions match the filters, over all pages.
    """

    items: list[StoredExecution]
    next_cursor: str | None
    total: int


class StoredOperation(NamedTuple):
    """One operation's indexed columns (its full record is :meth:`SqliteStore.load`'s).

    Attributes:
        arn: The execution.
        seq: Its position in the execution (start order).
        id: The operation id.
        type: STEP, WAIT, CALLBACK, CONTEXT, CHAINED_INVOKE or EXECUTION.
        status: Its status.
        name: Its name, if any.
        label: A callback's name, or that of the ``wait_for_callback`` context
            around it (callbacks only).
        callback_id: The CallbackId of a callback.
    """

    arn: str
    seq: int
    id: str
    type: str
    status: str
    name: str | None
    label: str | None
    callback_id: str | None


class OpenCallback(NamedTuple):
    """A callback some execution waits for (see :meth:`SqliteStore.open_callbacks`).

    Attributes:
        arn: The execution.
        execution_name: Its name.
        function_name: Its function.
        operation_id: The CALLBACK operation.
        name: The callback's name, or that of the ``wait_for_callback`` context around it.
        callback_id: The id to answer it with.
        started_ts: When it was created, epoch seconds.
    """

    arn: str
    execution_name: str
    function_name: str
    operation_id: str
    name: str | None
    callback_id: str
    started_ts: float


@dataclasses.dataclass(slots=True)
class _Entry:
    """A cached record and what the file holds for it (to write only what changed)."""

    record: ExecutionRecord
    eid: int
    version: int
    events_saved: int


def _encode_value(value: object) -> object:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    raise TypeError(f"cannot store a {type(value).__name__}")


def _decode_object(obj: dict[str, Any]) -> object:
    if len(obj) == 1 and "$dt" in obj:
        return datetime.fromisoformat(obj["$dt"])
    return obj


def _dumps(value: object) -> str:
    return json.dumps(value, default=_encode_value, separators=(",", ":"))


def _loads(text: str) -> Any:
    return json.loads(text, object_hook=_decode_object)


def _state_of(execution: ExecutionRecord) -> dict[str, Any]:
    state = {name: getattr(execution, name) for name in _STATE_FIELDS}
    state["unseen"] = list(execution.unseen)
    state["updated_since_invocation"] = list(execution.updated_since_invocation)
    return state


def rebuild_timers(execution: ExecutionRecord) -> list[Timer]:
    """Return the timer heap the execution's operations imply (live timers only)."""
    if execution.status != RUNNING:
        return []
    timers: list[Timer] = []
    if execution.timeout_due is not None:
        timers.append((execution.timeout_due, -1, TIMER_EXECUTION, execution.invocation_id))
    for op in execution.order:
        status = op.status
        if op.type == WAIT and status == STARTED and op.scheduled_end_ts is not None:
            timers.append((op.scheduled_end_ts, op.seq, TIMER_WAIT, op.id))
        elif op.next_attempt_ts is not None and status == PENDING:
            timers.append((op.next_attempt_ts, op.seq, TIMER_RETRY, op.id))
        elif op.type == CALLBACK and status == STARTED:
            if op.callback_due is not None:
                timers.append((op.callback_due, op.seq, TIMER_CALLBACK, op.id))
            if op.heartbeat_due is not None:
                timers.append((op.heartbeat_due, op.seq, TIMER_HEARTBEAT, op.id))
    heapq.heapify(timers)
    return timers


def _record_from(
    state: dict[str, Any], ops: list[OperationRecord], events: list[dict[str, Any]]
) -> ExecutionRecord:
    known = {name: state[name] for name in _STATE_FIELDS if name in state}
    known["unseen"] = dict.fromkeys(known.get("unseen", ()))
    known["updated_since_invocation"] = dict.fromkeys(known.get("updated_since_invocation", ()))
    last = known.get("last_checkpoint")  # written by schema version 1 only
    known["last_checkpoint"] = None if last is None else IdempotencyRecord(**last)
    record = ExecutionRecord(**known, ops={op.id: op for op in ops}, order=ops, events=events)
    record.timers = rebuild_timers(record)
    return record


def _key(eid: int, seq: int) -> int:
    return eid << _SEQ_BITS | seq


def _range(eid: int) -> tuple[int, int]:
    """The keys of one execution's rows: ``lower <= key < upper``."""
    return eid << _SEQ_BITS, (eid + 1) << _SEQ_BITS


def _callback_label(execution: ExecutionRecord, op: OperationRecord) -> str | None:
    """A callback's name, or that of the ``wait_for_callback`` context around it."""
    parent = execution.ops.get(op.parent_id) if op.parent_id is not None else None
    if parent is not None and parent.name and (parent.sub_type == "WaitForCallback" or not op.name):
        return parent.name
    return op.name


def _op_row(eid: int, op: OperationRecord, label: str | None) -> tuple[object, ...]:
    # Positional (the field order of OperationRecord): half the size of a keyed object.
    data = _dumps(_op_values(op))
    return (_key(eid, op.seq), data, op.id, op.type, op.status, op.name, label, op.callback_id)


def _op_from(data: str) -> OperationRecord:
    values = _loads(data)
    if isinstance(values, dict):  # schema version 1 kept operations keyed
        return OperationRecord(**values)
    return OperationRecord(*values)


def _event_row(eid: int, seq: int, event: dict[str, Any]) -> tuple[object, ...]:
    stamp = event.get("EventTimestamp")
    if not isinstance(stamp, datetime):
        return (_key(eid, seq), 0.0, _dumps(event))
    # The timestamp lives in its column; the JSON keeps a placeholder (and the key order).
    return (_key(eid, seq), stamp.timestamp(), _dumps({**event, "EventTimestamp": 0}))


def _event_from(ts: float, data: str) -> dict[str, Any]:
    event: dict[str, Any] = _loads(data)
    if event.get("EventTimestamp") == 0:
        event["EventTimestamp"] = to_datetime(ts)
    return event


def _make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and missing parents, each new one ``0700`` (umask aside)."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for path in reversed(missing):
        with contextlib.suppress(FileExistsError):
            path.mkdir(mode=0o700)
            path.chmod(0o700)


def _owner_name(uid: int) -> str:
    try:
        import pwd

        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except (ImportError, KeyError):
        return f"uid {uid}"


def check_store_permissions(path: str | os.PathLike[str]) -> None:
    """Refuse a store another user could have written, as ssh refuses a key file.

    The checks (POSIX only; elsewhere this does nothing):

    * the store's directory belongs to the current user (or root) and others
      cannot write to it;
    * the store path, and its ``-wal``, ``-shm`` and ``-journal`` companions,
      are not symbolic links;
    * the store file (when it exists) belongs to the current user and neither
      group nor others may read or write it; its companions belong to the
      current user and only the owner may write them.

    Args:
        path: The store file (it need not exist yet).

    Raises:
        StoreError: A check failed; the message says which and how to fix it.
    """
    geteuid = getattr(os, "geteuid", None)
    if geteuid is None:  # pragma: no cover - not POSIX
        return
    me = geteuid()
    store = Path(path)
    why = "anyone who can change it can make `durable-exec resume` run their code as you"
    directory = store.parent
    try:
        dir_stat = directory.stat()
    except FileNotFoundError:
        dir_stat = None
    if dir_stat is not None:
        if dir_stat.st_uid not in (me, 0):
            raise StoreError(
                f"refusing the store {store}: its directory {directory} belongs to "
                f"{_owner_name(dir_stat.st_uid)}, not to you; {why}. Use a store in a "
                "directory of your own (--store PATH)",
                store,
            )
        if dir_stat.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            mode = stat.S_IMODE(dir_stat.st_mode)
            raise StoreError(
                f"refusing the store {store}: its directory {directory} is writable by other "
                f"users (mode {mode:04o}), who could replace the store or its journal; {why}. "
                f"Fix it with: chmod go-w {directory}",
                store,
            )
    for candidate, is_store in (
        (store, True),
        *((Path(f"{store}{suffix}"), False) for suffix in ("-wal", "-shm", "-journal")),
    ):
        try:
            info = os.lstat(candidate)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(info.st_mode):
            raise StoreError(
                f"refusing the store {store}: {candidate} is a symbolic link; a store must be "
                "a regular file (point --store at the real file)",
                store,
            )
        if not stat.S_ISREG(info.st_mode):
            if is_store and stat.S_ISDIR(info.st_mode):
                raise StoreError(f"the store {store} is a directory, not a file", store)
            raise StoreError(f"refusing the store {store}: {candidate} is not a file", store)
        if info.st_uid != me:
            raise StoreError(
                f"refusing the store {store}: {candidate} belongs to "
                f"{_owner_name(info.st_uid)}, not to you; {why}. Remove it, or use a store "
                "of your own (--store PATH)",
                store,
            )
        mode = stat.S_IMODE(info.st_mode)
        forbidden = 0o077 if is_store else 0o022
        if mode & forbidden:
            raise StoreError(
                f"refusing the store {store}: {candidate} is accessible to other users "
                f"(mode {mode:04o}); it holds inputs and results, and {why}. "
                f"Fix it with: chmod 600 {candidate}",
                store,
            )


class SqliteStore:
    """An :class:`ExecutionStore` persisted in one SQLite file (stdlib ``sqlite3``).

    Pass it to :class:`~durable_exec.testing.LocalDurableService` to keep
    executions across processes. The store is safe to share between threads
    (the service serialises its calls) and between processes (WAL mode, a busy
    timeout, and versions that detect lost updates). Close it with
    :meth:`close` or use it as a context manager.

    Besides the :class:`ExecutionStore` protocol it answers typed reads that
    never load a history: :meth:`list_executions` (filtered, searched,
    paginated), :meth:`summary`, :meth:`changed_since`, :meth:`operations_of`,
    :meth:`open_callbacks` and :meth:`events_of`.

    Args:
        path: The database file. Created (``0600``, parent directories ``0700``)
            if missing and ``create`` is true.
        timeout: Seconds to wait for another process's write lock before
            raising :class:`StoreError`.
        create: Create the file if it does not exist (else raise :class:`StoreError`).
        cache: Reuse loaded records while their row is unchanged. ``False``
            re-reads every record on every load (slower; proves the round trip).
        check_permissions: Refuse files and directories another user could
            have written (see :func:`check_store_permissions`).
        synchronous: SQLite's ``synchronous`` setting: ``"NORMAL"`` (default;
            a power cut may lose the last commits, never consistency) or
            ``"FULL"`` (every commit reaches the disk before it returns).

    Raises:
        StoreError: The file is locked, is not a database, belongs to another
            application or to an unknown schema version, cannot be created, or
            fails the permission checks.

    Example:
        >>> with SqliteStore(tmp_path / "executions.db") as store:  # doctest: +SKIP
        ...     service = LocalDurableService(store=store)
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        create: bool = True,
        cache: bool = True,
        check_permissions: bool = True,
        synchronous: str = "NORMAL",
    ) -> None:
        if synchronous.upper() not in {"NORMAL", "FULL"}:
            raise ValueError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        self._path = Path(path)
        self._timeout = timeout
        self._cache = cache
        self._check_permissions = check_permissions
        self._synchronous = synchronous.upper()
        self._lock = threading.RLock()
        self._depth = 0
        self._entries: dict[str, _Entry] = {}
        self._conn = self._open(create)

    # ------------------------------------------------------------------ opening

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def _fail(self, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
            message = (
                f"the store {self._path} is locked by another process "
                f"(waited {self._timeout:g} s); try again when it has finished"
            )
        elif isinstance(exc, sqlite3.DatabaseError) and (
            "not a database" in text or "malformed" in text or "corrupt" in text
        ):
            message = f"the store {self._path} is corrupt or not a database ({text})"
        else:
            message = f"the store {self._path} cannot be used: {text}"
        return StoreError(message, self._path)

    def _open(self, create: bool) -> sqlite3.Connection:
        path = self._path
        try:
            info: os.stat_result | None = os.lstat(path)
        except FileNotFoundError:
            info = None
        except OSError as exc:
            raise StoreError(f"cannot read the store {path}: {exc.strerror}", path) from exc
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise StoreError(f"the store {path} is a directory, not a file", path)
        if self._check_permissions:
            check_store_permissions(path)
        if info is None:
            if not create:
                raise StoreError(f"there is no store at {path}", path)
            try:
                _make_private_dirs(path.parent)
                if self._check_permissions:
                    check_store_permissions(path)
                flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0)
                fd = os.open(path, flags, 0o600)
                os.close(fd)
            except FileExistsError:
                # Another process created it first (or a link appeared): check it again.
                if self._check_permissions:
                    check_store_permissions(path)
            except OSError as exc:
                raise StoreError(f"cannot create the store {path}: {exc.strerror}", path) from exc
        uri = "file:" + urllib.parse.quote(os.fspath(path.absolute())) + "?nofollow=1"
        try:
            conn = sqlite3.connect(
                uri,
                timeout=self._timeout,
                isolation_level=None,
                check_same_thread=False,
                uri=True,
            )
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        try:
            self._check_schema(conn)
            if self._synchronous == "FULL":
                conn.execute(_SYNC_FULL)
            else:
                conn.execute(_SYNC_NORMAL)
            conn.execute(_AUTOCHECKPOINT)
        except sqlite3.Error as exc:
            conn.close()
            raise self._fail(exc) from exc
        except StoreError:
            conn.close()
            raise
        return conn

    def _check_schema(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA application_id").fetchone()[0] == 0:
            self._create_schema(conn)
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id != _APPLICATION_ID:
            raise StoreError(
                f"the store {self._path} is an SQLite database of another application",
                self._path,
            )
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 1:
            self._upgrade_from_1(conn)
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != _SCHEMA_VERSION:
            raise StoreError(
                f"the store {self._path} has schema version {version}; this durable_exec "
                f"reads version {_SCHEMA_VERSION} (and upgrades version 1)",
                self._path,
            )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables >= _TABLES:
            raise StoreError(f"the store {self._path} is corrupt (tables are missing)", self._path)
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode=WAL")

    def _create_schema(self, conn: sqlite3.Connection) -> None:
        """Lay out an empty file (another process may be doing the same: recheck under lock)."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA application_id").fetchone()[0] != 0:
                conn.execute("ROLLBACK")
                return
            if conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]:
                raise StoreError(
                    f"the store {self._path} is an SQLite database of another application",
                    self._path,
                )
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id={_APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        # WAL: readers never block the writer; the setting lives in the file.
        conn.execute("PRAGMA journal_mode=WAL")

    def _upgrade_from_1(self, conn: sqlite3.Connection) -> None:
        """Rebuild a version 1 file in version 2's layout, in one transaction."""
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] != 1:
                conn.execute("ROLLBACK")  # another process upgraded it meanwhile
                return
            for statement in _V1_SET_ASIDE:
                conn.execute(statement)
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            old = conn.execute(
                "SELECT arn, function_name, name, status, start_ts, end_ts, version, state "
                "FROM executions_v1 ORDER BY rowid"
            ).fetchall()
            for number, (arn, function, name, status, start, end, version, text) in enumerate(
                old, start=1
            ):
                state = _loads(text)
                error = state.get("error") or {}
                eid = conn.execute(
                    "INSERT INTO executions (arn, function_name, name, status, start_ts, end_ts, "
                    "version, state, qualifier, updated_seq, invocation_count, error_type, "
                    "error_message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        arn,
                        function,
                        name,
                        status,
                        start,
                        end,
                        version,
                        text,
                        state.get("qualifier", "$LATEST"),
                        number,
                        int(state.get("invocation_count", 0)),
                        error.get("ErrorType"),
                        _clip(error.get("ErrorMessage")),
                    ),
                ).lastrowid
                assert eid is not None
                rows = conn.execute(
                    "SELECT data FROM operations_v1 WHERE arn = ? ORDER BY seq", (arn,)
                ).fetchall()
                ops = [_op_from(data) for (data,) in rows]
                record = ExecutionRecord(
                    arn, name, function, "", "", None, start, 0.0, ops={op.id: op for op in ops}
                )
                conn.executemany(
                    _OP_INSERT, [_op_row(eid, op, _callback_label(record, op)) for op in ops]
                )
                conn.execute(
                    "INSERT INTO events (key, ts, data) "
                    "SELECT (? << 32) | seq, ts, data FROM events_v1 WHERE arn = ?",
                    (eid, arn),
                )
                conn.execute(
                    "UPDATE executions SET operation_count = ?, last_event_ts = "
                    "(SELECT MAX(ts) FROM events_v1 WHERE arn = ?) WHERE eid = ?",
                    (len(ops), arn, eid),
                )
            for statement in _V1_DROP:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        """Close the connection (the store cannot be used afterwards)."""
        with self._lock:
            self._entries.clear()
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SqliteStore({os.fspath(self._path)!r})"

    # ------------------------------------------------------------ transactions

    def _execute(self, sql: str, params: Sequence[object] = ()) -> sqlite3.Cursor:
        try:
            return self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[object]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._depth = 0
                self._entries.clear()
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
            self._depth = 0
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                self._entries.clear()
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise self._fail(exc) from exc

    def transaction(self) -> AbstractContextManager[object]:
        """Return a context manager around one SQLite transaction.

        ``BEGIN IMMEDIATE`` takes the write lock on entry (waiting up to
        ``timeout``); a clean exit commits, an exception rolls back and drops
        the cache. Nested calls join the outer transaction.

        Raises:
            StoreError: The write lock could not be taken, or the commit failed.
        """
        return self._transaction()

    # ------------------------------------------------------------ the protocol

    def load(self, arn: str) -> ExecutionRecord | None:
        """Return the execution with ``arn`` (cached while its row is unchanged), or ``None``.

        Raises:
            StoreError: The row cannot be read or decoded.
        """
        with self._lock:
            row = self._execute("SELECT version FROM executions WHERE arn = ?", (arn,)).fetchone()
            if row is None:
                self._entries.pop(arn, None)
                return None
            entry = self._entries.get(arn)
            if self._cache and entry is not None and entry.version == row[0]:
                return entry.record
            return self._read(arn).record

    def _read(self, arn: str) -> _Entry:
        row = self._execute(
            "SELECT eid, version, state FROM executions WHERE arn = ?", (arn,)
        ).fetchone()
        eid = row[0]
        op_rows = self._execute(
            "SELECT data FROM operations WHERE key >= ? AND key < ? ORDER BY key", _range(eid)
        ).fetchall()
        event_rows = self._execute(
            "SELECT ts, data FROM events WHERE key >= ? AND key < ? ORDER BY key", _range(eid)
        ).fetchall()
        try:
            ops = [_op_from(data) for (data,) in op_rows]
            events = [_event_from(ts, data) for ts, data in event_rows]
            record = _record_from(_loads(row[2]), ops, events)
        except (ValueError, TypeError, KeyError) as exc:
            # Name the execution and the kind of problem, never the stored values.
            msg = (
                f"the store {self._path} is corrupt: execution {arn} cannot be read "
                f"({type(exc).__name__})"
            )
            raise StoreError(msg, self._path) from exc
        previous = self._entries.get(arn)
        last = previous.record.last_checkpoint if previous is not None else None
        if last is not None and last.response.get("CheckpointToken") == record.token:
            record.last_checkpoint = last  # still the latest checkpoint: keep its replay
        entry = _Entry(record, eid, row[1], len(events))
        self._entries[arn] = entry
        return entry

    def save(self, execution: ExecutionRecord) -> None:
        """Write what changed in ``execution`` (inside the current transaction, if any).

        Writes the execution's row, the operations in ``execution.dirty`` (then
        clears it) and the events appended since the last save.

        Raises:
            StoreError: Another process changed the execution since it was
                loaded here, or the write failed.
        """
        with self._transaction():
            arn = execution.arn
            entry = self._entries.get(arn)
            row = self._execute("SELECT version FROM executions WHERE arn = ?", (arn,)).fetchone()
            if row is None:
                eid = self._execute(
                    "INSERT INTO executions (arn, function_name, name, status, start_ts, end_ts, "
                    "version, state, qualifier) VALUES (?, ?, ?, ?, ?, ?, 0, '{}', ?)",
                    (
                        arn,
                        execution.function_name,
                        execution.name,
                        execution.status,
                        execution.start_ts,
                        execution.end_ts,
                        execution.qualifier,
                    ),
                ).lastrowid
                assert eid is not None
                entry = _Entry(execution, eid, 0, 0)
                self._entries[arn] = entry
                execution.dirty.update(dict.fromkeys(execution.ops))
            elif entry is None or entry.record is not execution or entry.version != row[0]:
                self._entries.pop(arn, None)
                msg = (
                    f"execution {arn} was changed by another process while this one "
                    "worked on it; run the command again"
                )
                raise StoreError(msg, self._path)
            self._write(execution, entry)

    def _write(self, execution: ExecutionRecord, entry: _Entry) -> None:
        eid = entry.eid
        ops = execution.ops
        rows = []
        for op_id in execution.dirty:
            op = ops.get(op_id)
            if op is not None:
                label = _callback_label(execution, op) if op.type == CALLBACK else None
                rows.append(_op_row(eid, op, label))
        if rows:
            try:
                self._conn.executemany(_OP_INSERT, rows)
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc
        execution.dirty.clear()
        events = execution.events
        last_event_ts: float | None = None
        if entry.events_saved < len(events):
            event_rows = [
                _event_row(eid, seq, events[seq]) for seq in range(entry.events_saved, len(events))
            ]
            last_event_ts = max(float(row[1]) for row in event_rows)  # type: ignore[arg-type]
            try:
                self._conn.executemany(
                    "INSERT INTO events (key, ts, data) VALUES (?, ?, ?)", event_rows
                )
            except sqlite3.Error as exc:
                raise self._fail(exc) from exc
        entry.events_saved = len(events)
        entry.version += 1
        error = execution.error or {}
        self._execute(
            "UPDATE executions SET status = ?, end_ts = ?, version = ?, state = ?, "
            "updated_seq = (SELECT COALESCE(MAX(updated_seq), 0) + 1 FROM executions), "
            "last_event_ts = MAX(COALESCE(last_event_ts, 0), COALESCE(?, 0)), "
            "invocation_count = ?, operation_count = ?, error_type = ?, error_message = ?, "
            "invocation_owner = ? WHERE eid = ?",
            (
                execution.status,
                execution.end_ts,
                entry.version,
                _dumps(_state_of(execution)),
                last_event_ts,
                execution.invocation_count,
                len(execution.order),
                error.get("ErrorType"),
                _clip(error.get("ErrorMessage")),
                execution.invocation_owner,
                eid,
            ),
        )

    def find_by_name(self, function_name: str, execution_name: str) -> ExecutionRecord | None:
        """Return the execution of ``function_name`` called ``execution_name``, if any."""
        with self._lock:
            row = self._execute(
                "SELECT arn FROM executions WHERE function_name = ? AND name = ?",
                (function_name, execution_name),
            ).fetchone()
            return None if row is None else self.load(row[0])

    def list_by_function(self, function_name: str) -> Sequence[ExecutionRecord]:
        """Return the executions of ``function_name`` in start order, each read when indexed."""
        with self._lock:
            rows = self._execute(
                "SELECT arn FROM executions WHERE function_name = ? ORDER BY start_ts, rowid",
                (function_name,),
            ).fetchall()
        return _LazyRecords(self, [arn for (arn,) in rows])

    def arns(self) -> Iterator[str]:
        """Iterate over every stored ARN, in start order."""
        with self._lock:
            rows = self._execute("SELECT arn FROM executions ORDER BY start_ts, rowid").fetchall()
        return iter([arn for (arn,) in rows])

    def __len__(self) -> int:
        with self._lock:
            return int(self._execute("SELECT COUNT(*) FROM executions").fetchone()[0])

    # ------------------------------------------------------------ typed reads

    def index(self) -> list[StoredExecution]:
        """Return every execution's summary, in start order, without reading histories."""
        with self._lock:
            rows = self._execute(_SELECT_SUMMARY + "ORDER BY start_ts, rowid").fetchall()
        return [StoredExecution(*row) for row in rows]

    def summary(self, arn: str) -> StoredExecution | None:
        """Return one execution's summary columns, or ``None`` if there is no such execution."""
        with self._lock:
            row = self._execute(_SELECT_SUMMARY + "WHERE arn = ?", (arn,)).fetchone()
        return None if row is None else StoredExecution(*row)

    def list_executions(
        self,
        *,
        status: str | Sequence[str] | None = None,
        function_name: str | None = None,
        name: str | None = None,
        search: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        newest_first: bool = True,
    ) -> ExecutionPage:
        """Return one page of execution summaries, from the indexes (no history is read).

        Args:
            status: Only these statuses (one or several).
            function_name: Only this function.
            name: Only executions whose name starts with this.
            search: Only executions whose name, function or ARN contains this
                (case-insensitive).
            limit: Page size, 1 to 1000.
            cursor: ``next_cursor`` of the previous page (same filters and order).
            newest_first: Order by start time, newest first (else oldest first).

        Returns:
            The page, the cursor of the next one, and the number of matches.

        Raises:
            ValueError: ``limit`` is out of range or ``cursor`` is not one of ours.
        """
        if not 1 <= limit <= _MAX_PAGE:
            raise ValueError(f"limit must be between 1 and {_MAX_PAGE}, got {limit}")
        where: list[str] = []
        params: list[object] = []
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            where.append(f"status IN ({', '.join('?' * len(statuses))})")
            params.extend(statuses)
        if function_name is not None:
            where.append("function_name = ?")
            params.append(function_name)
        if name:
            where.append("name >= ? AND name < ?")
            params.extend((name, name + "\U0010ffff"))
        if search:
            pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern += "%"
            where.append(
                "(name LIKE ? ESCAPE '\\' OR function_name LIKE ? ESCAPE '\\' "
                "OR arn LIKE ? ESCAPE '\\')"
            )
            params.extend((pattern, pattern, pattern))
        filters = " AND ".join(where) or "1"
        page_where = filters
        page_params = list(params)
        if cursor is not None:
            start_ts, rowid = _decode_cursor(cursor)
            op = "<" if newest_first else ">"
            page_where += f" AND (start_ts, rowid) {op} (?, ?)"
            page_params.extend((start_ts, rowid))
        order = "DESC" if newest_first else "ASC"
        # Only the fixed fragments above go into the statement; every value is a parameter.
        sql = (
            f"SELECT {_SUMMARY_COLUMNS}, rowid FROM executions WHERE {page_where} "  # noqa: S608
            f"ORDER BY start_ts {order}, rowid {order} LIMIT ?"
        )
        count_sql = f"SELECT COUNT(*) FROM executions WHERE {filters}"  # noqa: S608
        with self._lock:
            rows = self._execute(sql, (*page_params, limit + 1)).fetchall()
            total = int(self._execute(count_sql, params).fetchone()[0])
        more = len(rows) > limit
        rows = rows[:limit]
        items = [StoredExecution(*row[:-1]) for row in rows]
        next_cursor = _encode_cursor(rows[-1][4], rows[-1][-1]) if more and rows else None
        return ExecutionPage(items, next_cursor, total)

    def changed_since(self, updated_seq: int, limit: int = 1000) -> list[StoredExecution]:
        """Return executions saved after change sequence ``updated_seq``, oldest change first.

        Poll it with the largest ``updated_seq`` seen so far to follow every
        change any process makes (a live view).
        """
        with self._lock:
            rows = self._execute(
                _SELECT_SUMMARY + "WHERE updated_seq > ? ORDER BY updated_seq LIMIT ?",
                (updated_seq, max(1, min(limit, _MAX_PAGE))),
            ).fetchall()
        return [StoredExecution(*row) for row in rows]

    def change_sequence(self) -> int:
        """Return the latest change sequence: the largest ``updated_seq`` (0 when empty).

        A live view reads it once, then polls :meth:`changed_since` (or compares
        it again) to learn that any process saved anything since.
        """
        with self._lock:
            value = self._execute("SELECT MAX(updated_seq) FROM executions").fetchone()[0]
        return int(value or 0)

    def _eid(self, arn: str) -> int | None:
        entry = self._entries.get(arn)
        if entry is not None:
            return entry.eid
        row = self._execute("SELECT eid FROM executions WHERE arn = ?", (arn,)).fetchone()
        return None if row is None else int(row[0])

    def _operations(self, sql: str, params: Sequence[object]) -> list[StoredOperation]:
        rows = self._execute(sql, params).fetchall()
        mask = (1 << _SEQ_BITS) - 1
        return [
            StoredOperation(arn, key & mask, op_id, kind, status, name, label, callback_id)
            for arn, key, op_id, kind, status, name, label, callback_id in rows
        ]

    def operations_of(self, arn: str) -> list[StoredOperation]:
        """Return the queryable columns of every operation of ``arn``, in start order."""
        with self._lock:
            eid = self._eid(arn)
            if eid is None:
                return []
            return self._operations(_OPS_OF_EXECUTION, _range(eid))

    def events_of(
        self, arn: str, *, after: int = 0, limit: int | None = None
    ) -> list[dict[str, Any]]:
        """Return stored history events of ``arn`` from index ``after`` on (oldest first).

        The events are the service's own (``EventTimestamp`` a datetime, payload
        members included); :meth:`LocalDurableService.get_durable_execution_history`
        renders API shapes.
        """
        with self._lock:
            eid = self._eid(arn)
            if eid is None:
                return []
            lower, upper = _range(eid)
            sql = "SELECT ts, data FROM events WHERE key >= ? AND key < ? ORDER BY key"
            params: list[object] = [lower + max(0, after), upper]
            if limit is not None:
                sql += " LIMIT ?"
                params.append(max(0, limit))
            rows = self._execute(sql, params).fetchall()
        try:
            return [_event_from(ts, data) for ts, data in rows]
        except ValueError as exc:
            msg = f"the store {self._path} is corrupt: events of {arn} cannot be read"
            raise StoreError(msg, self._path) from exc

    def open_callbacks(self, arn: str | None = None, limit: int = 1000) -> list[OpenCallback]:
        """Return the callbacks still waiting for an answer, oldest execution first.

        Args:
            arn: Only this execution's (else every running execution's).
            limit: At most this many.
        """
        sql = _OPEN_CALLBACKS
        params: list[object] = []
        with self._lock:
            if arn is not None:
                eid = self._eid(arn)
                if eid is None:
                    return []
                sql += " AND o.key >= ? AND o.key < ?"
                params.extend(_range(eid))
            sql += " ORDER BY e.start_ts, o.key LIMIT ?"
            params.append(max(1, limit))
            rows = self._execute(sql, params).fetchall()
        return [
            OpenCallback(
                arn_, ex_name, function, op_id, label, callback_id, _op_from(data).start_ts
            )
            for arn_, ex_name, function, op_id, label, callback_id, data in rows
        ]

    def find_callback(self, callback_id: str) -> StoredOperation | None:
        """Return the operation that issued ``callback_id``, if it is in this store."""
        with self._lock:
            found = self._operations(_OPS_BY_CALLBACK, (callback_id,))
        return found[0] if found else None

    def callbacks_named(self, arn: str, label: str) -> list[StoredOperation]:
        """Return the callbacks of ``arn`` whose label (or name) is ``label``, in start order."""
        with self._lock:
            eid = self._eid(arn)
            if eid is None:
                return []
            lower, upper = _range(eid)
            return self._operations(_OPS_NAMED, (lower, upper, label, label))

    def latest_event_time(self, arn: str | None = None) -> float | None:
        """Return the time (epoch seconds) of the newest event of ``arn`` (or of any execution)."""
        with self._lock:
            if arn is None:
                value = self._execute("SELECT MAX(last_event_ts) FROM executions").fetchone()[0]
            else:
                row = self._execute(
                    "SELECT last_event_ts FROM executions WHERE arn = ?", (arn,)
                ).fetchone()
                value = None if row is None else row[0]
        return None if value is None else float(value)

    def annotate(self, arn: str, key: str, value: str) -> None:
        """Set annotation ``key`` of ``arn`` to ``value`` (tool metadata; the service ignores it).

        Raises:
            StoreError: The write failed (e.g. the store is locked).
        """
        with self._transaction():
            self._execute(
                "INSERT OR REPLACE INTO annotations (arn, key, value) VALUES (?, ?, ?)",
                (arn, key, value),
            )

    def annotation(self, arn: str, key: str) -> str | None:
        """Return annotation ``key`` of ``arn``, or ``None``."""
        with self._lock:
            row = self._execute(
                "SELECT value FROM annotations WHERE arn = ? AND key = ?", (arn, key)
            ).fetchone()
        return None if row is None else str(row[0])

    def annotated(self, key: str, value: str) -> list[str]:
        """Return the ARNs whose annotation ``key`` equals ``value``, in the order they were set."""
        with self._lock:
            rows = self._execute(
                "SELECT arn FROM annotations WHERE key = ? AND value = ? ORDER BY rowid",
                (key, value),
            ).fetchall()
        return [arn for (arn,) in rows]


def _clip(text: object) -> str | None:
    if not isinstance(text, str):
        return None
    return text if len(text) <= _ERROR_MESSAGE_CHARS else text[:_ERROR_MESSAGE_CHARS]


def _encode_cursor(start_ts: float, rowid: int) -> str:
    raw = json.dumps([start_ts, rowid], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode_cursor(cursor: str) -> tuple[float, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        start_ts, rowid = json.loads(raw)
        return float(start_ts), int(rowid)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{cursor!r} is not a cursor of this listing") from exc


class _LazyRecords(Sequence[ExecutionRecord]):
    """The executions of one function, each loaded only when indexed."""

    __slots__ = ("_arns", "_store")

    def __init__(self, store: SqliteStore, arns: list[str]) -> None:
        self._store = store
        self._arns = arns

    def __len__(self) -> int:
        return len(self._arns)

    @overload
    def __getitem__(self, index: int) -> ExecutionRecord: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[ExecutionRecord]: ...

    def __getitem__(self, index: int | slice) -> ExecutionRecord | Sequence[ExecutionRecord]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self._arns)))]
        arn = self._arns[index]
        record = self._store.load(arn)
        if record is None:
            raise StoreError(f"execution {arn} disappeared from the store", self._store.path)
        return record
