"""The emulator harness: AWS's local emulator and a loopback Lambda Invoke endpoint.

Three pieces play Lambda for these tests:

* the **emulator** (``WebRunner`` from ``aws-durable-execution-sdk-python-testing``,
  started by ``emulator_server.py`` as a subprocess on 127.0.0.1) serves the
  durable-execution API and drives executions by sending Lambda ``Invoke``
  requests;
* the **Invoke endpoint** (:class:`LambdaEndpoint`, stdlib ``http.server`` on
  127.0.0.1, in this process) answers those requests by running the handler in a
  fresh subprocess per invocation (``invoke_handler.py``), so a crash is a
  crash. The handler's own botocore client reaches the emulator through
  ``AWS_ENDPOINT_URL_LAMBDA`` with dummy credentials, by way of a
  pass-through :class:`FaultProxy` that records the calls and can lose,
  cut or throttle one.

Two emulators run per session, on demand: ``emulator`` keeps real time (history
order is exact; keep durations to a second or two) and ``fast_emulator`` skips
time (for the examples' minutes-long waits).

Functions are registered by name (:data:`FUNCTIONS`, or
``endpoint.register(...)`` in a test) as ``PATH:ATTR``, or as a callable that
picks ``PATH:ATTR`` by the execution's invocation number (the cross-SDK tests
switch SDKs that way).

The fixtures are in ``conftest.py``. Nothing here imports the emulator package:
the default test run (which does not install it) still collects this directory,
and deselects it with ``-m "not emulator"``.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent.parent
WORKFLOWS = HERE / "workflows"
EXAMPLES = REPO / "examples"
INVOKE_HANDLER = HERE / "invoke_handler.py"
EMULATOR_SERVER = HERE / "emulator_server.py"

REGION = "us-east-1"
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})
INVOCATION_TIMEOUT = 60.0
FAST_PAGE_BYTES = 8 * 1024
"""The skip-time emulator pages invocation envelopes at 8 KB (5 MB by default), so
replays of longer executions read the rest with GetDurableExecutionState."""

HandlerSpec = str | Callable[[int], str]


def pause(seconds: float) -> None:
    """Sleep for real: the emulator and the handler processes run on wall-clock time."""
    time.sleep(seconds)  # noqa: TID251 - polling a real server, there is no virtual clock here


def workflow(module: str, attr: str) -> str:
    """``PATH:ATTR`` of a handler in ``tests/emulator/workflows/{module}.py``."""
    return f"{WORKFLOWS / module}.py:{attr}"


def example(module: str, attr: str = "handler") -> str:
    """``PATH:ATTR`` of a handler in ``examples/{module}.py``."""
    return f"{EXAMPLES / module}.py:{attr}"


FUNCTIONS: dict[str, HandlerSpec] = {
    # examples/
    "order-processing": example("order_processing"),
    "approval": example("approval"),
    "orchestrator": example("orchestrator"),
    "report-builder": example("orchestrator", "report_builder"),
    "tax-rate": example("orchestrator", "tax_rate"),
    "polling": example("polling"),
    "fan-out": example("fan_out"),
    # tests/emulator/workflows/
    "steps-and-retries": workflow("operations", "steps_and_retries"),
    "fails": workflow("operations", "fails"),
    "wait-and-child": workflow("operations", "wait_and_child"),
    "callbacks": workflow("operations", "callbacks"),
    "callback-timeout": workflow("operations", "callback_timeout"),
    "invokes": workflow("operations", "invokes"),
    "unknown-target": workflow("operations", "unknown_target"),
    "counter": workflow("operations", "counter"),
    "pricer": workflow("operations", "pricer"),
    "wait-for-condition": workflow("operations", "wait_for_condition"),
    "map-and-parallel": workflow("operations", "map_and_parallel"),
    "crash-in-step": workflow("operations", "crash_in_step"),
    "many-steps": workflow("operations", "many_steps"),
    "large-result": workflow("operations", "large_result"),
    "charge": workflow("operations", "charge"),
}
"""Function name → handler, served by every endpoint."""

FUNCTION_CONFIGS: dict[str, Any] = {
    "report-builder": {"DurableConfig": {"ExecutionTimeout": 120}},
    "counter": {"DurableConfig": {"ExecutionTimeout": 120}},
    "tax-rate": {},
    "pricer": {},
}
"""The emulator's ``--function-configs``: which chained-invoke targets are durable."""


@dataclasses.dataclass
class Invocation:
    """One Invoke the endpoint served."""

    function_name: str
    handler: str
    arn: str | None
    """The execution's ARN (None for a plain function's Invoke)."""
    number: int
    """Counts the execution's invocations from 0 (a plain function's Invokes, for those)."""
    marked: bool
    """Whether the request carried the emulator's ``X-Dex-Handler-Invoke`` header."""
    paged: bool
    """Whether the envelope's state was paged (a non-empty ``NextMarker``)."""
    returncode: int
    """The handler process's exit status (0, 1 for an exception, other for a crash)."""
    output: Any
    """What the handler returned (or Lambda's error shape), None when the process died."""
    log: str
    """The handler process's stdout and stderr."""
    seconds: float


def _handler_env(api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL_LAMBDA=api_url,
        AWS_ACCESS_KEY_ID="dummy",
        AWS_SECRET_ACCESS_KEY="dummy",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        AWS_EC2_METADATA_DISABLED="true",
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    )
    return env


class _QuietServer(ThreadingHTTPServer):
    """A threading server that does not print a peer hanging up as a traceback.

    The emulator drops its keep-alive connections when it stops; that reset is
    expected, and anything else still goes to the default report.
    """

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


class _LoopbackServer:
    """An HTTP server on 127.0.0.1 (a free port) served from a background thread."""

    def _serve(self, handler: type[BaseHTTPRequestHandler], name: str) -> None:
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


class LambdaEndpoint(_LoopbackServer):
    """A loopback Lambda ``Invoke`` API that runs each invocation in a fresh process.

    ``POST /2015-03-31/functions/{name}/invocations`` runs the handler registered
    for ``name`` (a qualified name falls back to the bare one) with the request
    body as the event and answers with its return value. A handler that raises
    or whose process dies is a function error (``X-Amz-Function-Error:
    Unhandled``), as on Lambda; an unknown function is ResourceNotFoundException.
    """

    def __init__(self, functions: dict[str, HandlerSpec], workdir: pathlib.Path) -> None:
        self.functions = dict(functions)
        self.invocations: list[Invocation] = []
        self.api_url = ""
        """Where handlers reach the durable-execution API (the emulator, via a FaultProxy)."""
        self._workdir = workdir
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str | None], int] = {}
        self._in_flight: dict[str | None, int] = {}
        self._running: set[subprocess.Popen[bytes]] = set()
        self._serve(self._request_handler(), "lambda-endpoint")

    def stop(self) -> None:
        """Stop serving and kill any handler process still running."""
        super().stop()
        with self._lock:
            running = list(self._running)
        for process in running:
            process.kill()
            process.wait(10)

    def register(self, name: str, handler: HandlerSpec) -> None:
        """Serve ``name`` with ``PATH:ATTR``, or a callable of the invocation number giving one."""
        self.functions[name] = handler

    def invocations_of(self, arn: str) -> list[Invocation]:
        """The invocations of execution ``arn``, in order."""
        with self._lock:
            return [i for i in self.invocations if i.arn == arn]

    def wait_idle(self, arn: str, timeout: float = 30.0) -> None:
        """Wait until no invocation of ``arn`` is running.

        An execution can end before its last invocation returns (a result too big
        for the response is checkpointed first).
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._lock:
                if not self._in_flight.get(arn):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"an invocation of {arn} still runs after {timeout}s")
            pause(0.02)

    def _resolve(self, name: str) -> HandlerSpec | None:
        return self.functions.get(name) or self.functions.get(name.split(":", 1)[0])

    def invoke(self, name: str, body: bytes, *, marked: bool) -> tuple[int, dict[str, str], bytes]:
        """Run one invocation of ``name``; return (HTTP status, headers, body).

        ``marked`` tells whether the request carried the emulator's
        ``X-Dex-Handler-Invoke`` header (a durable handler invocation).
        """
        spec = self._resolve(name)
        if spec is None:
            error = {"Type": "User", "Message": f"Function not found: {name}"}
            headers = {"x-amzn-ErrorType": "ResourceNotFoundException"}
            return 404, headers, json.dumps(error).encode()
        try:
            event = json.loads(body or b"null")
        except ValueError:
            event = None
        durable = isinstance(event, dict) and "DurableExecutionArn" in event
        arn = event["DurableExecutionArn"] if durable else None
        state = event.get("InitialExecutionState") if durable else None
        paged = isinstance(state, dict) and bool(state.get("NextMarker"))
        with self._lock:
            number = self._counts.get((name, arn), 0)
            self._counts[(name, arn)] = number + 1
            self._in_flight[arn] = self._in_flight.get(arn, 0) + 1
        handler = spec(number) if callable(spec) else spec
        started = time.monotonic()
        try:
            returncode, output, log = self._run(handler, name, body)
            record = Invocation(
                function_name=name,
                handler=handler,
                arn=arn,
                number=number,
                marked=marked,
                paged=paged,
                returncode=returncode,
                output=output,
                log=log,
                seconds=time.monotonic() - started,
            )
            with self._lock:
                self.invocations.append(record)
        finally:
            with self._lock:
                self._in_flight[arn] -= 1
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        if returncode != 0:
            headers["X-Amz-Function-Error"] = "Unhandled"
            if output is None:
                output = {
                    "errorType": "Runtime.ExitError",
                    "errorMessage": f"Runtime exited with error: exit status {returncode}",
                }
        return 200, headers, json.dumps(output).encode()

    def _run(self, handler: str, name: str, body: bytes) -> tuple[int, Any, str]:
        """Run ``handler`` in a fresh process; return its exit status, output and log."""
        fd, path = tempfile.mkstemp(prefix="output-", suffix=".json", dir=self._workdir)
        os.close(fd)
        output_file = pathlib.Path(path)
        process = subprocess.Popen(
            [sys.executable, str(INVOKE_HANDLER), handler, name, str(output_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=_handler_env(self.api_url),
        )
        with self._lock:
            self._running.add(process)
        try:
            out, _ = process.communicate(body, timeout=INVOCATION_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            out, _ = process.communicate()
        finally:
            with self._lock:
                self._running.discard(process)
        text = output_file.read_text()
        output_file.unlink()
        return process.returncode, json.loads(text) if text else None, out.decode(errors="replace")

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                path = urllib.parse.urlsplit(self.path).path
                parts = path.split("/")
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(parts) == 5 and parts[1:3] == ["2015-03-31", "functions"]:
                    name = urllib.parse.unquote(parts[3])
                    marked = self.headers.get("X-Dex-Handler-Invoke") == "true"
                    status, headers, payload = endpoint.invoke(name, body, marked=marked)
                else:
                    status, headers, payload = 404, {}, b'{"Message": "unknown route"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Keep the test output quiet."""

        return Handler


@dataclasses.dataclass
class ProxiedRequest:
    """One durable-execution API call a handler made through the :class:`FaultProxy`."""

    method: str
    path: str
    body: Any
    """The decoded JSON body (None for a GET)."""
    fault: str | None = None
    """The fault injected into this call, if any."""

    @property
    def arn(self) -> str:
        """The execution the call is about."""
        return urllib.parse.unquote(self.path.split("/")[3])

    @property
    def api(self) -> str:
        """``checkpoint`` or ``state``."""
        return urllib.parse.urlsplit(self.path).path.rsplit("/", 1)[-1]


@dataclasses.dataclass
class Fault:
    """A fault to inject into the next ``times`` calls ``matches`` selects.

    Kinds: ``lose-response`` (the call reaches the emulator, the handler gets a
    502), ``reset`` (it reaches the emulator, the connection is closed without a
    response), ``throttle`` (a 429 TooManyRequestsException, the emulator never
    sees the call), ``stale-token`` (the call reaches the emulator with a
    CheckpointToken it no longer accepts, as when another invocation moved on).
    """

    kind: str
    matches: Callable[[ProxiedRequest], bool]
    times: int = 1


INVOKE_PATH = re.compile(r"/2015-03-31/functions/(?P<name>[^/]+)/invocations")
"""The Lambda ``Invoke`` route, which the emulator does not serve."""


class FaultProxy(_LoopbackServer):
    """A pass-through HTTP proxy between the handlers and the emulator's API.

    Handlers reach the emulator through it (``AWS_ENDPOINT_URL_LAMBDA``). It
    records every call and injects the :class:`Fault` objects a test adds, so
    a test can lose a checkpoint's response after the emulator applied it, as a
    network would.

    It is also the gateway a client that starts executions with Lambda's
    ``Invoke`` needs (the cloud test runner): an ``Invoke`` of a durable
    function starts an execution on the emulator and answers, as Lambda does,
    with its ARN in ``X-Amz-Durable-Execution-Arn`` (202 for an ``Event``
    invoke, 200 otherwise).
    """

    def __init__(self, target: str) -> None:
        self.target = urllib.parse.urlsplit(target)
        self.requests: list[ProxiedRequest] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._serve(self._request_handler(), "fault-proxy")

    def inject(self, fault: Fault) -> None:
        """Inject ``fault`` into the next matching calls."""
        with self._lock:
            self._faults.append(fault)

    def calls(self, arn: str, api: str) -> list[ProxiedRequest]:
        """The ``api`` calls (``checkpoint`` or ``state``) made for execution ``arn``."""
        with self._lock:
            return [r for r in self.requests if r.api == api and r.arn == arn]

    def _fault_for(self, request: ProxiedRequest) -> str | None:
        with self._lock:
            self.requests.append(request)
            for fault in self._faults:
                if fault.times > 0 and fault.matches(request):
                    fault.times -= 1
                    request.fault = fault.kind
                    return fault.kind
        return None

    def start_execution(self, function_name: str, payload: bytes) -> str:
        """Start an execution of ``function_name`` on the emulator; return its ARN."""
        body: dict[str, Any] = {
            "AccountId": "123456789012",
            "FunctionName": function_name,
            "FunctionQualifier": "$LATEST",
            "ExecutionName": f"invoke-{uuid.uuid4().hex[:12]}",
            "ExecutionTimeoutSeconds": 120,
            "ExecutionRetentionPeriodDays": 1,
        }
        if payload:
            body["Input"] = payload.decode()
        status, _, answer = self._forward(
            "POST",
            "/start-durable-execution",
            {"Content-Type": "application/json"},
            json.dumps(body).encode(),
        )
        if status >= 300:
            raise RuntimeError(f"the emulator refused to start {function_name}: {answer!r}")
        return str(json.loads(answer)["ExecutionArn"])

    def _forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        assert self.target.hostname is not None
        connection = http.client.HTTPConnection(
            self.target.hostname, self.target.port, timeout=INVOCATION_TIMEOUT
        )
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _proxy(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                invoke = INVOKE_PATH.fullmatch(urllib.parse.urlsplit(self.path).path)
                if self.command == "POST" and invoke is not None:
                    self._invoke(urllib.parse.unquote(invoke["name"]), body)
                    return
                request = ProxiedRequest(self.command, self.path, _json_or_none(body))
                fault = proxy._fault_for(request)
                if fault == "throttle":
                    self._answer(
                        429,
                        [("x-amzn-ErrorType", "TooManyRequestsException"), ("Retry-After", "1")],
                        b'{"Type": "User", "message": "Rate exceeded"}',
                    )
                    return
                if fault == "stale-token":
                    body = json.dumps({**request.body, "CheckpointToken": "stale"}).encode()
                headers = {
                    k: v
                    for k, v in self.headers.items()
                    if k.lower() not in {"host", "content-length"}
                }
                status, response_headers, payload = proxy._forward(
                    self.command, self.path, headers, body
                )
                if fault == "reset":
                    self.close_connection = True
                    return
                if fault == "lose-response":
                    self._answer(
                        502,
                        [("x-amzn-ErrorType", "ServiceException")],
                        b'{"Type": "Service", "message": "Bad Gateway"}',
                    )
                    return
                kept = [(k, v) for k, v in response_headers if k.lower() != "content-length"]
                self._answer(status, kept, payload)

            def _invoke(self, function: str, body: bytes) -> None:
                arn = proxy.start_execution(function.split(":", 1)[0], body)
                asynchronous = self.headers.get("X-Amz-Invocation-Type") == "Event"
                self._answer(
                    202 if asynchronous else 200,
                    [("X-Amz-Durable-Execution-Arn", arn), ("Content-Type", "application/json")],
                    b"" if asynchronous else b"null",
                )

            def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._proxy()

            def do_POST(self) -> None:
                self._proxy()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                """Keep the test output quiet."""

        return Handler


def _json_or_none(body: bytes) -> Any:
    """The JSON a request carries; None for none, or for a raw blob (a callback's result)."""
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def lambda_client(endpoint_url: str) -> Any:
    """A botocore ``lambda`` client for ``endpoint_url`` with dummy credentials and no retries."""
    import botocore.config
    import botocore.session

    return botocore.session.get_session().create_client(
        "lambda",
        region_name=REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="dummy",
        aws_secret_access_key="dummy",
        config=botocore.config.Config(retries={"total_max_attempts": 1}, read_timeout=30),
    )


@dataclasses.dataclass
class Execution:
    """A finished execution as the emulator reports it."""

    arn: str
    description: dict[str, Any]
    history: list[dict[str, Any]]

    @property
    def status(self) -> str:
        """``Status`` from GetDurableExecution."""
        return str(self.description["Status"])

    @property
    def result(self) -> Any:
        """The decoded ``Result`` from GetDurableExecution."""
        raw = self.description.get("Result")
        return json.loads(raw) if raw else None

    @property
    def error(self) -> dict[str, Any] | None:
        """``Error`` from GetDurableExecution."""
        return self.description.get("Error")

    def events(self, event_type: str, name: str | None = None) -> list[dict[str, Any]]:
        """History events of ``event_type`` (and operation ``name``), oldest first."""
        return [
            e
            for e in self.history
            if e["EventType"] == event_type and (name is None or e.get("Name") == name)
        ]


class Emulator:
    """One emulator process, its Invoke endpoint and a botocore client for its API."""

    def __init__(self, workdir: pathlib.Path, *, skip_time: bool) -> None:
        self.skip_time = skip_time
        self.endpoint = LambdaEndpoint(FUNCTIONS, workdir)
        self.log_path = workdir / f"emulator-{'skip' if skip_time else 'real'}-time.log"
        self._process: subprocess.Popen[str] | None = None
        self.url = ""
        self.client: Any = None
        self.proxy: FaultProxy | None = None

    def start(self) -> None:
        """Start the endpoint, then the emulator pointed at it; wait until it serves."""
        self.endpoint.start()
        command = [
            sys.executable,
            str(EMULATOR_SERVER),
            "--lambda-endpoint",
            self.endpoint.url,
            "--function-configs",
            json.dumps(FUNCTION_CONFIGS),
        ]
        if self.skip_time:
            command += ["--skip-time", "--max-invocation-page-bytes", str(FAST_PAGE_BYTES)]
        with self.log_path.open("w") as log:
            self._process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO
            )
        watchdog = threading.Timer(30, self._process.kill)
        watchdog.start()
        try:
            assert self._process.stdout is not None
            line = self._process.stdout.readline()
        finally:
            watchdog.cancel()
        if not line.startswith("PORT "):
            self.stop()
            raise RuntimeError(f"the emulator did not start:\n{self.log_path.read_text()}")
        self.url = f"http://127.0.0.1:{int(line.split()[1])}"
        self.proxy = FaultProxy(self.url)
        self.proxy.start()
        self.endpoint.api_url = self.proxy.url
        self.client = lambda_client(self.url)
        with urllib.request.urlopen(f"{self.url}/health", timeout=10) as response:
            assert response.status == 200

    def stop(self) -> None:
        """Stop the emulator (SIGTERM, then SIGKILL), then the endpoint."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
            if self._process.stdout is not None:
                self._process.stdout.close()
        self.endpoint.stop()
        if self.proxy is not None:
            self.proxy.stop()
        if self.client is not None:
            self.client.close()

    # -- driving executions ----------------------------------------------------------

    def start_execution(
        self, function_name: str, payload: Any = None, *, timeout: int = 120
    ) -> str:
        """Start an execution of ``function_name`` with ``payload`` (as JSON); return its ARN."""
        body: dict[str, Any] = {
            "AccountId": "123456789012",
            "FunctionName": function_name,
            "FunctionQualifier": "$LATEST",
            "ExecutionName": f"e2e-{uuid.uuid4().hex[:12]}",
            "ExecutionTimeoutSeconds": timeout,
            "ExecutionRetentionPeriodDays": 1,
        }
        if payload is not None:
            body["Input"] = json.dumps(payload)
        request = urllib.request.Request(
            f"{self.url}/start-durable-execution",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return str(json.loads(response.read())["ExecutionArn"])

    def describe(self, arn: str) -> dict[str, Any]:
        """GetDurableExecution, through botocore."""
        return dict(self.client.get_durable_execution(DurableExecutionArn=arn))

    def wait(self, arn: str, timeout: float = 60.0) -> Execution:
        """Poll GetDurableExecution until the execution ends; return it with its history."""
        deadline = time.monotonic() + timeout
        while True:
            description = self.describe(arn)
            if description["Status"] in TERMINAL:
                self.endpoint.wait_idle(arn)
                return Execution(arn, description, self.history(arn))
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"execution still {description['Status']} after {timeout}s; "
                    f"history: {json.dumps(self.history(arn), default=str, indent=1)}\n"
                    f"invocations: {self.endpoint.invocations_of(arn)}"
                )
            pause(0.05)

    def run(self, function_name: str, payload: Any = None, *, timeout: float = 60.0) -> Execution:
        """Start an execution and wait for it to end."""
        return self.wait(self.start_execution(function_name, payload), timeout)

    def history(self, arn: str) -> list[dict[str, Any]]:
        """Every history event (GetDurableExecutionHistory, all pages, with data)."""
        events: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"DurableExecutionArn": arn, "IncludeExecutionData": True}
        while True:
            page = self.client.get_durable_execution_history(**kwargs)
            events.extend(page.get("Events") or ())
            if not page.get("NextMarker"):
                return events
            kwargs["Marker"] = page["NextMarker"]

    def callback_id(self, arn: str, name: str, *, timeout: float = 30.0) -> str:
        """The id of the newest callback named ``name`` (or in wait_for_callback ``name``)."""
        deadline = time.monotonic() + timeout
        while True:
            history = self.history(arn)
            contexts = {
                e["Id"]: e.get("Name") for e in history if e["EventType"] == "ContextStarted"
            }
            for event in reversed(history):
                if event["EventType"] == "CallbackStarted" and name in (
                    event.get("Name"),
                    contexts.get(event.get("ParentId")),
                ):
                    return str(event["CallbackStartedDetails"]["CallbackId"])
            if time.monotonic() > deadline:
                raise AssertionError(f"no callback named {name!r} started after {timeout}s")
            pause(0.05)

    def answer(self, arn: str, answer: CallbackAnswer) -> None:
        """Answer a callback through botocore: heartbeats, one a second, then success or failure."""
        callback_id = self.callback_id(arn, answer.name)
        for _ in range(answer.heartbeats):
            self.client.send_durable_execution_callback_heartbeat(CallbackId=callback_id)
            pause(1)
        if answer.error is not None:
            self.client.send_durable_execution_callback_failure(
                CallbackId=callback_id, Error=answer.error
            )
        else:
            self.client.send_durable_execution_callback_success(
                CallbackId=callback_id, Result=(answer.result or "").encode()
            )

    def play(self, scenario: Scenario, timeout: float = 60.0) -> Execution:
        """Run ``scenario`` to its end, answering its callbacks in order."""
        arn = self.start_execution(scenario.function, scenario.payload)
        for answer in scenario.answers:
            self.answer(arn, answer)
        return self.wait(arn, timeout)


@dataclasses.dataclass(frozen=True)
class CallbackAnswer:
    """How a scenario answers one callback.

    Attributes:
        name: The callback's name, or the name given to ``wait_for_callback``.
        result: Sent with SendDurableExecutionCallbackSuccess (unless ``error``).
        error: Sent with SendDurableExecutionCallbackFailure.
        heartbeats: SendDurableExecutionCallbackHeartbeat calls, one a second, first.
    """

    name: str
    result: str | None = None
    error: dict[str, str] | None = None
    heartbeats: int = 0


@dataclasses.dataclass(frozen=True)
class Scenario:
    """A workflow run: the function, its input and how its callbacks are answered."""

    function: str
    payload: Any = dataclasses.field(default_factory=dict)
    answers: tuple[CallbackAnswer, ...] = ()


SCENARIOS: dict[str, Scenario] = {
    "steps-and-retries": Scenario("steps-and-retries", {"order": "o-1"}),
    "fails": Scenario("fails", {"order": "o-13"}),
    "wait-and-child": Scenario("wait-and-child", {"order": "o-2"}),
    "callbacks": Scenario(
        "callbacks",
        answers=(
            # Four heartbeats a second apart outlive the 3 s heartbeat timeout.
            CallbackAnswer("approve", result='"yes"', heartbeats=4),
            CallbackAnswer("review", result='{"score": 5}'),
            CallbackAnswer(
                "reject",
                error={
                    "ErrorType": "Rejected",
                    "ErrorMessage": "no budget",
                    "ErrorData": '{"q": 1}',
                },
            ),
        ),
    ),
    "callback-timeout": Scenario("callback-timeout"),
    "invokes": Scenario("invokes"),
    "wait-for-condition": Scenario("wait-for-condition"),
    "map-and-parallel": Scenario("map-and-parallel"),
}
"""Deterministic runs of the operations workflows, shared by the end-to-end and
differential tests (each runs once per session on the emulator)."""


# -- comparing histories ------------------------------------------------------------------------

_OPERATION_EVENT = re.compile(
    r"(Step|Wait|Callback|Context|ChainedInvoke)(Started|Succeeded|Failed|TimedOut|Cancelled|Stopped)"
)
_TYPES = {
    "Step": "STEP",
    "Wait": "WAIT",
    "Callback": "CALLBACK",
    "Context": "CONTEXT",
    "ChainedInvoke": "CHAINED_INVOKE",
}
_CONCURRENT = frozenset({"Map", "Parallel"})
_STATUSES = {
    "Started": "STARTED",
    "Succeeded": "SUCCEEDED",
    "Failed": "FAILED",
    "TimedOut": "TIMED_OUT",
    "Cancelled": "CANCELLED",
    "Stopped": "STOPPED",
}


def operation_view(history: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """What an execution's history says about each operation, free of times and tokens.

    Each operation is keyed by its path: its parent's path, then ``TYPE:Name#k``
    where ``k`` counts earlier siblings of the same type and name, so operations
    pair up even when two sides number them differently (which then shows as a
    difference in ``Id``). For each: Id, Type, SubType, Name, the parent's path,
    the final status, the outcome of every event (``Started``, ``Failed``, …:
    retries and wait-for-condition checks show up here), the final Result
    payload or Error (ErrorType, ErrorMessage, ErrorData; not the StackTrace),
    and the paths of its children in the order they started (sorted for a Map
    or Parallel, whose branches start on their own threads). The root's
    children are under ``""``.

    Only what every service must agree on is kept: execution and invocation
    events, timestamps, callback ids, ``RetryDetails``, ``Truncated`` flags and
    the Started events' details are left out.
    """
    raw: dict[str, dict[str, Any]] = {}
    for event in history:
        match = _OPERATION_EVENT.fullmatch(event["EventType"])
        if match is None:
            continue
        kind, outcome = match.groups()
        op = raw.setdefault(
            event["Id"],
            {
                "Id": event["Id"],
                "Type": _TYPES[kind],
                "SubType": event.get("SubType"),
                "Name": event.get("Name"),
                "ParentId": event.get("ParentId"),
                "Events": [],
            },
        )
        op["Events"].append(outcome)
        op["Status"] = _STATUSES[outcome]
        if outcome != "Started":
            found = event.get(f"{event['EventType']}Details") or {}
            op["Result"] = (found.get("Result") or {}).get("Payload")
            error = (found.get("Error") or {}).get("Payload")
            op["Error"] = (
                {k: v for k, v in error.items() if k != "StackTrace"} if error is not None else None
            )
    paths: dict[str | None, str] = {None: ""}
    siblings: dict[tuple[str, str], int] = {}
    view: dict[str, dict[str, Any]] = {"": {"Children": []}}
    for op_id, op in raw.items():  # dicts keep the order operations started in
        parent = paths.get(op.pop("ParentId"), "?unknown-parent")
        label = f"{op['Type']}:{op['Name'] or '-'}"
        k = siblings.get((parent, label), 0)
        siblings[(parent, label)] = k + 1
        path = f"{parent}/{label}#{k}"
        paths[op_id] = path
        view[path] = {**op, "Parent": parent, "Children": []}
        view.setdefault(parent, {"Children": []})["Children"].append(path)
    for op in view.values():
        if op.get("SubType") in _CONCURRENT:
            op["Children"].sort()  # branches start on their own threads, in any order
    return view
