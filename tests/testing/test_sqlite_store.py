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
