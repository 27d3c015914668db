"""What the SQLite back end adds to the local service: persistence, isolation, clear failures."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from durable_exec import DurableContext, Duration, durable_execution
from durable_exec.testing import (
    DurableTestRunner,
    LocalDurableService,
    SqliteStore,
    StoreError,
    VirtualClock,
)


@durable_execution
def approval(event: dict, context: DurableContext) -> dict:
    context.step(lambda _: "drafted", name="draft")
    context.wait(Duration.from_minutes(10), name="cool-off")
    answer = context.wait_for_callback(lambda callback_id, _: None, name="approve")
    return {"answer": answer}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "nested" / "dir" / "executions.db"


def service_on(store: SqliteStore) -> LocalDurableService:
    return LocalDurableService(VirtualClock(), store)


class TestPersistence:
    def test_an_execution_outlives_the_store_that_ran_it(self, path):
        """A finished execution reads back identically from a new store on the same file."""
        with SqliteStore(path) as store:
            result = (
                DurableTestRunner(approval, service=service_on(store))
                .on_callback("approve", result="yes")
                .run({"n": 1})
            )
            assert result.status == "SUCCEEDED"
        with SqliteStore(path) as store:
            service = service_on(store)
            assert service.execution_status(result.arn) == "SUCCEEDED"
            assert service.events(result.arn) == result.history
            assert service.result(result.arn) == result.result_payload

    def test_a_callback_answered_through_another_store_is_seen(self, path):
        """Two stores on one file act like two processes: an answer via one reaches the other."""
        with SqliteStore(path) as first, SqliteStore(path) as second:
            runner = DurableTestRunner(approval, service=service_on(first))
            waiting = runner.run({"n": 2}, pause_on_callbacks=True)
            assert waiting.status == "RUNNING"
            callback_id = runner.callback_id(waiting.arn, "approve")
            service_on(second).send_durable_execution_callback_success(
                CallbackId=callback_id, Result=b"ok"
            )
            assert runner.resume(waiting.arn).result == {"answer": "ok"}

    def test_a_lost_update_is_refused(self, path):
        """Saving a record another process changed since it was read raises, and writes nothing."""
        with SqliteStore(path) as first, SqliteStore(path) as second:
            arn = service_on(first).start_execution("orders", "{}")
            stale = first.load(arn)
            fresh = second.load(arn)
            assert stale is not None
            assert fresh is not None
            fresh.invocation_count = 5
            second.save(fresh)
            stale.invocation_count = 1
            with pytest.raises(StoreError, match="changed by another process"):
                first.save(stale)
            reloaded = first.load(arn)
            assert reloaded is not None
            assert reloaded.invocation_count == 5

    def test_a_failed_transaction_leaves_nothing_behind(self, path):
        """An error inside a transaction rolls back the rows and the cached record."""
        with SqliteStore(path) as store:
            arn = service_on(store).start_execution("orders", "{}")
            record = store.load(arn)
            assert record is not None
            with pytest.raises(RuntimeError), store.transaction():
                record.status = "FAILED"
                store.save(record)
                raise RuntimeError("boom")
            again = store.load(arn)
            assert again is not None
            assert again.status == "RUNNING"
            assert again is not record

    def test_index_and_annotations(self, path):
        """index() lists executions without histories; annotations are per-ARN metadata."""
        with SqliteStore(path) as store:
            service = service_on(store)
            first = service.start_execution("orders", "{}", execution_name="a")
            second = service.start_execution("invoices", None, execution_name="b")
            assert [(e.function_name, e.name, e.status) for e in store.index()] == [
                ("orders", "a", "RUNNING"),
                ("invoices", "b", "RUNNING"),
            ]
            assert len(store) == 2
            assert store.latest_event_time() == service.clock.now()
            store.annotate(second, "parent", first)
            assert store.annotation(second, "parent") == first
            assert store.annotation(first, "parent") is None
            assert store.annotated("parent", first) == [second]


class TestFiles:
    def test_new_files_and_directories_are_private(self, path):
        """The store file is 0600 and the directories it created are 0700."""
        with SqliteStore(path) as store:
            service_on(store).start_execution("orders", "{}")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(path.parent.parent.stat().st_mode) == 0o700
        for sibling in path.parent.iterdir():
            assert stat.S_IMODE(sibling.stat().st_mode) == 0o600, sibling

    def test_an_existing_directory_keeps_its_mode(self, tmp_path):
        """Only directories the store creates are restricted."""
        tmp_path.chmod(0o755)
        with SqliteStore(tmp_path / "executions.db"):
            pass
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755

    def test_a_missing_file_is_not_created_on_request(self, path):
        """create=False refuses a file that does not exist, and creates nothing."""
        with pytest.raises(StoreError, match="there is no store"):
            SqliteStore(path, create=False)
        assert not path.parent.exists()

    @pytest.mark.parametrize(
        "content", [b"not a database at all" * 100, b"SQLite format 3\x00" + b"\xff" * 200]
    )
    def test_a_corrupt_file_is_refused_and_untouched(self, path, content):
        """A file that is not a readable database raises StoreError and is left as it was."""
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        path.chmod(0o600)
        with pytest.raises(StoreError, match="corrupt or not a database"):
            SqliteStore(path)
        assert path.read_bytes() == content

    def test_another_applications_database_is_refused(self, path):
        """An SQLite file with other tables is not taken over."""
        path.parent.mkdir(parents=True)
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE notes (text TEXT)")
        conn.close()
        path.chmod(0o600)
        with pytest.raises(StoreError, match="another application"):
            SqliteStore(path)

    def test_a_locked_file_gives_one_clear_error(self, path):
        """Another process's write lock makes writes fail after the timeout, not hang."""
        with SqliteStore(path) as store:
            arn = service_on(store).start_execution("orders", "{}")
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            with SqliteStore(path, timeout=0.05) as store:
                service = service_on(store)
                assert service.execution_status(arn) == "RUNNING"  # reading still works
                with pytest.raises(StoreError, match="locked by another process"):
                    service.stop_durable_execution(DurableExecutionArn=arn)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        with SqliteStore(path) as store:
            assert service_on(store).execution_status(arn) == "RUNNING"


# ---------------------------------------------------------------------------------------------
# Schema version 2: per-batch writes, summary columns, typed reads, upgrades.

import contextlib  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Iterator  # noqa: E402

from durable_exec import (  # noqa: E402
    InvokeConfig,
    RetryPresets,
    StepConfig,
    WaitForCallbackConfig,
)
from durable_exec.testing._model import OperationRecord  # noqa: E402
from durable_exec.testing._sqlite_store import rebuild_timers  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _example(name: str):
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location("_example_" + name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@durable_execution
def busy(event: dict, context: DurableContext) -> dict:
    """Steps, a retried step, a wait, a callback with timeouts, a chained invoke, a map."""
    context.step(lambda _: "a", name="first")

    def sometimes(step_context):
        if step_context.attempt < 2:
            raise ValueError("not yet")
        return step_context.attempt

    context.step(sometimes, name="flaky", config=StepConfig(retry_strategy=RetryPresets.default()))
    context.wait(Duration.from_minutes(3), name="pause")
    answer = context.wait_for_callback(
        lambda callback_id, _: None,
        name="approve",
        config=WaitForCallbackConfig(
            timeout=Duration.from_hours(1), heartbeat_timeout=Duration.from_minutes(30)
        ),
    )
    total = context.invoke("adder", {"x": 2}, name="add", config=InvokeConfig())
    squares = context.map([1, 2, 3], lambda ctx, item, i, items: item * item, name="squares")
    return {"answer": answer, "total": total, "squares": squares.get_results()}


def adder(event: dict, _context: object) -> int:
    return event["x"] + 1


def _snapshot(record) -> dict:
    """Everything a record persists, in comparable form."""
    ops = {
        op.id: tuple(getattr(op, f) for f in OperationRecord.__dataclass_fields__)
        for op in record.order
    }
    state = {
        name: getattr(record, name)
        for name in (
            "status",
            "end_ts",
            "result",
            "error",
            "token",
            "token_seq",
            "wake",
            "pending_count",
            "timeout_due",
            "invocation_count",
            "invocation_start_ts",
            "request_id",
            "invocation_owner",
        )
    }
    state["unseen"] = list(record.unseen)
    state["updated_since_invocation"] = list(record.updated_since_invocation)
    live = sorted((t[0], t[2], t[3]) for t in rebuild_timers(record))
    return {"ops": ops, "events": record.events, "state": state, "timers": live}


class CheckedStore(SqliteStore):
    """After every commit, reads the file afresh and compares it to the live records."""

    checks = 0

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[object]:
        outermost = self._depth == 0
        with super()._transaction() as handle:
            yield handle
        if not outermost:
            return
        with SqliteStore(self.path, cache=False) as fresh:
            for arn, entry in list(self._entries.items()):
                stored = fresh.load(arn)
                assert stored is not None
                assert _snapshot(stored) == _snapshot(entry.record), arn
                CheckedStore.checks += 1


class TestWritesOnlyWhatChanged:
    @pytest.mark.parametrize("example", ["order_processing", "fan_out", "polling", "approval"])
    def test_every_commit_matches_the_live_records_for_each_example(self, path, example):
        """After every commit of every example, the file holds exactly the live records."""
        handler = _example(example).handler
        inputs = {
            "order_processing": {"order_id": "o-1", "items": 2},
            "fan_out": {"lines": 40},
            "polling": {"job_id": "j-1"},
            "approval": {"request": "pen", "manager": "m@example.com"},
        }
        before = CheckedStore.checks
        with CheckedStore(path) as store:
            runner = DurableTestRunner(handler, service=service_on(store))
            if example == "approval":
                runner.on_callback("manager-approval", result="approved")
            result = runner.run(inputs[example])
        assert result.status == "SUCCEEDED"
        assert CheckedStore.checks - before > 5

    def test_every_commit_matches_for_timers_callbacks_and_invokes(self, path):
        """Service-side changes (timers, heartbeats, callbacks, invokes) reach the file too."""
        with CheckedStore(path) as store:
            service = service_on(store)
            runner = DurableTestRunner(busy, service=service).register_function("adder", adder)
            waiting = runner.run({}, pause_on_callbacks=True)
            callback_id = runner.callback_id(waiting.arn, "approve")
            service.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
            service.send_durable_execution_callback_success(CallbackId=callback_id, Result=b"ok")
            result = runner.resume(waiting.arn)
        assert result.status == "SUCCEEDED"
        assert result.result == {"answer": "ok", "total": 3, "squares": [1, 4, 9]}

    def test_a_save_writes_only_the_operations_marked_changed(self, path):
        """An operation nobody marked changed is not rewritten: a save costs O(batch)."""
        with SqliteStore(path) as store:
            service = service_on(store)
            result = DurableTestRunner(_example("fan_out").handler, service=service).run(
                {"lines": 30}
            )
            record = store.load(result.arn)
            assert record is not None
            untouched = record.order[5]
            untouched.name = "changed-behind-the-store's-back"
            statements: list[str] = []
            store._conn.set_trace_callback(statements.append)
            service.stop_durable_execution(DurableExecutionArn=result.arn)  # a no-op save path
            with store.transaction():
                record.invocation_count += 1
                store.save(record)
            store._conn.set_trace_callback(None)
        writes = [s for s in statements if s.startswith("INSERT OR REPLACE INTO operations")]
        assert writes == []
        with SqliteStore(path) as store:
            again = store.load(result.arn)
            assert again is not None
            assert again.order[5].name != "changed-behind-the-store's-back"
            assert again.invocation_count == record.invocation_count

    def test_operation_rows_written_grow_with_the_operations_not_their_square(self, path):
        """Each checkpoint writes its own operations: rows written stay about 2 per operation."""

        @durable_execution
        def long(event: dict, context: DurableContext) -> str:
            for i in range(300):
                context.step(lambda _, i=i: i, name=f"s{i}")  # type: ignore[misc]
            context.wait(Duration(5), name="nap")
            return context.step(lambda _: "done", name="last")

        statements: list[str] = []
        with SqliteStore(path) as store:
            store._conn.set_trace_callback(statements.append)
            result = DurableTestRunner(long, service=service_on(store)).run({})
            store._conn.set_trace_callback(None)
        assert result.status == "SUCCEEDED"
        op_writes = [s for s in statements if "INTO operations" in s]
        assert 302 <= len(op_writes) <= 2 * 303, len(op_writes)


class TestTypedReads:
    @pytest.fixture
    def filled(self, path) -> Iterator[tuple[SqliteStore, LocalDurableService]]:
        with SqliteStore(path) as store:
            service = service_on(store)
            for i in range(7):
                function = "orders" if i % 2 == 0 else "invoices"
                arn = service.start_execution(function, "{}", execution_name=f"ex-{i}")
                service.clock.advance(1)  # type: ignore[attr-defined]  # a VirtualClock
                if i % 3 == 0:
                    service.stop_durable_execution(
                        DurableExecutionArn=arn, Error={"ErrorMessage": f"stopped {i}"}
                    )
            yield store, service

    def test_pages_walk_every_execution_newest_first(self, filled):
        """A cursor walks all matches, newest first, without repeats."""
        store, _ = filled
        seen: list[str] = []
        cursor = None
        while True:
            page = store.list_executions(limit=3, cursor=cursor)
            assert page.total == 7
            seen += [item.name for item in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [f"ex-{i}" for i in reversed(range(7))]
        oldest = store.list_executions(limit=2, newest_first=False)
        assert [item.name for item in oldest.items] == ["ex-0", "ex-1"]

    def test_filters_and_search(self, filled):
        """Status, function, name prefix and search filter, and total counts the matches."""
        store, _ = filled
        stopped = store.list_executions(status="STOPPED")
        assert sorted(item.name for item in stopped.items) == ["ex-0", "ex-3", "ex-6"]
        assert stopped.items[0].error_message == "stopped 6"
        both = store.list_executions(status=["STOPPED", "RUNNING"], function_name="invoices")
        assert sorted(item.name for item in both.items) == ["ex-1", "ex-3", "ex-5"]
        assert store.list_executions(search="x-4").total == 1
        assert store.list_executions(search="%").total == 0  # LIKE wildcards are literal
        assert store.list_executions(name="ex-").total == 7

    def test_a_foreign_cursor_is_refused(self, filled):
        store, _ = filled
        with pytest.raises(ValueError, match="not a cursor"):
            store.list_executions(cursor="bogus!")
        with pytest.raises(ValueError, match="limit"):
            store.list_executions(limit=0)

    def test_changed_since_follows_every_save(self, filled):
        """changed_since lists what changed after a sequence number, oldest change first."""
        store, service = filled
        latest = max(item.updated_seq for item in store.list_executions(limit=100).items)
        assert store.changed_since(latest) == []
        arn = store.list_executions(status="RUNNING", limit=1).items[0].arn
        service.stop_durable_execution(DurableExecutionArn=arn)
        changed = store.changed_since(latest)
        assert [item.arn for item in changed] == [arn]
        assert changed[0].status == "STOPPED"

    def test_summary_columns_follow_the_execution(self, path):
        """Counts, status and error type are kept in the summary as the execution runs."""
        with SqliteStore(path) as store:
            result = DurableTestRunner(approval, service=service_on(store)).on_callback(
                "approve", error={"ErrorType": "Denied", "ErrorMessage": "no"}
            ).run({})
            summary = store.summary(result.arn)
        assert summary is not None
        assert summary.status == "FAILED"
        assert summary.invocation_count == result.invocations
        assert summary.operation_count == len(result.operations)
        assert summary.error_type is not None
        assert summary.error_type.endswith(".CallbackExternalError")
        assert summary.error_message == "no"
        assert summary.last_event_ts == result.history[-1]["EventTimestamp"].timestamp()

    def test_open_callbacks_by_label_and_id(self, path):
        """Open callbacks are listed with the name of their wait_for_callback, and found by id."""
        with SqliteStore(path) as store:
            runner = DurableTestRunner(approval, service=service_on(store))
            waiting = runner.run({}, pause_on_callbacks=True)
            callback_id = runner.callback_id(waiting.arn, "approve")
            [found] = store.open_callbacks()
            assert (found.arn, found.name, found.callback_id) == (
                waiting.arn,
                "approve",
                callback_id,
            )
            assert store.open_callbacks(waiting.arn) == [found]
            located = store.find_callback(callback_id)
            assert located is not None
            assert (located.arn, located.type, located.status) == (
                waiting.arn,
                "CALLBACK",
                "STARTED",
            )
            assert [op.callback_id for op in store.callbacks_named(waiting.arn, "approve")] == [
                callback_id
            ]
            runner.send_callback_success(callback_id, result="yes")
            runner.resume(waiting.arn)
            assert store.open_callbacks() == []
            events = store.events_of(waiting.arn, after=2, limit=3)
            assert [e["EventId"] for e in events] == [3, 4, 5]


class TestRecovery:
    def test_timers_are_rebuilt_when_read_by_another_process(self, path):
        """Timers are not stored: a fresh store rebuilds them, and the execution goes on."""
        with SqliteStore(path) as store:
            runner = DurableTestRunner(busy, service=service_on(store))
            arn = runner.start({})
            service = runner.service
            service.invocation_event(arn)
            # The handler would now wait; run it properly instead, up to the callback.
            service.interrupt_invocation(arn, "test")
            runner.register_function("adder", adder)
            waiting = runner.resume(arn, pause_on_callbacks=True)
            assert waiting.status == "RUNNING"
            due = service.next_due(arn)
            assert due is not None
        with SqliteStore(path) as store:
            service = service_on(store)
            assert service.next_due(arn) == due

    def test_an_interrupted_invocation_is_retried(self, path):
        """A crash leaves an invocation in flight; ending it makes the execution runnable."""
        with SqliteStore(path) as store:
            service = service_on(store)
            arn = service.start_execution("orders", "{}")
            service.invocation_event(arn, owner="host:1:x")
            assert service.invocation_in_flight(arn) == (True, "host:1:x")
            assert not service.is_runnable(arn)
        with SqliteStore(path) as store:
            service = service_on(store)
            assert service.invocation_in_flight(arn) == (True, "host:1:x")
            assert service.interrupt_invocation(arn, "the process died")
            assert service.invocation_in_flight(arn) == (False, None)
            assert service.is_runnable(arn)
            last = service.events(arn)[-1]
            assert last["EventType"] == "InvocationCompleted"
            error = last["InvocationCompletedDetails"]["Error"]["Payload"]
            assert error == {"ErrorType": "Runtime.ExitError", "ErrorMessage": "the process died"}
            assert not service.interrupt_invocation(arn, "again")

    def test_a_failed_invocation_leaves_the_execution_runnable(self, path):
        """Lambda retries an invocation that raised: so the next resume invokes again."""
        with SqliteStore(path) as store:
            service = service_on(store)
            arn = service.start_execution("orders", "{}")
            service.invocation_event(arn)
            service.record_invocation(arn, None, error=RuntimeError("boom"))
            assert service.is_runnable(arn)


class TestUpgrade:
    def test_a_version_1_store_is_upgraded_in_place(self, path):
        """A store written by schema version 1 reads back identically after the upgrade."""
        with SqliteStore(path) as store:
            result = DurableTestRunner(approval, service=service_on(store)).on_callback(
                "approve", result="yes"
            ).run({"n": 1})
            store.annotate(result.arn, "k", "v")
            waiting_runner = DurableTestRunner(approval, service=service_on(store))
            waiting = waiting_runner.run({"n": 2}, pause_on_callbacks=True)
            expected = {arn: _snapshot(store.load(arn)) for arn in (result.arn, waiting.arn)}
        _downgrade_to_version_1(path)
        with SqliteStore(path) as store:
            assert store._conn.execute("PRAGMA user_version").fetchone()[0] == 2
            for arn, snapshot in expected.items():
                record = store.load(arn)
                assert record is not None
                got = _snapshot(record)
                got["state"]["unseen"] = snapshot["state"]["unseen"]
                assert got == snapshot
            assert store.annotation(result.arn, "k") == "v"
            assert [c.name for c in store.open_callbacks()] == ["approve"]
            assert store.list_executions(status="RUNNING").total == 1
            runner = DurableTestRunner(approval, service=service_on(store))
            runner.send_callback_success(runner.callback_id(waiting.arn, "approve"), result="ok")
            assert runner.resume(waiting.arn).result == {"answer": "ok"}


def _downgrade_to_version_1(path: Path) -> None:
    """Rewrite a version 2 file in version 1's layout (what an older durable_exec wrote)."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        rows = conn.execute(
            "SELECT eid, arn, function_name, name, status, start_ts, end_ts, version, state "
            "FROM executions"
        ).fetchall()
        ops = conn.execute("SELECT key, data FROM operations").fetchall()
        events = conn.execute("SELECT key, ts, data FROM events").fetchall()
        for table in ("executions", "operations", "events"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute(
            "CREATE TABLE executions (arn TEXT PRIMARY KEY, function_name TEXT NOT NULL, "
            "name TEXT NOT NULL, status TEXT NOT NULL, start_ts REAL NOT NULL, end_ts REAL, "
            "version INTEGER NOT NULL, state TEXT NOT NULL, UNIQUE (function_name, name))"
        )
        conn.execute(
            "CREATE TABLE operations (arn TEXT NOT NULL, seq INTEGER NOT NULL, "
            "data TEXT NOT NULL, PRIMARY KEY (arn, seq))"
        )
        conn.execute(
            "CREATE TABLE events (arn TEXT NOT NULL, seq INTEGER NOT NULL, ts REAL NOT NULL, "
            "data TEXT NOT NULL, PRIMARY KEY (arn, seq))"
        )
        arn_of = {}
        for eid, arn, function, name, status, start, end, version, state in rows:
            arn_of[eid] = arn
            conn.execute(
                "INSERT INTO executions VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (arn, function, name, status, start, end, version, state),
            )
        fields = list(OperationRecord.__dataclass_fields__)
        for key, data in ops:
            keyed = dict(zip(fields, json.loads(data), strict=True))
            conn.execute(
                "INSERT INTO operations VALUES (?, ?, ?)",
                (arn_of[key >> 32], key & 0xFFFFFFFF, json.dumps(keyed)),
            )
        from datetime import UTC, datetime

        for key, ts, data in events:
            event = json.loads(data)
            event["EventTimestamp"] = {"$dt": datetime.fromtimestamp(ts, UTC).isoformat()}
            conn.execute(
                "INSERT INTO events VALUES (?, ?, ?, ?)",
                (arn_of[key >> 32], key & 0xFFFFFFFF, ts, json.dumps(event)),
            )
        for index in ("annotations_by_value",):
            conn.execute(f"DROP INDEX IF EXISTS {index}")
        conn.execute("CREATE INDEX annotations_by_value ON annotations (key, value)")
        conn.execute("PRAGMA user_version=1")
        conn.execute("COMMIT")
    finally:
        conn.close()


class TestSharing:
    def test_the_file_runs_in_wal_mode_with_a_busy_timeout(self, path):
        """WAL lets readers and a writer share the file; the busy timeout waits for the lock."""
        with SqliteStore(path, timeout=2.5) as store:
            conn = store._conn
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 2500


class TestConcurrentProcesses:
    def test_a_change_committed_between_read_and_write_is_not_refused(self, path):
        """A mutation reads its execution under the write lock: another process's commit
        cannot slip in between (it waits), so the mutation never fails as 'changed elsewhere'."""
        with SqliteStore(path) as first, SqliteStore(path, timeout=0.05) as second:
            service = service_on(first)
            other = service_on(second)
            arn = service.start_execution("orders", "{}")
            token = service.invocation_event(arn)["CheckpointToken"]
            original_load = first.load
            interfered: list[str] = []

            def load_then_interfere(execution_arn):
                record = original_load(execution_arn)
                try:  # another process changes the execution right after this read
                    other.invocation_in_flight(arn)
                    with second.transaction():
                        theirs = second.load(arn)
                        assert theirs is not None
                        theirs.invocation_owner = "someone-else"
                        second.save(theirs)
                    interfered.append("committed")
                except StoreError:
                    interfered.append("waited")  # held off by the write lock
                first.load = original_load
                return record

            first.load = load_then_interfere
            response = service.checkpoint_durable_execution(
                DurableExecutionArn=arn,
                CheckpointToken=token,
                Updates=[{"Id": "s1", "Type": "STEP", "Action": "START", "Name": "s"}],
            )
            assert interfered == ["waited"]
            assert "CheckpointToken" in response
