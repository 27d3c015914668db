"""A persistent :class:`~durable_exec.testing._store.ExecutionStore` in one SQLite file.

:class:`SqliteStore` lets the local service keep executions across processes
(the ``durable-exec`` command line uses it). The file holds four tables:
``executions`` (one row per execution: indexed columns plus the record's
scalar state as JSON, and a ``version`` bumped by every save), ``operations``
and ``events`` (one row each, written only when new or changed, so a save costs
O(what changed) rather than O(history)), and ``annotations``, free-form
``(arn, key) -> text`` metadata for tools layered on top (the command line
records which handler runs an execution there); the service never reads it.

Each ``transaction()`` is a real SQLite transaction (``BEGIN IMMEDIATE`` ...
``COMMIT``; ``ROLLBACK`` if the block raises), so a service mutation is written
entirely or not at all. Records are cached between loads; ``load`` checks the
row's version first, so a change committed by another process is read afresh,
and ``save`` refuses (raising :class:`StoreError`) to overwrite a row another
process changed since this one read it. A rollback drops the whole cache: the
next load re-reads what was committed.

A file that is locked past the timeout, is not an SQLite database, or is
another application's database raises :class:`StoreError` with one clear
message, and nothing is written to it. A new store file is created readable
and writable by its owner only (``0600``), in directories created ``0700``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import operator
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple, Self, overload

from durable_exec.testing._model import ExecutionRecord, IdempotencyRecord, OperationRecord

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

__all__ = ["SqliteStore", "StoreError", "StoredExecution"]

_APPLICATION_ID: Final = 0x44584531  # "DXE1": marks the file as a durable_exec store
_SCHEMA_VERSION: Final = 1
_SCHEMA: Final = """
CREATE TABLE executions (
    arn TEXT PRIMARY KEY,
    function_name TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    start_ts REAL NOT NULL,
    end_ts REAL,
    version INTEGER NOT NULL,
    state TEXT NOT NULL,
    UNIQUE (function_name, name)
);
CREATE TABLE operations (
    arn TEXT NOT NULL REFERENCES executions (arn),
    seq INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (arn, seq)
);
CREATE TABLE events (
    arn TEXT NOT NULL REFERENCES executions (arn),
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (arn, seq)
);
CREATE TABLE annotations (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
CREATE INDEX annotations_by_value ON annotations (key, value);
"""
_TABLES: Final = frozenset({"executions", "operations", "events", "annotations"})

# The ExecutionRecord members kept in the `state` JSON; the rest have tables.
_OWN_TABLES: Final = frozenset({"ops", "order", "events"})
_STATE_FIELDS: Final = tuple(
    f.name for f in dataclasses.fields(ExecutionRecord) if f.name not in _OWN_TABLES
)
_OP_FIELDS: Final = tuple(f.name for f in dataclasses.fields(OperationRecord))
_op_snapshot = operator.attrgetter(*_OP_FIELDS)


class StoreError(Exception):
    """The SQLite store cannot be used: locked, corrupt, foreign, or changed elsewhere.

    Args:
        message: What went wrong and what to do, in one line.
        path: The store file.
    """

    def __init__(self, message: str, path: str | os.PathLike[str]) -> None:
        super().__init__(message)
        self.path = os.fspath(path)


class StoredExecution(NamedTuple):
    """One execution as the store's index sees it (no history is read).

    Attributes:
        arn: The execution's ARN.
        function_name: The function it runs.
        name: The execution name.
        status: RUNNING, SUCCEEDED, FAILED, TIMED_OUT or STOPPED.
        start_ts: Start time, epoch seconds.
        end_ts: End time, epoch seconds, or ``None`` while running.
    """

    arn: str
    function_name: str
    name: str
    status: str
    start_ts: float
    end_ts: float | None


@dataclasses.dataclass(slots=True)
class _Entry:
    """A cached record and what the file holds for it (to write only what changed)."""

    record: ExecutionRecord
    version: int
    ops: dict[str, tuple[Any, ...]]
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
    last = execution.last_checkpoint
    state["last_checkpoint"] = None if last is None else dataclasses.asdict(last)
    return state


def _record_from(
    state: dict[str, Any], ops: list[OperationRecord], events: list[dict[str, Any]]
) -> ExecutionRecord:
    known = {name: state[name] for name in _STATE_FIELDS if name in state}
    known["unseen"] = dict.fromkeys(known.get("unseen", ()))
    known["updated_since_invocation"] = dict.fromkeys(known.get("updated_since_invocation", ()))
    known["timers"] = [tuple(timer) for timer in known.get("timers", ())]
    last = known.get("last_checkpoint")
    known["last_checkpoint"] = None if last is None else IdempotencyRecord(**last)
    return ExecutionRecord(**known, ops={op.id: op for op in ops}, order=ops, events=events)


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


class SqliteStore:
    """An :class:`ExecutionStore` persisted in one SQLite file (stdlib ``sqlite3``).

    Pass it to :class:`~durable_exec.testing.LocalDurableService` to keep
    executions across processes. The store is safe to share between threads
    (the service serialises its calls) and between processes (SQLite locks;
    versions detect lost updates). Close it with :meth:`close` or use it as a
    context manager.

    Args:
        path: The database file. Created (``0600``, parent directories ``0700``)
            if missing and ``create`` is true.
        timeout: Seconds to wait for another process's write lock before
            raising :class:`StoreError`.
        create: Create the file if it does not exist (else raise :class:`StoreError`).
        cache: Reuse loaded records while their row is unchanged. ``False``
            re-reads every record on every load (slower; proves the round trip).

    Raises:
        StoreError: The file is locked, is not a database, belongs to another
            application or to another schema version, or cannot be created.

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
    ) -> None:
        self._path = Path(path)
        self._timeout = timeout
        self._cache = cache
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
        if isinstance(exc, sqlite3.OperationalError) and "locked" in text:
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
        if not path.exists():
            if not create:
                raise StoreError(f"there is no store at {path}", path)
            try:
                _make_private_dirs(path.parent)
                fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
                os.close(fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise StoreError(f"cannot create the store {path}: {exc.strerror}", path) from exc
        elif path.is_dir():
            raise StoreError(f"the store {path} is a directory, not a file", path)
        try:
            conn = sqlite3.connect(
                path, timeout=self._timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._fail(exc) from exc
        try:
            self._check_schema(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
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
        if version != _SCHEMA_VERSION:
            raise StoreError(
                f"the store {self._path} has schema version {version}; this durable_exec "
                f"reads version {_SCHEMA_VERSION}",
                self._path,
            )
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not tables >= _TABLES:
            raise StoreError(f"the store {self._path} is corrupt (tables are missing)", self._path)

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
            "SELECT version, state FROM executions WHERE arn = ?", (arn,)
        ).fetchone()
        op_rows = self._execute(
            "SELECT data FROM operations WHERE arn = ? ORDER BY seq", (arn,)
        ).fetchall()
        event_rows = self._execute(
            "SELECT data FROM events WHERE arn = ? ORDER BY seq", (arn,)
        ).fetchall()
        try:
            ops = [OperationRecord(**_loads(data)) for (data,) in op_rows]
            events = [_loads(data) for (data,) in event_rows]
            record = _record_from(_loads(row[1]), ops, events)
        except (ValueError, TypeError, KeyError) as exc:
            msg = f"the store {self._path} is corrupt: execution {arn} cannot be read ({exc})"
            raise StoreError(msg, self._path) from exc
        entry = _Entry(record, row[0], {op.id: _op_snapshot(op) for op in ops}, len(events))
        self._entries[arn] = entry
        return entry

    def save(self, execution: ExecutionRecord) -> None:
        """Write what changed in ``execution`` (inside the current transaction, if any).

        Raises:
            StoreError: Another process changed the execution since it was
                loaded here, or the write failed.
        """
        with self._transaction():
            arn = execution.arn
            entry = self._entries.get(arn)
            row = self._execute("SELECT version FROM executions WHERE arn = ?", (arn,)).fetchone()
            if row is None:
                entry = _Entry(execution, 0, {}, 0)
                self._execute(
                    "INSERT INTO executions (arn, function_name, name, status, start_ts, end_ts, "
                    "version, state) VALUES (?, ?, ?, ?, ?, ?, 0, '{}')",
                    (
                        arn,
                        execution.function_name,
                        execution.name,
                        execution.status,
                        execution.start_ts,
                        execution.end_ts,
                    ),
                )
                self._entries[arn] = entry
            elif entry is None or entry.record is not execution or entry.version != row[0]:
                self._entries.pop(arn, None)
                msg = (
                    f"execution {arn} was changed by another process while this one "
                    "worked on it; run the command again"
                )
                raise StoreError(msg, self._path)
            self._write(execution, entry)

    def _write(self, execution: ExecutionRecord, entry: _Entry) -> None:
        arn = execution.arn
        for op in execution.order:
            snapshot = _op_snapshot(op)
            if entry.ops.get(op.id) != snapshot:
                data = _dumps(dict(zip(_OP_FIELDS, snapshot, strict=True)))
                self._execute(
                    "INSERT OR REPLACE INTO operations (arn, seq, data) VALUES (?, ?, ?)",
                    (arn, op.seq, data),
                )
                entry.ops[op.id] = snapshot
        events = execution.events
        for seq in range(entry.events_saved, len(events)):
            event = events[seq]
            stamp = event.get("EventTimestamp")
            ts = stamp.timestamp() if isinstance(stamp, datetime) else 0.0
            self._execute(
                "INSERT INTO events (arn, seq, ts, data) VALUES (?, ?, ?, ?)",
                (arn, seq, ts, _dumps(event)),
            )
        entry.events_saved = len(events)
        entry.version += 1
        self._execute(
            "UPDATE executions SET status = ?, end_ts = ?, version = ?, state = ? WHERE arn = ?",
            (execution.status, execution.end_ts, entry.version, _dumps(_state_of(execution)), arn),
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
                "SELECT arn FROM executions WHERE function_name = ? ORDER BY rowid",
                (function_name,),
            ).fetchall()
        return _LazyRecords(self, [arn for (arn,) in rows])

    def arns(self) -> Iterator[str]:
        """Iterate over every stored ARN, in start order."""
        with self._lock:
            rows = self._execute("SELECT arn FROM executions ORDER BY rowid").fetchall()
        return iter([arn for (arn,) in rows])

    def __len__(self) -> int:
        with self._lock:
            return int(self._execute("SELECT COUNT(*) FROM executions").fetchone()[0])

    # ----------------------------------------------------------- beyond the protocol

    def index(self) -> list[StoredExecution]:
        """Return every execution's indexed columns, in start order, without reading histories."""
        with self._lock:
            rows = self._execute(
                "SELECT arn, function_name, name, status, start_ts, end_ts FROM executions "
                "ORDER BY rowid"
            ).fetchall()
        return [StoredExecution(*row) for row in rows]

    def latest_event_time(self) -> float | None:
        """Return the timestamp (epoch seconds) of the newest stored event, or ``None``."""
        with self._lock:
            value = self._execute("SELECT MAX(ts) FROM events").fetchone()[0]
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
