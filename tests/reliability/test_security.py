"""Security: no payloads or tokens in the SDK's logs; input ids never reach paths or SQL raw;
local stores are private; anything that listens binds the loopback interface.
"""

from __future__ import annotations

import ast
import logging
import pathlib
import stat
from collections.abc import Iterator
from typing import Any

import pytest

from durable_exec import (
    Duration,
    MapConfig,
    RetryPresets,
    StepConfig,
    WaitForCallbackConfig,
    durable_execution,
)
from durable_exec.testing import (
    DurableTestRunner,
    Fault,
    FaultInjectingClient,
    LocalDurableService,
    SqliteStore,
    VirtualClock,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-7f1c9e-MARKER"


class Capture(logging.Handler):
    """Keeps every record that reaches the root logger."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def debug_logs() -> Iterator[Capture]:
    """DEBUG logging on for every logger, captured at the root."""
    capture = Capture()
    root = logging.getLogger()
    previous = root.level
    touched = []
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        touched.append((logger, logger.level, logger.disabled))
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    root.addHandler(capture)
    root.setLevel(logging.DEBUG)
    try:
        yield capture
    finally:
        root.removeHandler(capture)
        root.setLevel(previous)
        for logger, level, disabled in touched:
            logger.setLevel(level)
            logger.disabled = disabled


def _record_text(record: logging.LogRecord) -> str:
    """Everything a handler could write for ``record``: message, args, extras, exception."""
    parts = [record.getMessage(), repr(record.args)]
    parts += [f"{k}={v!r}" for k, v in vars(record).items() if k not in ("msg", "args")]
    if record.exc_info:
        parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


@durable_execution
def sensitive(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Secrets in the input, step results, step errors, a callback answer and a child's failure."""
    context.logger.info("processing an order of %d bytes", len(str(event)))
    card = context.step(lambda _: {"card": event["card"]}, name="tokenise")
    attempts: list[int] = []

    def flaky(step_context: Any) -> str:
        attempts.append(step_context.attempt)
        step_context.logger.debug("charging, attempt %d", step_context.attempt)
        if step_context.attempt == 1:
            raise ValueError(f"gateway refused card {event['card']}")
        return f"charged {event['card']}"

    charge = context.step(flaky, name="charge", config=StepConfig(retry_strategy=None))
    context.wait(Duration(1), name="pause")
    answer = context.wait_for_callback(
        lambda callback_id, ctx: ctx.logger.info("asked for approval"),
        name="approve",
        config=WaitForCallbackConfig(timeout=Duration.from_hours(1)),
    )

    def doomed(ctx: Any) -> None:
        raise RuntimeError(f"refund of {event['card']} refused")

    try:
        context.run_in_child_context(doomed, name="refund")
    except Exception as error:  # the failure's message holds the secret
        context.logger.warning("refund failed: %s", type(error).__name__)
    items = context.map(
        [event["card"], "other"],
        lambda ctx, x, i, xs: ctx.step(lambda _: f"{x}!", name="line"),
        name="lines",
        config=MapConfig(max_concurrency=2),
    )
    try:
        context.step(
            lambda _: {}[event["card"]],
            name="doomed-step",
            config=StepConfig(retry_strategy=RetryPresets.none()),
        )
    except Exception as error:  # a StepError carrying the KeyError's secret message
        context.logger.error("lookup failed: %s", type(error).__name__)
    return {"card": card, "charge": charge, "answer": answer, "lines": items.get_results()}


def test_no_payload_or_token_reaches_the_sdk_logs(debug_logs, figures):
    """With DEBUG on everywhere, no durable_exec* record holds a payload secret or a token."""
    clock = VirtualClock()
    client = FaultInjectingClient(LocalDurableService(clock))
    client.inject(Fault.server_error(503), at=2)  # retried: the error path logs nothing either
    client.inject(Fault.stale_token(), at=5)  # a failed invocation
    runner = DurableTestRunner(sensitive, service=client, clock=clock)  # type: ignore[arg-type]
    runner.on_callback("approve", result=f'"approved with {SECRET}"')
    result = runner.run({"card": SECRET})
    assert result.status == "SUCCEEDED", result.error
    assert SECRET in (result.result_payload or "")  # the secret did travel through the SDK
    tokens = {str(call.kwargs.get("CheckpointToken")) for call in client.calls}
    assert tokens
    sdk_records = [r for r in debug_logs.records if r.name.startswith("durable_exec")]
    assert sdk_records, "the workflow's own context.logger records are expected"
    leaks = []
    for record in sdk_records:
        text = _record_text(record)
        if SECRET in text or any(token in text for token in tokens):
            leaks.append((record.name, record.getMessage()))
    assert not leaks, f"secrets or tokens in SDK log records: {leaks}"
    figures.add("security", "log-records-checked", len(sdk_records))


# -- ids from input never reach paths or SQL unvalidated ---------------------------------

_SQL_CALLS = {"execute", "executemany", "executescript"}
_PATH_CALLS = {"open", "Path", "join", "mkdir", "makedirs", "unlink", "remove", "rmtree"}


def _python_files(*roots: str) -> list[pathlib.Path]:
    files: list[pathlib.Path] = []
    for root in roots:
        files += sorted((ROOT / root).rglob("*.py"))
    return [f for f in files if "__pycache__" not in f.parts]


def _call_name(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def _constant_sql(node: ast.expr) -> bool:
    """A literal, or an f-string interpolating only UPPER_CASE module constants."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.JoinedStr):
        return all(
            isinstance(v, ast.Constant)
            or (
                isinstance(v, ast.FormattedValue)
                and isinstance(v.value, ast.Name)
                and v.value.id.lstrip("_").isupper()
            )
            for v in node.values
        )
    return False


def _mentions_input_id(node: ast.AST) -> bool:
    for sub in ast.walk(node):
        name = (
            sub.id
            if isinstance(sub, ast.Name)
            else sub.attr
            if isinstance(sub, ast.Attribute)
            else ""
        )
        lowered = name.lower()
        if lowered == "arn" or lowered.endswith("_arn") or "callback_id" in lowered:
            return True
    return False


def test_sql_is_never_built_from_values():
    """Every SQL statement in the package is a literal (values go through ? parameters)."""
    offenders = []
    checked = 0
    for path in _python_files("durable_exec"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _call_name(node) in _SQL_CALLS and node.args:
                checked += 1
                if not _constant_sql(node.args[0]) and not (
                    isinstance(node.args[0], ast.Name) and node.args[0].id in ("sql", "statement")
                ):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert checked > 10, "the SQLite store's statements should have been found"
    assert not offenders, f"SQL built from values: {offenders}"


def _builds_a_path(node: ast.AST) -> list[ast.AST]:
    """The parts of ``node`` that build a file path (open, Path, os.path.join, mkdir..., ``/``)."""
    if isinstance(node, ast.Call):
        name = _call_name(node)
        func = node.func
        if name == "join":  # os.path.join, not str.join
            owner = func.value if isinstance(func, ast.Attribute) else None
            if not (isinstance(owner, ast.Attribute) and owner.attr == "path"):
                return []
        if name in _PATH_CALLS:
            return [*node.args, *(k.value for k in node.keywords)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
        text = ast.unparse(node).lower()
        if "path" in text or "dir" in text:
            return [node.left, node.right]
    return []


# FileSystemSerDes lays files out by ARN parts, as the official SDK does: each part is
# percent-encoded, hashed, or free of '/' and not '.' or '..' (tests/serdes checks that
# no hostile ARN or operation id leaves the base directory).
PATHS_FROM_IDS_BY_DESIGN = {"durable_exec/_fs_serdes.py"}


def test_input_ids_never_build_a_path():
    """No file path in the package is built from an execution ARN or a callback id."""
    offenders = []
    for path in _python_files("durable_exec"):
        if str(path.relative_to(ROOT)) in PATHS_FROM_IDS_BY_DESIGN:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [
            f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', '?')}"
            for node in ast.walk(tree)
            if any(_mentions_input_id(part) for part in _builds_a_path(node))
        ]
    assert not offenders, f"paths built from ARNs or callback ids: {offenders}"


EVIL_IDS = [
    "../../../../etc/passwd",
    "x'; DROP TABLE executions; --",
    "arn:aws:lambda:us-east-1:123456789012:function:f:$LATEST/durable-execution/../../x/y",
    "\x00",
    "A" * 5000,
]


@pytest.mark.parametrize("evil", EVIL_IDS)
def test_hostile_arns_and_callback_ids_are_refused(evil, tmp_path):
    """Hostile ARNs and callback ids are rejected as unknown or invalid; the store is intact."""
    from botocore.exceptions import ClientError

    store = SqliteStore(tmp_path / "store.db")
    try:
        service = LocalDurableService(VirtualClock(), store=store)
        arn = service.start_execution("f", '{"x": 1}')
        for call, kwargs in [
            (service.get_durable_execution, {"DurableExecutionArn": evil}),
            (service.get_durable_execution_history, {"DurableExecutionArn": evil}),
            (service.stop_durable_execution, {"DurableExecutionArn": evil}),
            (service.send_durable_execution_callback_success, {"CallbackId": evil}),
            (service.send_durable_execution_callback_failure, {"CallbackId": evil}),
            (service.send_durable_execution_callback_heartbeat, {"CallbackId": evil}),
        ]:
            with pytest.raises(ClientError) as caught:
                call(**kwargs)
            code = caught.value.response["Error"]["Code"]
            assert code in ("ResourceNotFoundException", "InvalidParameterValueException")
        assert service.execution_status(arn) == "RUNNING"
        assert all(p.name.startswith("store.db") for p in tmp_path.iterdir())
    finally:
        store.close()


def test_local_store_files_are_private(tmp_path):
    """A new SQLite store and the directories created for it are readable by their owner only."""
    path = tmp_path / "deep" / "er" / "store.db"
    store = SqliteStore(path)
    try:
        LocalDurableService(VirtualClock(), store=store).start_execution("f", "{}")
    finally:
        store.close()
    for created in (path, path.parent, path.parent.parent):
        mode = stat.S_IMODE(created.stat().st_mode)
        assert mode & 0o077 == 0, f"{created} is mode {oct(mode)}"


# -- listeners ------------------------------------------------------------------------

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}
_SERVERS = {"HTTPServer", "ThreadingHTTPServer", "TCPServer", "ThreadingTCPServer", "bind"}


def test_everything_that_listens_binds_the_loopback_interface():
    """Servers and sockets in the repository bind 127.0.0.1 (grep of every server and host=)."""
    listeners = 0
    offenders = []
    for path in _python_files("durable_exec", "tests", "benchmarks", "examples"):
        source = path.read_text(encoding="utf-8")
        if path.name == pathlib.Path(__file__).name:
            continue
        if "0.0.0.0" in source:
            offenders.append(f"{path.relative_to(ROOT)}: mentions 0.0.0.0")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            hosts: list[ast.expr] = []
            if _call_name(node) in _SERVERS and node.args and isinstance(node.args[0], ast.Tuple):
                hosts.append(node.args[0].elts[0])
            hosts += [k.value for k in node.keywords if k.arg == "host"]
            for host in hosts:
                listeners += 1
                if not (isinstance(host, ast.Constant) and host.value in _LOOPBACK):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(host)}")
    assert not offenders, f"listeners not bound to the loopback interface: {offenders}"
    if not listeners:
        pytest.skip("no listener in the repository yet")
