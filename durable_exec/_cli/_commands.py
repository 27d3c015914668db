"""One function per command; each returns the process exit code.

Local commands work through :class:`~durable_exec._cli._workspace.Workspace`
(the store found by :func:`~durable_exec._cli._workspace.locate_store`);
with ``--endpoint`` or ``--region``, ``show``, ``list``, ``history`` and
``callback`` speak the Lambda API through
:class:`~durable_exec._cli._api.DurableApi` instead. ``run`` and ``resume``
drive local executions; the handler's own output (``print``, logging to
stdout, subprocesses) goes to stderr while they run, so stdout carries only
the command's result.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import shlex
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from durable_exec._cli._errors import EXIT_SUCCEEDED, CliError, exit_code_for
from durable_exec._cli._loader import (
    HandlerSpec,
    check_function_name,
    function_name_for,
    load_handler,
    parse_function_option,
)
from durable_exec._cli._render import (
    callback_hint,
    clean,
    execution_json,
    glyphs_for,
    history_json,
    list_json,
    render_execution,
    render_history,
    render_list,
    render_timeline,
    stored_list_json,
    to_json,
    waiting_json,
)
from durable_exec._cli._view import ExecutionView, build_view, epoch_of
from durable_exec._cli._workspace import TERMINAL, RunRecord, Workspace, locate_store
from durable_exec._clock import SYSTEM_CLOCK

if TYPE_CHECKING:
    from durable_exec._cli._api import DurableApi

__all__ = [
    "COMMANDS",
    "callback",
    "history",
    "info",
    "list_executions",
    "resume",
    "run",
    "show",
    "ui",
]

_STDOUT_BROKEN = False
_NOTHING_TO_EXPIRE = (
    "--expire-callbacks: the callbacks still waiting have no timeout, so there was nothing "
    "to expire; answer them instead"
)


def out(text: str, stream: TextIO | None = None) -> None:
    """Print ``text``; a reader that went away (``| head``) ends output quietly."""
    global _STDOUT_BROKEN  # noqa: PLW0603 - one flag for the process's stdout
    target = stream or sys.stdout
    if _STDOUT_BROKEN and target is sys.stdout:
        return
    try:
        print(text, file=target)
        target.flush()
    except BrokenPipeError:
        _STDOUT_BROKEN = True
        # Point stdout at /dev/null so that the interpreter's final flush is quiet too.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, target.fileno())
            os.close(devnull)


@contextlib.contextmanager
def user_output_to_stderr() -> Iterator[None]:
    """Send everything written to stdout meanwhile (handler prints, subprocesses) to stderr."""
    saved_stdout = sys.stdout
    with contextlib.suppress(ValueError, OSError):
        saved_stdout.flush()
    try:
        fd: int | None = saved_stdout.fileno()
        err_fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = err_fd = None
    saved_fd = os.dup(fd) if fd is not None else None
    if fd is not None and err_fd is not None:
        os.dup2(err_fd, fd)
    sys.stdout = sys.stderr
    try:
        yield
    finally:
        with contextlib.suppress(ValueError, OSError):
            sys.stderr.flush()
        if saved_fd is not None and fd is not None:
            os.dup2(saved_fd, fd)
            os.close(saved_fd)
        sys.stdout = saved_stdout


def _store_option(args: argparse.Namespace, workspace: Workspace | None = None) -> str:
    """Return `` --store PATH`` when the store was given explicitly (for hints)."""
    location = workspace.location if workspace is not None else locate_store(args.store)
    if location.source != "option":
        return ""
    return f" --store {shlex.quote(str(location.path))}"


def _remote_options(args: argparse.Namespace) -> str:
    parts = []
    if getattr(args, "endpoint", None):
        parts.append(f" --endpoint {shlex.quote(args.endpoint)}")
    if getattr(args, "region", None):
        parts.append(f" --region {shlex.quote(args.region)}")
    return "".join(parts)


def _is_remote(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "endpoint", None) or getattr(args, "region", None))


@contextlib.contextmanager
def _remote(args: argparse.Namespace) -> Iterator[DurableApi]:
    from durable_exec._cli._api import DurableApi
    from durable_exec._cli._remote import remote_client

    client = remote_client(args.endpoint, args.region)
    yield DurableApi(client, args.endpoint or f"AWS Lambda in {client.meta.region_name}")


def _remote_resolve(api: DurableApi, args: argparse.Namespace) -> str:
    """Return the ARN ``args.execution`` names remotely (an ARN, or a name with --function-name)."""
    ref: str = args.execution
    if ref.startswith("arn:"):
        api.execution(ref)
        return ref
    function_name = getattr(args, "function_name", None)
    if not function_name:
        raise CliError(
            "give the execution's ARN, or --function-name to look it up by name, "
            "with --endpoint/--region"
        )
    candidates = [
        (str(item["DurableExecutionArn"]), str(item.get("DurableExecutionName", "")))
        for item in api.executions(function_name)
    ]
    exact = [arn for arn, name in candidates if name == ref]
    matches = exact or [arn for arn, name in candidates if name.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CliError(f"unknown execution {ref!r} of {function_name} at {api.where}")
    raise CliError(f"{ref!r} matches {len(matches)} executions of {function_name}; give more of it")


# ------------------------------------------------------------------ run / resume


def _strip_newlines(text: str) -> str:
    """Drop trailing newlines, as shell command substitution does (``echo x |`` adds one)."""
    return text.rstrip("\r\n")


def _parse_input(text: str | None) -> str | None:
    import json

    if text is None:
        return None
    if text == "-":
        text = _strip_newlines(sys.stdin.read())
    try:
        json.loads(text)
    except ValueError as exc:
        raise CliError(f"--input is not JSON: {exc}") from exc
    return text


def _configure_logging(args: argparse.Namespace) -> None:
    """Show ``context.logger`` (and other) log records on stderr at the level asked for."""
    import logging

    level_name = getattr(args, "log_level", None)
    verbose = getattr(args, "verbose", 0) or 0
    if level_name is None and not verbose:
        return
    level = (
        logging.getLevelName(level_name.upper())
        if level_name
        else (logging.INFO if verbose == 1 else logging.DEBUG)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    # These log checkpoint tokens and callback ids at DEBUG: keep them quiet.
    for name in ("botocore", "urllib3"):
        logging.getLogger(name).setLevel(max(logging.WARNING, level))


def _enable_stack_traces() -> None:
    """Record tracebacks of handler errors in the local store (Lambda's SDKs do not)."""
    from durable_exec._wire import capture_stack_traces

    capture_stack_traces(enabled=True)


def run(args: argparse.Namespace) -> int:
    """``durable-exec run PATH_OR_MODULE:HANDLER``: start an execution and drive it."""
    cwd = Path.cwd()
    spec = HandlerSpec.parse(args.handler, cwd)
    functions = dict(parse_function_option(text, cwd) for text in args.function or ())
    payload = _parse_input(args.input)
    if args.timeout is not None and not 1 <= args.timeout <= 31_622_400:
        raise CliError("--timeout must be between 1 and 31622400 seconds")
    _configure_logging(args)
    _enable_stack_traces()
    with user_output_to_stderr():
        handler = load_handler(spec, durable=True)
        targets = {name: load_handler(target, durable=False) for name, target in functions.items()}
    function_name = check_function_name(args.function_name or function_name_for(spec))
    name = args.name or f"{function_name[:52]}-{secrets.token_hex(4)}"
    record = RunRecord(spec, functions, args.real_time)
    with Workspace.open(args.store, create=True) as workspace:
        arn = workspace.start(function_name, payload, name, record, timeout=args.timeout)
        if args.detach:
            view = workspace.view(arn)
            if args.json:
                out(to_json(execution_json(view)))
            else:
                out(f"started {clean(view.name)} ({clean(arn)})")
                out(
                    f"continue it with:  durable-exec resume {clean(view.name)}"
                    f"{_store_option(args, workspace)}"
                )
            return exit_code_for("RUNNING")
        return _drive_and_report(workspace, arn, handler, targets, args, real_time=args.real_time)


def resume(args: argparse.Namespace) -> int:
    """``durable-exec resume EXECUTION``: drive a stored execution further."""
    if _is_remote(args):
        raise CliError("resume drives local executions only (drop --endpoint/--region)")
    _configure_logging(args)
    _enable_stack_traces()
    with Workspace.open(args.store) as workspace:
        if workspace.store is None:
            raise CliError(
                f"there is no store at {workspace.path} ({workspace.location.describe()}); "
                "`durable-exec run` creates it"
            )
        arn = workspace.resolve(args.execution)

        def announce(item: str) -> None:
            out(f"durable-exec: importing {clean(item)} (as recorded in the store)", sys.stderr)

        with user_output_to_stderr():
            root, record, handler, targets = workspace.load_run(arn, on_import=announce)
        real_time = args.real_time or record.real_time
        return _drive_and_report(workspace, root, handler, targets, args, real_time=real_time)


def _drive_and_report(
    workspace: Workspace,
    arn: str,
    handler: Any,
    targets: dict[str, Any],
    args: argparse.Namespace,
    *,
    real_time: bool,
) -> int:
    from durable_exec._cli._driver import HandlerCrashedError
    from durable_exec._cli._progress import Progress

    progress = Progress(
        sys.stderr, enabled=sys.stderr.isatty() and not args.json, clock=SYSTEM_CLOCK
    )
    try:
        with user_output_to_stderr():
            driver = workspace.run_driver(
                arn,
                handler,
                targets,
                real_time=real_time,
                expire_callbacks=args.expire_callbacks,
                progress=progress,
            )
    except HandlerCrashedError as exc:
        progress.clear()
        import traceback

        sys.stderr.write(clean("".join(traceback.format_exception(exc.error)), keep_newlines=True))
        raise
    finally:
        progress.clear()
    view = workspace.view(arn)
    waiting = [view]
    pending = list(driver.children(arn))
    while pending:
        child = pending.pop(0)
        waiting.append(workspace.view(child))
        pending.extend(driver.children(child))
    _report(
        view,
        waiting,
        args,
        workspace=workspace,
        resume_hint=f"durable-exec resume {view.name}{_store_option(args, workspace)}",
    )
    if args.expire_callbacks and any(v.waiting_callbacks for v in waiting) and not args.json:
        out(f"({_NOTHING_TO_EXPIRE})")
    return exit_code_for(view.status)


def _report(
    view: ExecutionView,
    waiting: list[ExecutionView],
    args: argparse.Namespace,
    *,
    workspace: Workspace | None,
    resume_hint: str | None,
    command_options: str | None = None,
) -> None:
    refs = _callback_refs(workspace, waiting)
    if args.json:
        data = execution_json(view)
        items = [item for v in waiting for item in waiting_json(v)]
        for item in items:
            item["ref"] = refs.get(item["callback_id"])
        data["waiting_for"] = items
        if getattr(args, "expire_callbacks", False) and items:
            data["notes"] = [_NOTHING_TO_EXPIRE]
        out(to_json(data))
        return
    glyphs = glyphs_for(sys.stdout.encoding)
    out(render_execution(view, glyphs, show_all=getattr(args, "all", False)))
    if getattr(args, "timeline", False):
        out("")
        out(render_timeline(view, glyphs, now=SYSTEM_CLOCK.now(), show_all=args.all))
    options = _store_option(args, workspace) if command_options is None else command_options
    hints: list[str] = []
    for waiting_view in waiting:
        hints.extend(callback_hint(waiting_view, "durable-exec", options, refs=refs))
    if hints:
        out("")
        for line in hints:
            out(line)
        if resume_hint:
            out(f"then continue it with:  {clean(resume_hint)}")
    elif view.status not in TERMINAL and resume_hint:
        out("")
        out(f"still running; continue it with:  {clean(resume_hint)}")


def _callback_refs(workspace: Workspace | None, views: list[ExecutionView]) -> dict[str, str]:
    """Return the short ``EXECUTION/NAME`` form of each open callback (local only)."""
    if workspace is None:
        return {}
    refs: dict[str, str] = {}
    for view in views:
        if not view.waiting_callbacks:
            continue
        for callback in workspace.open_callbacks(view.arn):
            ref = workspace.callback_ref(callback)
            if ref is not None:
                refs[callback.callback_id] = ref
    return refs


# ------------------------------------------------------------------ reading


def show(args: argparse.Namespace) -> int:
    """``durable-exec show EXECUTION``: the operation tree (and timeline) of one execution."""
    if _is_remote(args):
        with _remote(args) as api:
            arn = _remote_resolve(api, args)
            view = build_view(api.execution(arn), api.history(arn))
        _report(
            view,
            [view],
            args,
            workspace=None,
            resume_hint=None,
            command_options=_remote_options(args),
        )
        return exit_code_for(view.status)
    with Workspace.open(args.store) as workspace:
        arn = workspace.resolve(args.execution, function_name=args.function_name)
        view = workspace.view(arn)
        _report(
            view,
            [view],
            args,
            workspace=workspace,
            resume_hint=f"durable-exec resume {view.name}{_store_option(args, workspace)}",
        )
    return exit_code_for(view.status)


def list_executions(args: argparse.Namespace) -> int:
    """``durable-exec list``: executions, newest first, one page at a time."""
    statuses = [args.status] if args.status else None
    if _is_remote(args):
        if not args.function_name:
            raise CliError("list needs --function-name with --endpoint/--region")
        with _remote(args) as api:
            items = api.executions(args.function_name, statuses)
        items.sort(key=lambda item: epoch_of(item.get("StartTimestamp")) or 0.0, reverse=True)
        items = items[: args.limit]
        if args.json:
            out(to_json(list_json(items)))
        else:
            out(render_list(items, glyphs_for(sys.stdout.encoding)))
        return EXIT_SUCCEEDED
    with Workspace.open(args.store) as workspace:
        page = workspace.list_executions(
            status=statuses,
            function_name=args.function_name,
            search=args.search,
            limit=args.limit,
            cursor=args.cursor,
        )
    if args.json:
        out(to_json(stored_list_json(page)))
        return EXIT_SUCCEEDED
    items = [_stored_item(entry) for entry in page.items]
    out(render_list(items, glyphs_for(sys.stdout.encoding)))
    if page.next_cursor is not None:
        shown = len(page.items)
        out(
            f"(newest first: {shown} of {page.total}; older ones with: durable-exec list "
            f"--cursor {page.next_cursor})"
        )
    return EXIT_SUCCEEDED


def _stored_item(entry: Any) -> dict[str, Any]:
    from durable_exec.testing._model import to_datetime

    prefix = entry.arn.split(":function:", 1)[0]
    item: dict[str, Any] = {
        "DurableExecutionArn": entry.arn,
        "DurableExecutionName": entry.name,
        "FunctionArn": f"{prefix}:function:{entry.function_name}:{entry.qualifier}",
        "Status": entry.status,
        "StartTimestamp": to_datetime(entry.start_ts),
    }
    if entry.end_ts is not None:
        item["EndTimestamp"] = to_datetime(entry.end_ts)
    return item


def history(args: argparse.Namespace) -> int:
    """``durable-exec history EXECUTION``: the raw history events."""
    if _is_remote(args):
        with _remote(args) as api:
            arn = _remote_resolve(api, args)
            events = api.history(arn)
    else:
        with Workspace.open(args.store) as workspace:
            arn = workspace.resolve(args.execution, function_name=args.function_name)
            events = workspace.history(arn)
    if args.json:
        out(to_json(history_json(arn, events)))
    else:
        out(render_history(events))
    return EXIT_SUCCEEDED


def _payload(args: argparse.Namespace) -> str:
    text: str | None = args.payload
    if text == "-":
        return _strip_newlines(sys.stdin.read())
    return text or ""


def callback(args: argparse.Namespace) -> int:
    """``durable-exec callback succeed|fail|heartbeat CALLBACK [PAYLOAD]``."""
    ref: str = args.callback_id
    action: str = args.action
    waiting: str | None = None
    options = ""
    if _is_remote(args):
        with _remote(args) as api:
            if action == "succeed":
                api.callback_success(ref, _payload(args).encode("utf-8"))
            elif action == "fail":
                error = {"ErrorType": args.error_type, "ErrorMessage": _payload(args)}
                if args.error_data is not None:
                    error["ErrorData"] = args.error_data
                api.callback_failure(ref, error)
            else:
                api.callback_heartbeat(ref)
        callback_id = ref
    else:
        with Workspace.open(args.store) as workspace:
            if action == "succeed":
                callback_id = workspace.send_callback_success(ref, _payload(args))
            elif action == "fail":
                callback_id = workspace.send_callback_failure(
                    ref, _payload(args), error_type=args.error_type, data=args.error_data
                )
            else:
                callback_id = workspace.send_callback_heartbeat(ref)
            if action != "heartbeat" and workspace.store is not None:
                found = workspace.store.find_callback(callback_id)
                if found is not None:
                    waiting = workspace.summary(workspace.root_of(found.arn)).name
            options = _store_option(args, workspace)
    if args.json:
        out(to_json({"callback_id": callback_id, "action": action, "sent": True}))
        return EXIT_SUCCEEDED
    past = {"succeed": "succeeded", "fail": "failed", "heartbeat": "heartbeat sent"}[action]
    out(f"callback {past}")
    if waiting is not None:
        out(f"continue the execution with:  durable-exec resume {clean(waiting)}{options}")
    return EXIT_SUCCEEDED


def info(args: argparse.Namespace) -> int:
    """``durable-exec info``: the store in use (and how it was found), its contents, versions."""
    import platform
    import sqlite3

    from durable_exec._cli._owner import describe_owner, owner_alive
    from durable_exec._version import __version__

    location = locate_store(args.store)
    data: dict[str, Any] = {
        "version": __version__,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "store": str(location.path.absolute()),
        "store_source": location.source,
        "store_found": location.describe(),
        "exists": os.path.lexists(location.path),
    }
    running: list[dict[str, Any]] = []
    if data["exists"]:
        with Workspace(location) as workspace:
            store = workspace.store
            assert store is not None
            counts: dict[str, int] = {}
            for status in sorted(TERMINAL | {"RUNNING"}):
                counts[status] = workspace.list_executions(status=status, limit=1).total
            data["executions"] = counts
            data["size_bytes"] = sum(
                p.stat().st_size
                for p in (location.path, Path(f"{location.path}-wal"))
                if p.exists()
            )
            data["open_callbacks"] = len(workspace.open_callbacks())
            page = workspace.list_executions(status="RUNNING", limit=1000)
            for entry in page.items:
                owner = entry.invocation_owner or workspace.driver_of(entry.arn)
                if owner:
                    alive = owner_alive(owner)
                    running.append(
                        {
                            "name": entry.name,
                            "arn": entry.arn,
                            "owner": describe_owner(owner),
                            "alive": alive,
                        }
                    )
    data["running_now"] = running
    if args.json:
        out(to_json(data))
        return EXIT_SUCCEEDED
    lines = [
        f"durable-exec {data['version']} (Python {data['python']}, SQLite {data['sqlite']})",
        f"store       {clean(data['store'])}",
        f"            {clean(data['store_found'])}",
    ]
    if not data["exists"]:
        lines.append("            (not created yet)")
    else:
        counts = data["executions"]
        total = sum(counts.values())
        parts = ", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n)
        lines.append(f"size        {data['size_bytes'] / 1024:.1f} KiB")
        lines.append(f"executions  {total}" + (f" ({parts})" if parts else ""))
        lines.append(f"callbacks   {data['open_callbacks']} waiting for an answer")
        for item in running:
            state = {True: "running", False: "died; resume retries it", None: "unknown"}[
                item["alive"]
            ]
            lines.append(f"in flight   {clean(item['name'])}: {item['owner']} ({state})")
    out("\n".join(lines))
    return EXIT_SUCCEEDED


def ui(args: argparse.Namespace) -> int:
    """``durable-exec ui``: serve the web console (see :mod:`durable_exec._cli._ui`)."""
    from durable_exec._cli._ui._server import serve_command

    return serve_command(args)


def replay(args: argparse.Namespace) -> int:
    """``durable-exec replay``: see :mod:`durable_exec._cli._replay`."""
    from durable_exec._cli._replay import replay as replay_command

    return replay_command(args)


def migrate(args: argparse.Namespace) -> int:
    """``durable-exec migrate``: see :mod:`durable_exec._cli._migrate`."""
    from durable_exec._cli._migrate import migrate as migrate_command

    return migrate_command(args)


# Each command imports what only it needs (the UI server, the codemod, the replay
# checker, the driver), so `list`, `show` and `info` start fast.
COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": run,
    "resume": resume,
    "show": show,
    "list": list_executions,
    "history": history,
    "callback": callback,
    "info": info,
    "replay": replay,
    "migrate": migrate,
    "ui": ui,
}
