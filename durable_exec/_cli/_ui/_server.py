"""The console's HTTP server: stdlib only, one thread per request, guarded by :class:`Guard`.

Routes (all need the session cookie; POSTs also the CSRF header and their own Origin):

==========================  =====================================================
``GET /``                   the page (``/?token=...`` opens the session)
``GET /static/...``         its script and style sheet
``GET /api/info``           the store in use and how it was found
``GET /api/executions``     a page of executions (``status``, ``name``,
                            ``function``, ``search``, ``limit``, ``cursor``,
                            ``order``)
``GET /api/callbacks``      callbacks executions wait for (``limit``)
``GET /api/execution``      one execution (``arn``: ARN, name or prefix;
                            ``scale``): tree, timeline, callbacks
``GET /api/operation``      one operation (``arn``, ``id``): result, error, events
``GET /api/payload``        a whole payload (``arn``, ``id``, ``field``)
``GET /api/poll``           has anything changed since ``since`` (of ``arn``)?
``POST /api/callback``      succeed, fail or heartbeat a callback
``POST /api/resume``        ``durable-exec resume`` the execution in a child process
``POST /api/stop``          stop a running execution
==========================  =====================================================

Answers are JSON with ``<``, ``>`` and ``&`` escaped, ``nosniff``, no caching,
and a Content-Security-Policy that allows only the console's own script and
styles: even a value that reached the page as markup could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlsplit

from durable_exec._cli._errors import EXIT_SUCCEEDED, CliError
from durable_exec._cli._ui import DEFAULT_PORT
from durable_exec._cli._ui._data import (
    Field,
    execution_detail,
    execution_page,
    operation_detail,
    payload_text,
)
from durable_exec._cli._ui._jobs import Jobs
from durable_exec._cli._ui._security import CSRF_HEADER, Guard, is_loopback, is_unspecified
from durable_exec._cli._ui._timeline import Scale
from durable_exec._cli._workspace import TERMINAL, StoreLocation, Workspace, locate_store
from durable_exec._version import __version__

__all__ = ["DEFAULT_PORT", "Console", "ConsoleServer", "serve_command", "start_console"]

MAX_BODY: Final = 1024 * 1024
MAX_PAGE: Final = 1000
_STATUS_BY_KIND: Final = {
    "not_found": HTTPStatus.NOT_FOUND,
    "busy": HTTPStatus.CONFLICT,
    "callback_closed": HTTPStatus.CONFLICT,
    "store": HTTPStatus.SERVICE_UNAVAILABLE,
}
_CSP: Final = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_STATIC: Final = {
    "/static/console.js": ("console.js", "text/javascript; charset=utf-8"),
    "/static/console.css": ("console.css", "text/css; charset=utf-8"),
}
_TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]+")
_STATUSES: Final = frozenset({"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})


def _json_bytes(value: object) -> bytes:
    """JSON text with ``<``, ``>`` and ``&`` as escapes: inert even if read as markup."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return text.encode("utf-8")


def _read_static(name: str) -> bytes:
    return resources.files("durable_exec._cli._ui").joinpath("static", name).read_bytes()


class Console:
    """What the server serves: one store, its guard, the resume jobs, the page.

    Args:
        location: The store (:func:`locate_store`).
        guard: The session's secrets and checks.
        jobs: Where resumes run.
    """

    def __init__(self, location: StoreLocation, guard: Guard, jobs: Jobs) -> None:
        self.location = location
        self.guard = guard
        self.jobs = jobs
        self._lock = threading.Lock()
        self._workspace = Workspace(location)
        if not _TOKEN_RE.fullmatch(guard.csrf):
            raise ValueError("the CSRF token must be URL-safe base64")
        self.index = _read_static("index.html").replace(b"{{CSRF_TOKEN}}", guard.csrf.encode())
        self.static = {path: (_read_static(name), kind) for path, (name, kind) in _STATIC.items()}

    def workspace(self) -> Workspace:
        """Return the workspace, opening the store if it was created since."""
        with self._lock:
            if self._workspace.store is None and self.location.path.exists():
                self._workspace = Workspace(self.location)
            return self._workspace

    def close(self) -> None:
        """Stop the jobs and close the store."""
        self.jobs.close()
        with self._lock:
            self._workspace.close()

    # ------------------------------------------------------------ API reads

    def info(self, _query: dict[str, str]) -> dict[str, Any]:
        """``GET /api/info``."""
        workspace = self.workspace()
        return {
            "store": str(self.location.path),
            "store_found": self.location.describe(),
            "exists": workspace.store is not None,
            "version": __version__,
        }

    def executions(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /api/executions``."""
        statuses = [s for s in query.get("status", "").upper().split(",") if s]
        unknown = [s for s in statuses if s not in _STATUSES]
        if unknown:
            raise CliError(f"unknown status {unknown[0]!r}")
        try:
            limit = int(query.get("limit") or 50)
        except ValueError:
            raise CliError("limit must be a number") from None
        if not 1 <= limit <= MAX_PAGE:
            raise CliError(f"limit must be between 1 and {MAX_PAGE}")
        return execution_page(
            self.workspace(),
            status=statuses,
            name=query.get("name"),
            function_name=query.get("function"),
            search=query.get("search"),
            limit=limit,
            cursor=query.get("cursor"),
            newest_first=query.get("order", "newest") != "oldest",
        )

    def callbacks(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /api/callbacks``: callbacks any execution waits for (``limit``, default 20)."""
        try:
            limit = int(query.get("limit") or 20)
        except ValueError:
            raise CliError("limit must be a number") from None
        if not 1 <= limit <= MAX_PAGE:
            raise CliError(f"limit must be between 1 and {MAX_PAGE}")
        workspace = self.workspace()
        found = workspace.open_callbacks(limit=limit + 1)
        return {
            "callbacks": [
                {
                    "arn": callback.arn,
                    "execution_name": callback.execution_name,
                    "function_name": callback.function_name,
                    "name": callback.name,
                    "ref": workspace.callback_ref(callback),
                    "callback_id": callback.callback_id,
                    "started": callback.started_ts,
                }
                for callback in found[:limit]
            ],
            "more": len(found) > limit,
        }

    def _arn(self, query: dict[str, str]) -> str:
        ref = query.get("arn")
        if not ref:
            raise CliError("give the execution: ?arn=ARN (or its name)")
        return self.workspace().resolve(ref)

    def execution(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /api/execution``."""
        workspace = self.workspace()
        seq = workspace.change_sequence()  # before reading: a change after it is seen later
        arn = self._arn(query)
        scale: Scale = "linear" if query.get("scale") == "linear" else "compact"
        detail = execution_detail(workspace, arn, scale=scale)
        detail["seq"] = seq
        detail["jobs"] = self.jobs.of(arn)
        return detail

    def operation(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /api/operation``."""
        op_id = query.get("id")
        if not op_id:
            raise CliError("give the operation: ?arn=ARN&id=OPERATION_ID")
        return operation_detail(self.workspace(), self._arn(query), op_id)

    def payload(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /api/payload``."""
        field = query.get("field", "result")
        if field not in {"input", "result", "error"}:
            raise CliError("field must be input, result or error")
        chosen: Field = "input" if field == "input" else "error" if field == "error" else "result"
        text = payload_text(self.workspace(), self._arn(query), query.get("id") or None, chosen)
        return {"text": text, "size": len(text)}

    def poll(self, query: dict[str, str]) -> dict[str, Any]:
        """``GET /api/poll``: the change sequence, and whether ``arn`` (or anything) changed."""
        try:
            since = int(query.get("since") or 0)
        except ValueError:
            raise CliError("since must be a number") from None
        workspace = self.workspace()
        seq = workspace.change_sequence()
        answer: dict[str, Any] = {"seq": seq, "changed": seq > since}
        if query.get("arn"):
            arn = self._arn(query)
            answer["changed"] = workspace.summary(arn).updated_seq > since
            answer["jobs"] = self.jobs.of(arn)
        return answer

    # ------------------------------------------------------------ API writes

    def callback(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/callback``: ``{"callback", "action", "payload", "error_type", "data"}``."""
        ref = body.get("callback")
        action = body.get("action")
        if not isinstance(ref, str) or not ref:
            raise CliError("give the callback: its id or EXECUTION/CALLBACK-NAME")
        payload = body.get("payload", "")
        if not isinstance(payload, str):
            raise CliError("payload must be text (it is sent as it is)")
        workspace = self.workspace()
        if action == "succeed":
            callback_id = workspace.send_callback_success(ref, payload)
        elif action == "fail":
            error_type = body.get("error_type") or "CallbackFailed"
            data = body.get("data")
            if not isinstance(error_type, str) or (data is not None and not isinstance(data, str)):
                raise CliError("error_type and data must be text")
            callback_id = workspace.send_callback_failure(
                ref, payload, error_type=error_type, data=data or None
            )
        elif action == "heartbeat":
            callback_id = workspace.send_callback_heartbeat(ref)
        else:
            raise CliError("action must be succeed, fail or heartbeat")
        return {"callback_id": callback_id, "action": action, "sent": True}

    def resume(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/resume``: ``{"arn"}``; starts ``durable-exec resume`` in a child process."""
        workspace = self.workspace()
        arn = self._arn({"arn": str(body.get("arn") or "")})
        summary = workspace.summary(arn)
        if summary.status in TERMINAL:
            raise CliError(f"execution {summary.name} already ended ({summary.status})")
        if workspace.run_record(arn) is None:
            raise CliError(
                f"execution {summary.name} was not started by `durable-exec run`, "
                "so no handler is known for it"
            )
        job = self.jobs.resume(arn, summary.name)  # `resume` drives the whole tree
        return {"job": job.to_json()}

    def stop(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /api/stop``: ``{"arn", "message"}``."""
        arn = self._arn({"arn": str(body.get("arn") or "")})
        message = body.get("message") or "Execution stopped from the console"
        if not isinstance(message, str):
            raise CliError("message must be text")
        return {"status": self.workspace().stop(arn, message)}


_GETS: Final[dict[str, Callable[[Console, dict[str, str]], dict[str, Any]]]] = {
    "/api/info": Console.info,
    "/api/executions": Console.executions,
    "/api/callbacks": Console.callbacks,
    "/api/execution": Console.execution,
    "/api/operation": Console.operation,
    "/api/payload": Console.payload,
    "/api/poll": Console.poll,
}
_POSTS: Final[dict[str, Callable[[Console, dict[str, Any]], dict[str, Any]]]] = {
    "/api/callback": Console.callback,
    "/api/resume": Console.resume,
    "/api/stop": Console.stop,
}


class _Handler(BaseHTTPRequestHandler):
    """One request: guard checks first, then the route."""

    server: ConsoleServer
    protocol_version = "HTTP/1.1"
    timeout = 120  # an idle keep-alive connection is dropped after this many seconds
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle's algorithm
    # and the client's delayed ACK hold every answer on a keep-alive connection ~40 ms.
    disable_nagle_algorithm = True
    server_version = "durable-exec-console"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        if self.server.verbose:
            sys.stderr.write(f"durable-exec ui: {self.address_string()} {format % args}\n")

    # ------------------------------------------------------------ responses

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Security-Policy", _CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        self.send_header("Cache-Control", "no-store")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, value: object) -> None:
        self._send(status, _json_bytes(value), "application/json; charset=utf-8")

    def _error(self, status: int, code: str, message: str) -> None:
        self._json(status, {"error": {"code": code, "message": message}})

    def _text(self, status: int, message: str) -> None:
        self._send(status, message.encode("utf-8"), "text/plain; charset=utf-8")

    # ------------------------------------------------------------ methods

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _refuse_method(self) -> None:
        self._send(HTTPStatus.METHOD_NOT_ALLOWED, b"", "text/plain", {"Allow": "GET, HEAD, POST"})

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = _refuse_method  # noqa: N815

    def _handle(self) -> None:
        console = self.server.console
        guard = console.guard
        if not guard.host_allowed(self.headers.get("Host")):
            self._text(
                HTTPStatus.FORBIDDEN,
                "unexpected Host header: this console answers only to its own address "
                f"(http://127.0.0.1:{guard.port}/; more with --allow-host)",
            )
            return
        parts = urlsplit(self.path)
        try:
            fields = parse_qs(parts.query, keep_blank_values=True, max_num_fields=32)
        except ValueError:
            self._text(HTTPStatus.BAD_REQUEST, "too many query fields")
            return
        query = {key: values[-1] for key, values in fields.items()}
        path = parts.path
        if self.command in {"GET", "HEAD"} and path == "/" and "token" in query:
            if guard.token_matches(query["token"]):
                self._send(
                    HTTPStatus.SEE_OTHER,
                    b"",
                    "text/plain",
                    {"Location": "/", "Set-Cookie": guard.session_cookie()},
                )
            else:
                self._text(
                    HTTPStatus.FORBIDDEN,
                    "wrong token: open the address `durable-exec ui` printed for this session",
                )
            return
        if not guard.authenticated(self.headers.get("Cookie")):
            message = (
                "this console needs its session token: open the address `durable-exec ui` "
                "printed (http://...:PORT/?token=...)"
            )
            if path.startswith("/api/"):
                self._error(HTTPStatus.UNAUTHORIZED, "unauthenticated", message)
            else:
                self._text(HTTPStatus.UNAUTHORIZED, message)
            return
        if self.command == "POST":
            self._post(console, path)
        else:
            self._get(console, path, query)

    def _get(self, console: Console, path: str, query: dict[str, str]) -> None:
        if path == "/":
            self._send(HTTPStatus.OK, console.index, "text/html; charset=utf-8")
            return
        static = console.static.get(path)
        if static is not None:
            self._send(HTTPStatus.OK, *static)
            return
        route = _GETS.get(path)
        if route is None:
            self._error(HTTPStatus.NOT_FOUND, "not_found", "no such page")
            return
        self._call(lambda: route(console, query))

    def _post(self, console: Console, path: str) -> None:
        guard = console.guard
        if not guard.origin_allowed(self.headers.get("Origin")):
            self._error(
                HTTPStatus.FORBIDDEN,
                "bad_origin",
                "changes are accepted only from the console's own page (Origin header)",
            )
            return
        if not guard.csrf_matches(self.headers.get(CSRF_HEADER)):
            self._error(
                HTTPStatus.FORBIDDEN,
                "bad_token",
                f"changes need the page's {CSRF_HEADER} header; reload the page",
            )
            return
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            self._error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "bad_request", "send application/json")
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "bad_request",
                f"the request body must be at most {MAX_BODY} bytes",
            )
            return
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "bad_request", "the body is not JSON")
            return
        route = _POSTS.get(path)
        if route is None:
            self._error(HTTPStatus.NOT_FOUND, "not_found", "no such action")
            return
        if not isinstance(body, dict):
            self._error(HTTPStatus.BAD_REQUEST, "bad_request", "the body must be a JSON object")
            return
        self._call(lambda: route(console, body))

    def _call(self, call: Callable[[], dict[str, Any]]) -> None:
        try:
            answer = call()
        except CliError as exc:
            status = _STATUS_BY_KIND.get(exc.kind, HTTPStatus.BAD_REQUEST)
            self._error(status, exc.kind, str(exc))
            return
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "internal_error",
                f"internal error ({type(exc).__name__}); the console's terminal has the details",
            )
            return
        self._json(HTTPStatus.OK, answer)


class ConsoleServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one :class:`Console`.

    Request threads are joined on :meth:`server_close` (none outlives the server).
    """

    daemon_threads = False
    block_on_close = True

    def __init__(
        self, address: tuple[str, int], console_factory: Callable[[int], Console], verbose: bool
    ) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)
        self.verbose = verbose
        try:
            self.console = console_factory(self.port)
        except BaseException:
            self.server_close()  # e.g. a store refused as untrusted
            raise

    def finish_request(self, request: Any, client_address: Any) -> None:
        """Serve one connection, remembering it so that closing can end it."""
        with self._connections_lock:
            self._connections.add(request)
        try:
            super().finish_request(request, client_address)
        finally:
            with self._connections_lock:
                self._connections.discard(request)

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup (slow or hanging offline)."""
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = self.port

    @property
    def port(self) -> int:
        """The port it listens on."""
        return int(self.server_address[1])

    @property
    def url(self) -> str:
        """The address to open, with the session token (loopback when it listens on all)."""
        host = str(self.server_address[0])
        if is_unspecified(host):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}/?token={self.console.guard.session}"

    def server_close(self) -> None:
        """Stop listening, end idle keep-alive connections, join their threads, stop the jobs."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        super().server_close()
        console = getattr(self, "console", None)  # absent when binding failed
        if console is not None:
            console.close()


def start_console(
    location: StoreLocation,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    allow_hosts: tuple[str, ...] = (),
    verbose: bool = False,
    cwd: Path | None = None,
) -> ConsoleServer:
    """Bind the console (``port`` 0 picks a free one); call ``serve_forever`` to serve.

    Raises:
        CliError: The address is in use or cannot be bound.
    """

    def factory(real_port: int) -> Console:
        return Console(location, Guard(host, real_port, allow_hosts), Jobs(location.path, cwd))

    try:
        return ConsoleServer((host.strip("[]"), port), factory, verbose)
    except OSError as exc:
        what = exc.strerror or str(exc)
        raise CliError(
            f"cannot listen on {host}:{port}: {what} "
            "(choose another with --port; 0 picks a free one)"
        ) from exc


def serve_command(args: argparse.Namespace) -> int:
    """``durable-exec ui``: serve the console until Ctrl-C."""
    location = locate_store(args.store)
    host: str = args.host
    server = start_console(
        location,
        host,
        args.port,
        allow_hosts=tuple(args.allow_host or ()),
        verbose=bool(args.verbose),
    )
    if not is_loopback(host):
        sys.stderr.write(
            f"durable-exec ui: warning: listening on {host}, not only on this machine: anyone "
            "who can reach it and learns the address below can read every input and result "
            "in the store and answer callbacks, over plain HTTP. Use --host 127.0.0.1 unless "
            "you mean it.\n"
        )
    print(f"durable-exec console: {server.url}", flush=True)
    print(f"store: {location.path} ({location.describe()})", flush=True)
    print("Ctrl-C stops it.", flush=True)
    if args.open:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write("durable-exec ui: stopped\n")
    finally:
        server.server_close()
    return EXIT_SUCCEEDED
