"""The embedded local service over the store file, and what the CLI keeps beside executions.

The store (default ``./.durable/executions.db``, ``--store`` or
``$DURABLE_EXEC_STORE`` to change) holds the service's executions; its
annotations hold CLI metadata the service never reads: which handler runs an
execution (so ``resume`` works from any process) and, for a child execution
started by a chained invoke, its parent and the CHAINED_INVOKE operation.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Final, Self

from durable_exec._cli._errors import CliError
from durable_exec._cli._loader import HandlerSpec
from durable_exec._clock import SYSTEM_CLOCK, Clock
from durable_exec.testing import LocalDurableService, SqliteStore, StoreError, VirtualClock

__all__ = [
    "DEFAULT_STORE",
    "PARENT_KEY",
    "PARENT_OPERATION_KEY",
    "RUN_KEY",
    "STORE_ENV",
    "LocalBackend",
    "RunRecord",
    "store_path",
]

DEFAULT_STORE: Final = Path(".durable") / "executions.db"
STORE_ENV: Final = "DURABLE_EXEC_STORE"
LOCK_TIMEOUT_ENV: Final = "DURABLE_EXEC_LOCK_TIMEOUT"
RUN_KEY: Final = "durable-exec.run"
PARENT_KEY: Final = "durable-exec.parent"
PARENT_OPERATION_KEY: Final = "durable-exec.parent-operation"


def store_path(option: str | None) -> Path:
    """Return the store file: ``--store``, else ``$DURABLE_EXEC_STORE``, else the default."""
    return Path(option or os.environ.get(STORE_ENV) or DEFAULT_STORE)


def _lock_timeout() -> float:
    raw = os.environ.get(LOCK_TIMEOUT_ENV)
    if not raw:
        return 5.0
    try:
        value = float(raw)
    except ValueError:
        raise CliError(f"${LOCK_TIMEOUT_ENV} must be a number of seconds, got {raw!r}") from None
    return max(0.0, value)


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
            raise CliError(f"the store holds an unreadable run record: {exc}") from exc


class LocalBackend:
    """The local service, its clock and (if the file exists or may be created) its store.

    In virtual time the clock starts at the later of now and the newest stored
    event, so time never runs backwards across commands; skipped waits move it on.

    Args:
        path: The store file.
        create: Create the file if missing. If false and it is missing, the
            service runs on an empty in-memory store (reads find nothing).
        real_time: Use the system clock instead of a virtual one.

    Raises:
        CliError: The store is locked, corrupt, or cannot be created.
    """

    def __init__(self, path: Path, *, create: bool, real_time: bool = False) -> None:
        self.path = path
        self.store: SqliteStore | None = None
        if create or path.exists():
            new_directory = not path.parent.exists()
            try:
                self.store = SqliteStore(path, timeout=_lock_timeout(), create=create)
            except StoreError as exc:
                raise CliError(str(exc)) from exc
            if new_directory:
                # Keep local executions (inputs, results) out of version control.
                with contextlib.suppress(OSError):
                    (path.parent / ".gitignore").write_text("*\n")
        latest = self.store.latest_event_time() if self.store is not None else None
        self.clock: Clock = (
            SYSTEM_CLOCK if real_time else VirtualClock(max(SYSTEM_CLOCK.now(), latest or 0.0))
        )
        self.service = LocalDurableService(self.clock, self.store)

    def close(self) -> None:
        """Close the store."""
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def function_names(self) -> list[str]:
        """Return every function with stored executions, in first-start order."""
        if self.store is None:
            return []
        return list(dict.fromkeys(entry.function_name for entry in self.store.index()))

    def run_record(self, arn: str) -> RunRecord | None:
        """Return what ``run`` recorded for ``arn``, if it started it."""
        if self.store is None:
            return None
        text = self.store.annotation(arn, RUN_KEY)
        return None if text is None else RunRecord.loads(text)

    def parent_of(self, arn: str) -> tuple[str, str] | None:
        """Return (parent ARN, CHAINED_INVOKE operation id) of a child execution, if any."""
        if self.store is None:
            return None
        parent = self.store.annotation(arn, PARENT_KEY)
        operation = self.store.annotation(arn, PARENT_OPERATION_KEY)
        return None if parent is None or operation is None else (parent, operation)
