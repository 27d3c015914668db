"""The README's and the docs' examples do what they say.

Scanned: README.md, every page under docs/, and the docstrings of durable_exec/
and examples/. Checked:

* every ``durable-exec`` command line in a shell block parses with the real
  parser, and every one named inline starts with a real command (shared options
  before it allowed);
* every callback answer (``on_callback("manager-approval", result=...)``,
  ``send_callback_success(..., LITERAL)``, ``durable-exec callback succeed REF
  PAYLOAD``, ``echo X | ... -``) answers the approval example so that it takes its
  "approved" branch: callback results reach the handler as the string sent;
* the README's command-line block runs as written;
* docs/cli.md's ``Workspace`` block runs as written against a store holding two
  waiting approvals.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from durable_exec._cli._app import build_parser
from durable_exec._cli._errors import CliError
from durable_exec._cli._loader import HandlerSpec
from durable_exec._cli._workspace import RunRecord, Workspace, locate_store
from durable_exec.testing import DurableTestRunner

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
APPROVAL_INPUT = {"request": "laptop", "manager": "ana@example.com"}

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
_SHELL = {"bash", "console", "sh", "shell"}
_OPERATORS = {"|", ">", ">>", "&&", ";", "||"}


def _approval() -> Any:
    spec = importlib.util.spec_from_file_location("_readme_approval", ROOT / "examples/approval.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _docstrings() -> Iterator[tuple[str, str]]:
    """(where, text) of every docstring in durable_exec/ and examples/."""
    for path in sorted([*(ROOT / "durable_exec").rglob("*.py"), *(ROOT / "examples").glob("*.py")]):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                text = ast.get_docstring(node, clean=True)
                if text:
                    yield str(path.relative_to(ROOT)), text


def _shell_lines(text: str) -> Iterator[str]:
    """Command lines of the shell blocks of a Markdown text (``$ `` lines of console blocks)."""
    for match in _FENCE.finditer(text):
        language, body = match.group(1), match.group(2).replace("\\\n", " ")
        if language not in _SHELL:
            continue
        for line in body.splitlines():
            if language != "console":
                yield line.strip()
            elif line.startswith("$ "):
                yield line[2:].strip()


def _inline_spans(text: str) -> Iterator[str]:
    for match in re.finditer(r"`([^`]+)`", _FENCE.sub("", text)):
        yield " ".join(match.group(1).split())


def _commands(line: str) -> Iterator[tuple[list[str], str | None]]:
    """Each ``durable-exec`` invocation of a shell line: its arguments, and what is piped in."""
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        return
    segment: list[str] = []
    segments: list[tuple[list[str], str | None]] = []
    for token in [*tokens, ";"]:
        if token in _OPERATORS:
            segments.append((segment, token))
            segment = []
        else:
            segment.append(token)
    piped: str | None = None
    for words, operator in segments:
        if words[:1] == ["durable-exec"]:
            yield words[1:], piped
        piped = " ".join(words[1:]) if words[:1] == ["echo"] and operator == "|" else None


def _doc_command_lines() -> list[tuple[str, str]]:
    found = [(doc.name, line) for doc in DOCS for line in _shell_lines(doc.read_text("utf-8"))]
    for where, text in _docstrings():
        lines = [line.strip() for line in text.replace("\\\n", " ").splitlines()]
        found += [(where, line) for line in lines if line.startswith("durable-exec ")]
    return [(where, line) for where, line in found if "durable-exec" in line]


def test_every_command_line_in_the_docs_parses():
    """Shell blocks and docstrings show only command lines the real parser accepts."""
    lines = _doc_command_lines()
    assert len(lines) > 20, "the scan found almost no command lines"
    problems = []
    for where, line in lines:
        for argv, _piped in _commands(line):
            try:
                build_parser().parse_args(argv)
            except CliError as exc:
                problems.append(f"{where}: {line}\n    {exc}")
            except SystemExit:  # --help
                pass
    assert not problems, "\n".join(problems)


def _is_command(word: str) -> bool:
    """Whether ``durable-exec WORD --help`` is a command's help (asked of the real parser)."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args([word, "--help"])
    except SystemExit:
        return True
    except CliError:
        return False
    return False


def test_every_command_named_inline_is_a_real_command():
    """`durable-exec WORD ...` in prose names a command (shared options may come first)."""
    shared_with_value = {"--store", "--endpoint", "--region", "--log-level"}
    shared_flags = {"--json", "-v", "-vv", "--verbose"}
    problems = []
    spans = [(doc.name, span) for doc in DOCS for span in _inline_spans(doc.read_text("utf-8"))]
    checked = 0
    for where, span in spans:
        for argv, _piped in _commands(span):
            if not argv:  # the program's name
                continue
            words = list(argv)
            while words and (words[0] in shared_flags or words[0] in shared_with_value):
                words = words[2:] if words[0] in shared_with_value else words[1:]
            checked += 1
            if not words or not (words[0] == "COMMAND" or _is_command(words[0])):
                problems.append(f"{where}: `{span}`")
    assert checked > 10
    assert not problems, "\n".join(problems)


def _callback_payloads(
    sources: list[tuple[str, str]], shell: list[tuple[str, str]]
) -> list[tuple[str, str | bytes]]:
    """The callback success payloads shown in ``sources`` (code) and ``shell`` (command lines)."""
    literal = r"([bB]?(?:\"[^\"\n]*\"|'[^'\n]*'))"
    on_callback = re.compile(
        r"on_callback\(\s*\"manager-approval\",\s*result=" + literal + r"\s*\)"
    )
    send = re.compile(r"send_callback_success\(\s*[^,()]+,\s*" + literal + r"\s*\)")
    payloads: list[tuple[str, str | bytes]] = []
    for where, text in sources:
        for pattern in (on_callback, send):
            payloads += [(where, ast.literal_eval(m.group(1))) for m in pattern.finditer(text)]
    for where, line in shell:
        for argv, piped in _commands(line):
            if argv[:2] != ["callback", "succeed"]:
                continue
            try:
                args = build_parser().parse_args(argv)
            except CliError:  # prose naming the command (`durable-exec callback succeed`)
                continue
            if args.payload == "-":
                if piped is not None:
                    payloads.append((where, piped.rstrip("\n")))
            elif args.payload is not None:
                payloads.append((where, args.payload))
    return payloads


def _decisions(payloads: list[tuple[str, str | bytes]]) -> dict[str | bytes, Any]:
    """What the approval example decides for each payload."""
    handler = _approval().handler
    decisions = {}
    for payload in {payload for _, payload in payloads}:
        runner = DurableTestRunner(handler).on_callback("manager-approval", result=payload)
        decisions[payload] = runner.run(APPROVAL_INPUT).result["decision"]
    return decisions


def test_every_callback_answer_in_the_docs_takes_the_approved_branch():
    """Callback results arrive as the string sent: every answer shown must approve."""
    sources = [(doc.name, doc.read_text("utf-8")) for doc in DOCS] + list(_docstrings())
    shell = _doc_command_lines() + [
        (doc.name, span) for doc in DOCS for span in _inline_spans(doc.read_text("utf-8"))
    ]
    payloads = _callback_payloads(sources, shell)
    places = {where for where, _ in payloads}
    for expected in ("README.md", "testing.md", "cli.md", "durable_exec/_cli/_workspace.py"):
        assert expected in places, f"no callback answer found in {expected}: is the scan broken?"
    decisions = _decisions(payloads)
    wrong = [
        f"{where}: {payload!r} makes the example decide {decisions[payload]!r}"
        for where, payload in payloads
        if decisions[payload] != "approved"
    ]
    assert not wrong, "\n".join(wrong)


def test_the_scan_catches_the_json_quoted_answers_the_docs_once_showed():
    """The old examples are found, and each makes the approval example take its other branch."""
    sources = [
        ("testing.md", '`runner.on_callback("manager-approval", result=\'"approved"\')`'),
        ("cli.md", 'ws.send_callback_success("approve-1/manager-approval", b\'"approved"\')'),
    ]
    shell = [
        ("cli.md", "durable-exec callback succeed approve-1/manager-approval '\"approved\"'"),
        ("cli.md", "echo '\"approved\"' | durable-exec callback succeed approve-1/x -"),
    ]
    payloads = _callback_payloads(sources, shell)
    assert [where for where, _ in payloads] == ["testing.md", "cli.md", "cli.md", "cli.md"]
    assert set(_decisions(payloads).values()) == {'"approved"'}


def test_the_readme_command_line_block_runs_as_written(tmp_path):
    """The README's `durable-exec` block: each command exits as expected; the approval approves."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = next(
        m.group(2)
        for m in _FENCE.finditer(readme)
        if "callback succeed approve-1" in m.group(2) and m.group(1) == "bash"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_EXEC_")}
    env["DURABLE_EXEC_STORE"] = str(tmp_path / "state" / "executions.db")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    outputs = {}
    for line in _shell_lines(f"```bash\n{block}```\n"):
        for argv, _piped in _commands(line):
            done = subprocess.run(
                [sys.executable, "-m", "durable_exec", *argv],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            waiting = argv[:2] == ["run", "examples/approval.py:handler"]
            assert done.returncode == (3 if waiting else 0), (argv, done.stdout, done.stderr)
            outputs[argv[0]] = done.stdout
    assert set(outputs) >= {"run", "callback", "resume", "list", "show", "info", "replay"}
    assert 'result: {"request": "laptop", "decision": "approved"}' in outputs["resume"]


def test_the_workspace_block_in_the_cli_docs_runs_as_written(tmp_path, monkeypatch, capsys):
    """docs/cli.md's Workspace tour: approve-1 is answered and resumed, approve-2 stopped."""
    cli_md = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    [block] = [
        m.group(2)
        for m in _FENCE.finditer(cli_md)
        if m.group(1) == "python" and "Workspace.open()" in m.group(2)
    ]
    store = tmp_path / ".durable" / "executions.db"
    spec = HandlerSpec.parse(f"{ROOT / 'examples' / 'approval.py'}:handler", ROOT)
    record = RunRecord(spec, {}, real_time=False)
    with Workspace(locate_store(store), create=True) as ws:
        for name in ("approve-1", "approve-2"):
            arn = ws.start("approval", json.dumps(APPROVAL_INPUT), name, record)
            _, _, handler, targets = ws.load_run(arn)
            ws.run_driver(arn, handler, targets)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DURABLE_EXEC_STORE", raising=False)
    namespace: dict[str, Any] = {}
    exec(compile(block, "docs/cli.md", "exec"), namespace)  # the docs' own code
    assert [item.name for item in namespace["page"].items] == ["approve-2", "approve-1"]
    assert {item.name: item.status for item in namespace["changed"]} == {
        "approve-1": "SUCCEEDED",
        "approve-2": "STOPPED",
    }
    with Workspace.open(store) as ws:
        result = ws.describe(ws.resolve("approve-1"))["Result"]
    assert json.loads(result)["decision"] == "approved"
    assert "approval.py" in capsys.readouterr().out  # load_run(..., on_import=print)
