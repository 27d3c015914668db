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

_SQL_CALLS = {"execute", "executemany", "executescript", "_execute"}
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
    """A literal, an UPPER_CASE module constant, or an f-string interpolating only those."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return node.id.lstrip("_").isupper()
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _constant_sql(node.left) and _constant_sql(node.right)
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
                    isinstance(node.args[0], ast.Name)
                    and node.args[0].id in ("sql", "count_sql", "statement")
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
_WARNED_HOST_TESTS = {"tests/ui/test_ui_security.py"}


def test_everything_that_listens_binds_the_loopback_interface():
    """Servers and sockets in the repository bind 127.0.0.1 (grep of every server and host=)."""
    listeners = 0
    offenders = []
    for path in _python_files("durable_exec", "tests", "benchmarks", "examples"):
        source = path.read_text(encoding="utf-8")
        if path.name == pathlib.Path(__file__).name:
            continue
        # The web console's tests check that `durable-exec ui --host 0.0.0.0` warns.
        if "0.0.0.0" in source and path.relative_to(ROOT).as_posix() not in _WARNED_HOST_TESTS:
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


# -- the local store is a trust boundary (issue 13, item 14) --------------------------

import json as _json  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from durable_exec.testing import StoreError  # noqa: E402

EXAMPLES = ROOT / "examples"


def _private_dir(path: pathlib.Path) -> pathlib.Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def _make_store(path: pathlib.Path) -> str:
    with SqliteStore(path) as store:
        return LocalDurableService(VirtualClock(), store).start_execution("f", '{"secret": 1}')


class TestStoreTrust:
    def test_a_store_owned_by_another_user_is_refused(self, tmp_path, monkeypatch):
        """A store another user owns is refused with the reason, as ssh refuses a key."""
        path = _private_dir(tmp_path / "d") / "store.db"
        _make_store(path)
        before = path.read_bytes()
        monkeypatch.setattr(os, "geteuid", lambda: path.stat().st_uid + 4242)
        with pytest.raises(StoreError, match=r"belongs to .*not to you.*run their code"):
            SqliteStore(path)
        assert path.read_bytes() == before

    def test_a_store_in_a_directory_others_can_write_is_refused(self, tmp_path):
        """Others who can write the directory could swap the store or its journal."""
        directory = tmp_path / "shared"
        directory.mkdir()
        directory.chmod(0o777)
        with pytest.raises(StoreError, match=r"writable by other users.*chmod go-w"):
            SqliteStore(directory / "store.db")
        assert list(directory.iterdir()) == []

    def test_a_dangling_symlink_is_refused_and_its_target_not_created(self, tmp_path):
        """SQLite would create the link's target with mode 0644: refuse the link instead."""
        directory = _private_dir(tmp_path / "d")
        target = tmp_path / "elsewhere.db"
        (directory / "store.db").symlink_to(target)
        with pytest.raises(StoreError, match="is a symbolic link"):
            SqliteStore(directory / "store.db")
        assert not target.exists()

    def test_a_symlink_to_a_real_store_is_refused(self, tmp_path):
        directory = _private_dir(tmp_path / "d")
        real = directory / "real.db"
        _make_store(real)
        (directory / "store.db").symlink_to(real)
        with pytest.raises(StoreError, match="is a symbolic link"):
            SqliteStore(directory / "store.db")

    def test_an_empty_file_others_can_write_is_not_adopted(self, tmp_path):
        """An empty 0666 file planted as the store is refused; nothing is written into it."""
        directory = _private_dir(tmp_path / "d")
        planted = directory / "store.db"
        planted.touch()
        planted.chmod(0o666)
        with pytest.raises(StoreError, match=r"accessible to other users \(mode 0666\)"):
            SqliteStore(planted)
        assert planted.read_bytes() == b""

    def test_a_store_readable_by_others_is_refused(self, tmp_path):
        path = _private_dir(tmp_path / "d") / "store.db"
        _make_store(path)
        path.chmod(0o644)
        with pytest.raises(StoreError, match="chmod 600"):
            SqliteStore(path)

    @pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown a file to another user")
    def test_a_file_really_owned_by_nobody_is_refused(self, tmp_path):
        path = _private_dir(tmp_path / "d") / "store.db"
        path.touch(mode=0o600)
        os.chown(path, 65534, 65534)
        with pytest.raises(StoreError, match=r"belongs to .*uid 65534"):
            SqliteStore(path)


def _cli(*args: str, cwd: pathlib.Path, env: dict[str, str] | None = None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_EXEC_")}
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "durable_exec", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


class TestResumeImports:
    @pytest.fixture
    def paused(self, tmp_path):
        """An approval waiting for its callback, and an attacker's file beside it."""
        project = _private_dir(tmp_path / "project")
        started = _cli(
            "run",
            f"{EXAMPLES / 'approval.py'}:handler",
            "--input",
            '{"request": "x", "manager": "m"}',
            "--name",
            "a-1",
            cwd=project,
        )
        assert started.returncode == 3, started.stderr
        evil = tmp_path / "evil.py"
        marker = tmp_path / "evil-ran"
        evil.write_text(f"open({str(marker)!r}, 'w').close()\n")
        store = project / ".durable" / "executions.db"
        with SqliteStore(store) as opened:
            [arn] = opened.arns()
            record = _json.loads(opened.annotation(arn, "durable-exec.run"))
            record["handler"]["target"] = str(evil)
            opened.annotate(arn, "durable-exec.run", _json.dumps(record))
        return project, store, evil, marker

    def test_resume_refuses_a_store_others_can_write(self, paused):
        """A rewritten record in a store others could write is never imported."""
        project, store, _, marker = paused
        store.chmod(0o666)
        result = _cli("resume", "a-1", cwd=project)
        assert result.returncode == 2
        assert "refusing the store" in result.stderr
        assert "mode 0666" in result.stderr
        assert not marker.exists()

    def test_resume_prints_the_file_it_imports_first(self, paused):
        """Before importing anything, resume says which file the store names."""
        project, _, evil, _ = paused
        result = _cli("resume", "a-1", cwd=project)
        assert f"durable-exec: importing {evil} (as recorded in the store)" in result.stderr


ESCAPES = "\x1b]0;pwned\x07\x1b[2J\x9b31m\u202e"


class TestTerminalEscapes:
    def test_show_history_and_run_render_control_characters_visibly(self, tmp_path):
        """Names, payloads and error messages never reach the terminal with raw controls."""
        module = _private_dir(tmp_path / "m") / "hostile.py"
        module.write_text(
            "from durable_exec import durable_execution\n"
            f"ESCAPES = {ESCAPES!r}\n"
            "@durable_execution\n"
            "def handler(event, context):\n"
            "    context.step(lambda _: 'ok' + ESCAPES + '\\n\\u2713 fake  SUCCEEDED',\n"
            "                 name='payload')\n"
            "    context.wait_for_callback(lambda cid, _: None, name='cb')\n"
        )
        project = _private_dir(tmp_path / "p")
        ran = _cli("run", f"{module}:handler", "--name", "h-1", cwd=project)
        assert ran.returncode == 3, ran.stderr
        message = "no" + ESCAPES + "\n\u2713 fake  SUCCEEDED"
        callback = _cli("callback", "fail", "h-1/cb", message, cwd=project)
        assert callback.returncode == 0, callback.stderr
        outputs = {"run": ran.stdout}
        for command in ("show", "history"):
            done = _cli(command, "h-1", cwd=project)
            outputs[command] = done.stdout
        for command, text in outputs.items():
            for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
                assert raw not in text, (command, repr(raw))
            assert not any(line.startswith("\u2713 fake") for line in text.splitlines()), command
        assert "\\x1b]0;pwned" in outputs["show"]
        assert "\\x1b" in outputs["history"]

    def test_names_from_an_endpoint_are_rendered_visibly(self):
        """Names are validated locally, but a remote history could hold anything."""
        from durable_exec._cli._render import render_execution, render_history, render_timeline
        from durable_exec._cli._view import build_view

        events = [
            {
                "EventType": "StepStarted",
                "EventId": 1,
                "Id": "op-1",
                "Name": "n" + ESCAPES + "\n\u2713 fake",
                "EventTimestamp": 1_700_000_000.0,
                "StepStartedDetails": {},
            }
        ]
        description = {"DurableExecutionName": "e" + ESCAPES, "Status": "RUNNING"}
        view = build_view(description, events)
        for text in (
            render_execution(view),
            render_history(events),
            render_timeline(view, now=1_700_000_001.0),
        ):
            for raw in ("\x1b", "\x07", "\x9b", "\u202e"):
                assert raw not in text
            assert not any(line.startswith("\u2713 fake") for line in text.splitlines())


class TestNoPayloadInErrors:
    def test_an_operation_without_an_id_is_named_not_quoted(self):
        """The failure names the problem and the type, never the operation's Result."""
        from durable_exec._wire import Operation, WireFormatError

        with pytest.raises(WireFormatError) as caught:
            Operation.from_wire(
                {"Type": "STEP", "Status": "SUCCEEDED", "StepDetails": {"Result": SECRET}}
            )
        assert SECRET not in str(caught.value)
        assert "without a valid Id" in str(caught.value)

    @pytest.mark.parametrize(
        "payload",
        [
            f'{{"t": "dt", "v": "{SECRET}"}}',
            f'{{"t": "{SECRET}", "v": 1}}',
            f'{{"t": "u", "v": "{SECRET}"}}',
        ],
    )
    def test_a_stored_value_that_fails_to_decode_is_not_quoted(self, payload):
        from durable_exec._errors import SerDesError
        from durable_exec._serde import deserialize

        with pytest.raises(SerDesError) as caught:
            deserialize(None, payload, "op-1", "arn:x")
        assert SECRET not in str(caught.value)
        assert "op-1" in str(caught.value)


class TestTransportLogging:
    def test_the_documented_one_liner_quiets_the_loggers_that_log_tokens(self):
        """RELIABILITY.md names the loggers that log tokens; the one-liner quiets them."""
        text = (ROOT / "RELIABILITY.md").read_text(encoding="utf-8")
        assert "urllib3.connectionpool" in text
        assert "botocore.auth" in text
        from durable_exec import quiet_transport_logs

        assert "quiet_transport_logs()" in text
        root = logging.getLogger()
        levels = {name: logging.getLogger(name).level for name in ("urllib3", "botocore")}
        try:
            root.setLevel(logging.DEBUG)
            quiet_transport_logs()
            for name in ("urllib3.connectionpool", "botocore.auth", "botocore.endpoint"):
                assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
        finally:
            for name, level in levels.items():
                logging.getLogger(name).setLevel(level)
