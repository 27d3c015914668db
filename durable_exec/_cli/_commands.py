"""One function per command; each returns the process exit code.

``show``, ``list``, ``history`` and ``callback`` are written against
:class:`~durable_exec._cli._api.DurableApi`, so the same code reads the local
store or a Lambda endpoint. ``run`` and ``resume`` drive local executions.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from durable_exec._cli._api import DurableApi
from durable_exec._cli._errors import (
    EXIT_SUCCEEDED,
    EXIT_WAITING,
    CliError,
    exit_code_for,
)
from durable_exec._cli._loader import (
    HandlerSpec,
    check_function_name,
    function_name_for,
    load_handler,
    parse_function_option,
)
from durable_exec._cli._local import (
    DEFAULT_STORE,
    PARENT_KEY,
    PARENT_OPERATION_KEY,
    RUN_KEY,
    LocalBackend,
    RunRecord,
    store_path,
)
from durable_exec._cli._render import (
    callback_hint,
    execution_json,
    glyphs_for,
    history_json,
    list_json,
    render_execution,
    render_history,
    render_list,
    render_timeline,
    to_json,
)
from durable_exec._cli._view import ExecutionView, build_view, epoch_of
from durable_exec._clock import SYSTEM_CLOCK

__all__ = ["callback", "history", "list_executions", "resume", "run", "show"]

_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})


def _out(text: str, stream: TextIO | None = None) -> None:
    print(text, file=stream or sys.stdout)


def _store_option(args: argparse.Namespace) -> str:
    """Return `` --store PATH`` when the store is not the default (for hints)."""
    path = store_path(getattr(args, "store", None))
    return "" if path == DEFAULT_STORE else f" --store {shlex.quote(str(path))}"


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
def _api(args: argparse.Namespace) -> Iterator[tuple[DurableApi, LocalBackend | None]]:
    """Yield the API for ``args``: a remote client, or the local store (not created if missing)."""
    if _is_remote(args):
        from durable_exec._cli._remote import remote_client

        client = remote_client(args.endpoint, args.region)
        where = args.endpoint or f"AWS Lambda in {client.meta.region_name}"
        yield DurableApi(client, where), None
        return
    path = store_path(args.store)
    with LocalBackend(path, create=False) as backend:
        yield DurableApi(backend.service, f"the local store {path}"), backend


def _candidates(
    api: DurableApi, backend: LocalBackend | None, args: argparse.Namespace
) -> list[tuple[str, str]]:
    """Return (ARN, name) of every execution a name or prefix may refer to."""
    function_name = getattr(args, "function_name", None)
    if backend is not None and backend.store is not None:
        return [
            (entry.arn, entry.name)
            for entry in backend.store.index()
            if function_name is None or entry.function_name == function_name
        ]
    if backend is not None:
        return []
    if not function_name:
        raise CliError(
            "give the execution's ARN, or --function-name to look it up by name, "
            "with --endpoint/--region"
        )
    return [
        (str(item["DurableExecutionArn"]), str(item.get("DurableExecutionName", "")))
        for item in api.executions(function_name)
    ]


def resolve(api: DurableApi, backend: LocalBackend | None, args: argparse.Namespace) -> str:
    """Return the ARN ``args.execution`` names: an ARN, an execution name, or a unique prefix.

    Raises:
        CliError: Unknown or ambiguous.
    """
    ref: str = args.execution
    if ref.startswith("arn:"):
        api.execution(ref)
        return ref
    candidates = _candidates(api, backend, args)
    exact = [arn for arn, name in candidates if name == ref]
    matches = exact or [
        arn
        for arn, name in candidates
        if name.startswith(ref) or arn.rsplit("/", 1)[-1].startswith(ref)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        where = "" if backend is None else f" in {store_path(args.store)}"
        raise CliError(f"unknown execution {ref!r}{where} (durable-exec list shows them)")
    names = ", ".join(arn.rsplit("/", 2)[-2] for arn in matches[:5])
    more = "" if len(matches) <= 5 else f" and {len(matches) - 5} more"
    raise CliError(f"{ref!r} matches {len(matches)} executions ({names}{more}); give more of it")


def _view(api: DurableApi, arn: str) -> ExecutionView:
    return build_view(api.execution(arn), api.history(arn))


# ------------------------------------------------------------------ run / resume


def _parse_input(text: str | None) -> str | None:
    if text is None:
        return None
    if text == "-":
        text = sys.stdin.read()
    try:
        json.loads(text)
    except ValueError as exc:
        raise CliError(f"--input is not JSON: {exc}") from exc
    return text


def _start(
    backend: LocalBackend, function_name: str, payload: str | None, name: str, timeout: int | None
) -> str:
    kwargs: dict[str, Any] = {"execution_name": name}
    if timeout is not None:
        kwargs["execution_timeout"] = timeout
    try:
        return backend.service.start_execution(function_name, payload, **kwargs)
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


def run(args: argparse.Namespace) -> int:
    """``durable-exec run PATH_OR_MODULE:HANDLER``: start an execution and drive it."""
    cwd = Path.cwd()
    spec = HandlerSpec.parse(args.handler, cwd)
    functions = dict(parse_function_option(text, cwd) for text in args.function or ())
    payload = _parse_input(args.input)
    handler = load_handler(spec, durable=True)
    targets = {name: load_handler(target, durable=False) for name, target in functions.items()}
    function_name = check_function_name(args.function_name or function_name_for(spec))
    name = args.name or f"{function_name[:52]}-{secrets.token_hex(4)}"
    if args.timeout is not None and not 1 <= args.timeout <= 31_622_400:
        raise CliError("--timeout must be between 1 and 31622400 seconds")
    record = RunRecord(spec, functions, args.real_time)
    with LocalBackend(store_path(args.store), create=True, real_time=args.real_time) as backend:
        store = backend.store
        assert store is not None
        # One transaction: an execution is never stored without the spec `resume` needs.
        # (No handler thread runs yet, so taking the store's lock first is safe here.)
        with _store_errors(), store.transaction():
            arn = _start(backend, function_name, payload, name, args.timeout)
            store.annotate(arn, RUN_KEY, record.dumps())
        if args.detach:
            view = _view(DurableApi(backend.service, str(backend.path)), arn)
            if args.json:
                _out(to_json(execution_json(view)))
            else:
                _out(f"started {view.name} ({arn})")
                _out(f"continue it with:  durable-exec resume {view.name}{_store_option(args)}")
            return EXIT_WAITING
        return _drive_and_report(backend, arn, handler, targets, args)


def resume(args: argparse.Namespace) -> int:
    """``durable-exec resume EXECUTION``: drive a stored execution further."""
    if _is_remote(args):
        raise CliError("resume drives local executions only (drop --endpoint/--region)")
    path = store_path(args.store)
    if not path.exists():
        raise CliError(f"there is no store at {path} (durable-exec run creates it)")
    with LocalBackend(path, create=False) as backend:
        api = DurableApi(backend.service, f"the local store {path}")
        arn = resolve(api, backend, args)
        root = arn
        seen = {root}
        while (parent := backend.parent_of(root)) is not None and parent[0] not in seen:
            root = parent[0]
            seen.add(root)
        record = backend.run_record(root)
        if record is None:
            raise CliError(
                f"execution {arn.rsplit('/', 2)[-2]} was not started by `durable-exec run`, "
                "so no handler is known for it"
            )
        handler = load_handler(record.handler, durable=True)
        targets = {
            name: load_handler(target, durable=False) for name, target in record.functions.items()
        }
    real_time = args.real_time or record.real_time
    with LocalBackend(path, create=False, real_time=real_time) as backend:
        return _drive_and_report(backend, root, handler, targets, args)


@contextlib.contextmanager
def _store_errors() -> Iterator[None]:
    from durable_exec.testing import StoreError

    try:
        yield
    except StoreError as exc:
        raise CliError(str(exc)) from exc


def _drive_and_report(
    backend: LocalBackend,
    arn: str,
    handler: Any,
    targets: dict[str, Any],
    args: argparse.Namespace,
) -> int:
    from durable_exec._cli._driver import Driver, HandlerCrashedError
    from durable_exec._cli._progress import Progress

    store = backend.store
    assert store is not None

    def link(child: str, parent: str, operation_id: str) -> None:
        store.annotate(child, PARENT_KEY, parent)
        store.annotate(child, PARENT_OPERATION_KEY, operation_id)

    def children_of(parent: str) -> list[tuple[str, str]]:
        links = []
        for child in store.annotated(PARENT_KEY, parent):
            operation = store.annotation(child, PARENT_OPERATION_KEY)
            if operation is not None:
                links.append((child, operation))
        return links

    progress = Progress(
        sys.stderr, enabled=sys.stderr.isatty() and not args.json, clock=SYSTEM_CLOCK
    )
    driver = Driver(
        backend.service, backend.clock, targets, progress, link=link, children_of=children_of
    )
    try:
        with _store_errors():
            if backend.service.execution_status(arn) not in _TERMINAL:
                driver.drive(arn, handler, pause_on_callbacks=not args.expire_callbacks)
    except HandlerCrashedError as exc:
        progress.clear()
        sys.stderr.write("".join(traceback.format_exception(exc.error)))
        raise
    finally:
        progress.clear()
    api = DurableApi(backend.service, f"the local store {backend.path}")
    with _store_errors():
        view = _view(api, arn)
        waiting = [view]
        pending = list(driver.children(arn))
        while pending:
            child = pending.pop(0)
            waiting.append(_view(api, child))
            pending.extend(driver.children(child))
    _report(
        view, waiting, args, resume_hint=f"durable-exec resume {view.name}{_store_option(args)}"
    )
    return exit_code_for(view.status)


def _report(
    view: ExecutionView,
    waiting: list[ExecutionView],
    args: argparse.Namespace,
    *,
    resume_hint: str | None,
    command_options: str | None = None,
) -> None:
    if args.json:
        data = execution_json(view)
        data["waiting_for"] = [item for v in waiting for item in execution_json(v)["waiting_for"]]
        _out(to_json(data))
        return
    glyphs = glyphs_for(sys.stdout.encoding)
    _out(render_execution(view, glyphs, show_all=getattr(args, "all", False)))
    if getattr(args, "timeline", False):
        _out("")
        _out(render_timeline(view, glyphs, now=SYSTEM_CLOCK.now(), show_all=args.all))
    options = _store_option(args) if command_options is None else command_options
    hints: list[str] = []
    for item in waiting:
        hints.extend(callback_hint(item, "durable-exec", options))
    if hints:
        _out("")
        for line in hints:
            _out(line)
        if resume_hint:
            _out(f"then continue it with:  {resume_hint}")
    elif view.status not in _TERMINAL and resume_hint:
        _out("")
        _out(f"still running; continue it with:  {resume_hint}")


# ------------------------------------------------------------------ reading


def show(args: argparse.Namespace) -> int:
    """``durable-exec show EXECUTION``: the operation tree (and timeline) of one execution."""
    with _api(args) as (api, backend):
        arn = resolve(api, backend, args)
        view = _view(api, arn)
    if backend is not None:
        options = _store_option(args)
        resume_hint = f"durable-exec resume {view.name}{options}"
    else:
        options = _remote_options(args)
        resume_hint = None
    _report(view, [view], args, resume_hint=resume_hint, command_options=options)
    return exit_code_for(view.status)


def list_executions(args: argparse.Namespace) -> int:
    """``durable-exec list``: executions, oldest first."""
    statuses = [args.status] if args.status else None
    with _api(args) as (api, backend):
        if backend is None and not args.function_name:
            raise CliError("list needs --function-name with --endpoint/--region")
        names = (
            [args.function_name]
            if args.function_name
            else backend.function_names()
            if backend
            else []
        )
        items = [item for name in names for item in api.executions(name, statuses)]
    items.sort(key=lambda item: epoch_of(item.get("StartTimestamp")) or 0.0)
    if args.json:
        _out(to_json(list_json(items)))
    else:
        _out(render_list(items, glyphs_for(sys.stdout.encoding)))
    return EXIT_SUCCEEDED


def history(args: argparse.Namespace) -> int:
    """``durable-exec history EXECUTION``: the raw history events."""
    with _api(args) as (api, backend):
        arn = resolve(api, backend, args)
        events = api.history(arn)
    if args.json:
        _out(to_json(history_json(arn, events)))
    else:
        _out(render_history(events))
    return EXIT_SUCCEEDED


def _payload(args: argparse.Namespace) -> str:
    text: str | None = args.payload
    if text == "-":
        return sys.stdin.read()
    return text or ""


def callback(args: argparse.Namespace) -> int:
    """``durable-exec callback succeed|fail|heartbeat CALLBACK_ID [PAYLOAD]``."""
    callback_id: str = args.callback_id
    action: str = args.action
    with _api(args) as (api, backend):
        if action == "succeed":
            api.callback_success(callback_id, _payload(args).encode("utf-8"))
        elif action == "fail":
            error = {"ErrorType": args.error_type, "ErrorMessage": _payload(args)}
            if args.error_data is not None:
                error["ErrorData"] = args.error_data
            api.callback_failure(callback_id, error)
        else:
            api.callback_heartbeat(callback_id)
        waiting = _waiting_execution(backend, callback_id) if action != "heartbeat" else None
    if args.json:
        _out(to_json({"callback_id": callback_id, "action": action, "sent": True}))
        return EXIT_SUCCEEDED
    past = {"succeed": "succeeded", "fail": "failed", "heartbeat": "heartbeat sent"}[action]
    _out(f"callback {past}")
    if waiting is not None:
        _out(f"continue the execution with:  durable-exec resume {waiting}{_store_option(args)}")
    return EXIT_SUCCEEDED


def _waiting_execution(backend: LocalBackend | None, callback_id: str) -> str | None:
    """Return the name of the local root execution the callback belonged to, if known."""
    if backend is None or backend.store is None:
        return None
    service = backend.service
    for entry in backend.store.index():
        if entry.status != "RUNNING":
            continue
        for op in service.operations(entry.arn):
            if (op.get("CallbackDetails") or {}).get("CallbackId") == callback_id:
                root = entry.arn
                while (parent := backend.parent_of(root)) is not None:
                    root = parent[0]
                return root.rsplit("/", 2)[-2]
    return None


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": run,
    "resume": resume,
    "show": show,
    "list": list_executions,
    "history": history,
    "callback": callback,
}
