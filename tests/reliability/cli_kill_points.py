"""Kill points for the command-line crash campaign (``test_cli_crash_campaign.py``).

``python cli_kill_points.py ARGS...`` runs ``python -m durable_exec ARGS...``
unchanged, after marking *points* on its code path. A point is a place where a
process can die:

========== ===========================================================================
point       where (the process is ...)
========== ===========================================================================
start       in ``run``, before the execution is created
recover     in ``resume``/``run``, after invocations left by dead processes were ended
            as failed, before anything is driven
invoked     right after the service handed out an invocation (in flight; the handler
            has not started)
body        inside a step body, a condition check or a callback submitter, before the
            user function runs (an at-most-once START is already durable)
body-done   inside a body, after the user function returned or raised, before the SDK
            records the outcome
checkpoint  right after the service applied a checkpoint, before the SDK sees the answer
commit      inside a store transaction of an execution with an invocation in flight:
            rows written, ``COMMIT`` not yet run
store-write the same, with no invocation in flight (starting, recording an outcome,
            firing a timer, answering a callback)
returned    after the handler returned, before its output was recorded
timer       between invocations, while the execution waits on a timer (wait, retry back-off)
settled     after the tree ended or stopped for a callback, before the report is printed
========== ===========================================================================

Every occurrence is appended to the journal named by ``DURABLE_KILL_JOURNAL``
(one line, the point's name); each body that actually runs its user function
adds ``run|SEMANTICS|ARN|OPERATION|ATTEMPT`` (SEMANTICS ``amo`` or ``alo``).
When ``DURABLE_KILL_AT`` is ``POINT:K``, the K-th occurrence of POINT in this
process writes ``POINT K`` to the file descriptor ``DURABLE_KILL_FD`` and
pauses there, so that the signal the campaign then sends lands at that point.
The pause ends as soon as the signal is handled (SIGINT, SIGTERM: the rest of
the process then reacts as it would), or after ``DURABLE_KILL_PAUSE`` seconds
(default 20) if no signal comes. Nothing else changes.
"""

from __future__ import annotations

import functools
import os
import runpy
import signal
import sys
import threading
from collections.abc import Callable
from typing import Any

_lock = threading.Lock()
_counts: dict[str, int] = {}
_released = threading.Event()


class _Settings:
    """What ``install`` read from the environment."""

    journal_fd: int | None = None
    target: tuple[str, int] | None = None
    signal_fd: int | None = None
    pause = 20.0


_settings = _Settings()


def point(name: str) -> None:
    """Record one occurrence of ``name``; pause if it is the chosen one."""
    with _lock:
        count = _counts[name] = _counts.get(name, 0) + 1
        _journal(name)
    if _settings.target != (name, count) or _settings.signal_fd is None:
        return
    os.write(_settings.signal_fd, f"{name} {count}\n".encode())
    _released.wait(_settings.pause)


def _after(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        result = func(*args, **kwargs)
        point(name)
        return result

    return wrapped


def _before(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        point(name)
        return func(*args, **kwargs)

    return wrapped


def _journal(line: str) -> None:
    if _settings.journal_fd is not None:
        os.write(_settings.journal_fd, f"{line}\n".encode())


def _body(
    func: Callable[..., Any], semantics: str, arn: str, key: Callable[..., tuple[str, int]]
) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        op_id, attempt = key(*args)
        point("body")
        _journal(f"run|{semantics}|{arn}|{op_id}|{attempt}")
        try:
            return func(*args)
        finally:
            point("body-done")

    return run


def _mark_commits(store: Any, service: Any) -> None:
    """``commit`` (an invocation is in flight) or ``store-write``: rows written, not committed.

    The transaction that hands an invocation out is a ``store-write``: until it
    commits, no invocation is in flight.
    """
    original = store._write
    handing_out = threading.local()

    def write(self: Any, execution: Any, entry: Any) -> None:
        original(self, execution, entry)
        in_flight = execution.invocation_start_ts is not None
        point("commit" if in_flight and not getattr(handing_out, "on", False) else "store-write")

    store._write = write
    invocation_event = service.invocation_event

    def hand_out(self: Any, *args: Any, **kwargs: Any) -> Any:
        handing_out.on = True
        try:
            return invocation_event(self, *args, **kwargs)
        finally:
            handing_out.on = False

    service.invocation_event = hand_out


def _mark_bodies() -> None:
    import durable_exec._context
    import durable_exec._operations.callback
    from durable_exec import StepSemantics

    def step_key(step_context: Any) -> tuple[str, int]:
        return step_context.operation_id, step_context.attempt

    for module in (durable_exec._context, durable_exec._operations.callback):
        original = module.run_step

        def run_step(
            core: Any, func: Any, name: Any, config: Any, *args: Any, _run: Any = original
        ) -> Any:
            amo = config.step_semantics is StepSemantics.AT_MOST_ONCE_PER_RETRY
            body = _body(func, "amo" if amo else "alo", core.invocation.arn, step_key)
            return _run(core, body, name, config, *args)

        module.run_step = run_step  # type: ignore[attr-defined]

    original_condition = durable_exec._context.run_wait_for_condition  # type: ignore[attr-defined]

    def run_wait_for_condition(core: Any, check: Any, config: Any, name: Any) -> Any:
        def condition_key(state: Any, check_context: Any) -> tuple[str, int]:
            return f"condition:{name}", check_context.attempt

        body = _body(check, "alo", core.invocation.arn, condition_key)
        return original_condition(core, body, config, name)

    durable_exec._context.run_wait_for_condition = run_wait_for_condition  # type: ignore[attr-defined]


def _release_on(handler: Any) -> Any:
    """Wrap a Python-level signal handler so that a pause ends when it runs."""
    if not callable(handler):
        return handler

    def on_signal(signum: int, frame: Any) -> Any:
        _released.set()
        return handler(signum, frame)

    return on_signal


def install() -> None:
    """Mark the points (from the environment); see the module docstring."""
    journal = os.environ.get("DURABLE_KILL_JOURNAL")
    if journal:
        _settings.journal_fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    at = os.environ.get("DURABLE_KILL_AT")
    if at:
        name, _, k = at.rpartition(":")
        _settings.target = (name, int(k))
        _settings.signal_fd = int(os.environ["DURABLE_KILL_FD"])
        _settings.pause = float(os.environ.get("DURABLE_KILL_PAUSE", "20"))

    from durable_exec._cli._driver import Driver
    from durable_exec._cli._workspace import Workspace
    from durable_exec.testing._service import LocalDurableService
    from durable_exec.testing._sqlite_store import SqliteStore

    Workspace.start = _before("start", Workspace.start)  # type: ignore[method-assign]
    Workspace.recover = _after("recover", Workspace.recover)  # type: ignore[method-assign]
    Workspace.run_driver = _after("settled", Workspace.run_driver)  # type: ignore[method-assign]
    service = LocalDurableService
    service.invocation_event = _after("invoked", service.invocation_event)  # type: ignore[method-assign]
    service.checkpoint_durable_execution = _after(  # type: ignore[method-assign]
        "checkpoint", service.checkpoint_durable_execution
    )
    service.record_invocation = _before("returned", service.record_invocation)  # type: ignore[method-assign]
    _mark_commits(SqliteStore, service)
    Driver._advance_to = _before("timer", Driver._advance_to)  # type: ignore[method-assign]
    _mark_bodies()

    # SIGINT now, SIGTERM when the command line installs its handler.
    signal.signal(signal.SIGINT, _release_on(signal.getsignal(signal.SIGINT)))
    original_signal = signal.signal

    def install_handler(signum: int, handler: Any) -> Any:
        return original_signal(signum, _release_on(handler))

    signal.signal = install_handler  # type: ignore[assignment]


if __name__ == "__main__":
    install()
    sys.argv[0] = "durable-exec"
    runpy.run_module("durable_exec", run_name="__main__", alter_sys=True)
