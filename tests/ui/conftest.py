"""The web console's fixtures: a store with real executions, a running console, an HTTP client."""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from durable_exec._cli._loader import HandlerSpec
from durable_exec._cli._ui._security import CSRF_HEADER
from durable_exec._cli._ui._server import ConsoleServer, start_console
from durable_exec._cli._workspace import RunRecord, Workspace, locate_store
from durable_exec._wire import capture_stack_traces

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
APPROVAL_INPUT = '{"request": "laptop", "manager": "ana@example.com"}'

# Markup that runs script if it is ever parsed as HTML: in a name, a result and an error.
XSS = "<img src=x onerror=\"document.title='pwned';window.__pwned=1\">"
XSS_SCRIPT = "<script>window.__pwned=2</script>"

WORKFLOWS: dict[str, str] = {
    # A retried step, a wait that spans invocations, a child context, a map.
    "shop.py": """
from durable_exec import (
    DurableContext, Duration, JitterStrategy, RetryStrategyConfig, StepConfig, durable_execution,
)

ATTEMPTS = {}


def flaky(step_context):
    ATTEMPTS[step_context.attempt] = True
    if step_context.attempt < 2:
        raise ConnectionError("gateway timed out")
    return "charged"


@durable_execution
def handler(event, context: DurableContext):
    context.step(lambda _: {"order": event["order"]}, name="reserve")
    charge = context.step(
        flaky,
        name="charge",
        config=StepConfig(
            retry_strategy=RetryStrategyConfig(
                max_attempts=3,
                initial_delay=Duration.from_seconds(5),
                jitter_strategy=JitterStrategy.NONE,
            )
        ),
    )
    context.wait(Duration.from_minutes(1), name="cool-off")
    shipped = context.run_in_child_context(
        lambda child: [child.step(lambda _: "label", name="label"),
                       child.step(lambda _: "pickup", name="pickup")],
        name="ship",
    )
    counts = context.map([1, 2, 3], lambda ctx, item, index, items: item * 10, name="count")
    return {"charge": charge, "shipped": shipped, "counts": counts.get_results()}
""",
    # Hostile text in a step name, a result, an input echo and an error message.
    "hostile.py": f"""
from durable_exec import DurableContext, RetryPresets, StepConfig, durable_execution

XSS = {XSS!r}
XSS_SCRIPT = {XSS_SCRIPT!r}


def boom(_):
    raise ValueError("bad " + XSS + XSS_SCRIPT)


@durable_execution
def handler(event, context: DurableContext):
    context.step(lambda _: XSS, name="name " + XSS)
    context.step(lambda _: {{"html": XSS, XSS: [XSS_SCRIPT]}}, name="result holder")
    context.step(boom, name="fails", config=StepConfig(retry_strategy=RetryPresets.none()))
""",
    # A result far larger than the preview, and a fan-out wider than a tree shows at once.
    "big.py": """
from durable_exec import DurableContext, durable_execution


@durable_execution
def handler(event, context: DurableContext):
    big = context.step(lambda _: [f"line {i:05d}" for i in range(5000)], name="big")
    context.map(list(range(60)), lambda ctx, item, index, items: item, name="wide")
    return len(big)
""",
    # Really waits (with --real-time): for watching a run from another terminal.
    "slow.py": """
from durable_exec import DurableContext, Duration, durable_execution


@durable_execution
def handler(event, context: DurableContext):
    context.step(lambda _: "first", name="first")
    context.wait(Duration.from_seconds(2), name="pause")
    return context.step(lambda _: "second", name="second")
""",
}


@pytest.fixture
def workflows(tmp_path: Path) -> Path:
    """A directory holding the test workflows (and ``approval.py``)."""
    directory = tmp_path / "flows"
    directory.mkdir()
    for name, text in WORKFLOWS.items():
        (directory / name).write_text(text)
    (directory / "approval.py").write_text((EXAMPLES / "approval.py").read_text())
    return directory


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "project" / ".durable" / "executions.db"


@pytest.fixture
def workspace(store_path: Path) -> Iterator[Workspace]:
    with Workspace(locate_store(store_path), create=True) as ws:
        yield ws


@pytest.fixture
def stack_traces() -> Iterator[None]:
    """Record stack traces, as ``durable-exec run`` does."""
    capture_stack_traces(enabled=True)
    yield
    capture_stack_traces(enabled=False)


def run_workflow(
    workspace: Workspace,
    path: Path,
    name: str,
    payload: str | None = None,
    *,
    function_name: str | None = None,
    functions: dict[str, str] | None = None,
) -> str:
    """Start ``path:handler`` as ``name`` and drive it as ``durable-exec run`` does.

    ``functions`` maps chained-invoke targets to ``PATH:ATTRIBUTE`` (``--function``).
    """
    spec = HandlerSpec.parse(f"{path}:handler", path.parent)
    targets = {
        target: HandlerSpec.parse(text, path.parent) for target, text in (functions or {}).items()
    }
    arn = workspace.start(
        function_name or path.stem, payload, name, RunRecord(spec, targets, real_time=False)
    )
    _, _, handler, targets = workspace.load_run(arn)
    workspace.run_driver(arn, handler, targets)
    return arn


@dataclasses.dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Client:
    """Raw HTTP to a console, with full control over Host, Origin, Cookie and token."""

    def __init__(self, server: ConsoleServer) -> None:
        self.server = server
        self.port = server.port
        self.host = f"127.0.0.1:{self.port}"
        self.cookie: str | None = None

    def request(
        self,
        method: str,
        path: str,
        *,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        cookie: bool = True,
    ) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
            sent = {"Host": self.host}
            if cookie and self.cookie:
                sent["Cookie"] = self.cookie
            sent.update(headers or {})
            for key, value in sent.items():
                if value is not None:
                    connection.putheader(key, value)
            if body is not None:
                connection.putheader("Content-Length", str(len(body)))
            connection.endheaders(body)
            response = connection.getresponse()
            return Response(response.status, response.headers, response.read())
        finally:
            connection.close()

    def login(self) -> None:
        token = urlsplit(self.server.url).query.split("=", 1)[1]
        response = self.request("GET", f"/?token={token}", cookie=False)
        assert response.status == 303
        self.cookie = response.headers["Set-Cookie"].split(";", 1)[0]

    def get(self, path: str, **params: object) -> Response:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return self.request("GET", path + ("?" + query if query else ""))

    def api(self, path: str, **params: object) -> Any:
        response = self.get(path, **params)
        assert response.status == 200, response.text
        return response.json()

    def post(
        self,
        path: str,
        value: object,
        *,
        origin: str | None = "default",
        token: str | None = "default",
        content_type: str = "application/json",
    ) -> Response:
        headers = {"Content-Type": content_type}
        if origin is not None:
            headers["Origin"] = f"http://{self.host}" if origin == "default" else origin
        if token is not None:
            headers[CSRF_HEADER] = self.server.console.guard.csrf if token == "default" else token
        return self.request("POST", path, body=json.dumps(value).encode(), headers=headers)


@pytest.fixture
def console(store_path: Path, workflows: Path) -> Iterator[ConsoleServer]:
    """A console over the test store, serving on a free port in a thread."""
    server = start_console(locate_store(store_path), "127.0.0.1", 0, cwd=workflows)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="console-under-test"
    )
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


@pytest.fixture
def client(console: ConsoleServer) -> Client:
    """A client with an open session."""
    c = Client(console)
    c.login()
    return c
