"""Kill campaign: the real `durable-exec` process, killed at random moments, always recovers.

Each case starts `durable-exec run` on an example (fan_out included) or on
`ledger`, a workflow of at-most-once steps (sequential and inside a map), a
durable wait and an at-least-once step that journal every body run to a file.
After a random delay (within the time the crash-free run takes) the process
gets SIGINT, SIGTERM or SIGKILL; sometimes the first `resume` is killed too.
Then `resume` (answering callbacks when the workflow waits for one) is run
until the execution ends, as a user would.

Every case must end with:

* the crash-free result (for order_processing, the random tracking number
  equals the checkpointed one);
* a sound history: one outcome per operation, nothing that succeeded lost;
* no at-most-once body run twice for one attempt (from the journal);
* a store that passes SQLite's integrity check and never got stuck: each
  `resume` made progress, none answered "still running" with nothing to do.

The CI run is small (one case per signal for fan_out and ledger, one per
workflow otherwise); ``DURABLE_RELIABILITY_FULL=1`` runs the campaign
whose figures RELIABILITY.md reports. ``DURABLE_CRASH_SEED`` replays a run.
"""

from __future__ import annotations

import collections
import dataclasses
import json
import os
import pathlib
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

FULL = os.environ.get("DURABLE_RELIABILITY_FULL") == "1"
ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SEED = int(os.environ.get("DURABLE_CRASH_SEED", "13"))
CASES_PER_SIGNAL = 8 if FULL else 1
FAN_OUT_LINES = 2000 if FULL else 600
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)
_OUTCOMES = ("Succeeded", "Failed", "TimedOut", "Stopped", "Cancelled")

LEDGER = """
import os
from durable_exec import (
    Duration, MapConfig, RetryStrategyConfig, StepConfig, StepSemantics, durable_execution,
)

AT_MOST_ONCE = StepConfig(
    step_semantics=StepSemantics.AT_MOST_ONCE_PER_RETRY,
    retry_strategy=RetryStrategyConfig(max_attempts=50, initial_delay=Duration(1)),
)


def body(tag, kind, name, value):
    def run(step_context):
        line = f"{kind}|{tag}|{name}|{step_context.attempt}\\n".encode()
        fd = os.open(os.environ["LEDGER_JOURNAL"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
        sum(range(100_000))  # a little work, so that kills land inside bodies too
        return value
    return run


@durable_execution
def handler(event, context):
    tag = event["tag"]
    total = 0
    for i in range(event["n"]):
        total += context.step(
            body(tag, "amo", f"pay-{i}", i), name=f"pay-{i}", config=AT_MOST_ONCE
        )
    context.wait(Duration(30), name="settle")
    items = context.map(
        list(range(event["m"])),
        lambda ctx, item, index, items: ctx.step(
            body(tag, "amo", f"item-{item}", item * 2), name=f"item-{item}", config=AT_MOST_ONCE
        ),
        name="fan",
        config=MapConfig(max_concurrency=4),
    )
    total += sum(items.get_results())
    total += context.step(body(tag, "alo", "final", 1), name="final")
    return {"total": total}
"""


@dataclasses.dataclass(frozen=True)
class Workflow:
    """One workflow of the campaign: how to run it and how to answer it."""

    name: str
    argv: tuple[str, ...]
    answers: dict[str, str] = dataclasses.field(default_factory=dict)


def _workflows(ledger: pathlib.Path) -> list[Workflow]:
    orchestrator = EXAMPLES / "orchestrator.py"
    return [
        Workflow(
            "order_processing",
            (f"{EXAMPLES / 'order_processing.py'}:handler", "--input",
             '{"order_id": "o-42", "items": 3}'),
        ),
        Workflow(
            "fan_out",
            (f"{EXAMPLES / 'fan_out.py'}:handler", "--input",
             json.dumps({"lines": FAN_OUT_LINES})),
        ),
        Workflow(
            "polling", (f"{EXAMPLES / 'polling.py'}:handler", "--input", '{"job_id": "j-7"}')
        ),
        Workflow(
            "orchestrator",
            (f"{orchestrator}:handler", "--input", '{"order_id": "o-9", "country": "DE"}',
             "--function", f"report-builder={orchestrator}:report_builder",
             "--function", f"tax-rate={orchestrator}:tax_rate"),
        ),
        Workflow(
            "approval",
            (f"{EXAMPLES / 'approval.py'}:handler", "--input",
             '{"request": "laptop", "manager": "ana@example.com"}'),
            answers={"manager-approval": "approved"},
        ),
        Workflow(
            "ledger",
            (f"{ledger}:handler", "--input",
             json.dumps({"n": 20, "m": 80} if FULL else {"n": 10, "m": 40})),
        ),
    ]


def _argv(workflow: Workflow, name: str) -> tuple[str, ...]:
    """The workflow's `run` arguments for execution ``name`` (the ledger tags its journal)."""
    if workflow.name != "ledger":
        return workflow.argv
    spec, flag, payload = workflow.argv
    return (spec, flag, json.dumps({**json.loads(payload), "tag": name}))


class Cli:
    """Runs `python -m durable_exec` in one project directory with one journal."""

    def __init__(self, project: pathlib.Path, journal: pathlib.Path) -> None:
        self.project = project
        env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_EXEC_")}
        env["PYTHONPATH"] = str(ROOT)
        env["LEDGER_JOURNAL"] = str(journal)
        self.env = env

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "durable_exec", *args]

    def run(self, *args: str) -> tuple[int, Any, str]:
        done = subprocess.run(
            self.argv(*args), cwd=self.project, env=self.env, capture_output=True,
            text=True, timeout=300, check=False,
        )
        try:
            data = json.loads(done.stdout) if done.stdout.strip() else None
        except ValueError:
            data = None
        return done.returncode, data, done.stderr

    def killed(
        self,
        delay: float,
        sig: signal.Signals,
        *args: str,
        when: Callable[[], bool] | None = None,
    ) -> int | None:
        """Start a command, send it ``sig`` after ``delay`` s (or once ``when()`` holds).

        Returns:
            Its exit code, or None if it ended before the signal.
        """
        process = subprocess.Popen(
            self.argv(*args), cwd=self.project, env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        try:
            if when is None:
                process.wait(timeout=delay)
            else:
                _wait_until(when, process, limit=120.0)
                if process.poll() is not None:
                    process.communicate()
                    return None
                raise subprocess.TimeoutExpired(args, delay)
        except subprocess.TimeoutExpired:
            process.send_signal(sig)
            try:
                process.communicate(timeout=120)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            return process.returncode
        process.communicate()
        return None


def _wait_until(
    condition: Callable[[], bool], process: subprocess.Popen[str], limit: float
) -> None:
    """Wait (in 10 ms slices of select) until ``condition()`` holds or ``process`` ends."""
    deadline = time.monotonic() + limit
    while not condition() and process.poll() is None and time.monotonic() < deadline:
        select.select([], [], [], 0.01)


def _journal_lines(journal: pathlib.Path, tag: str) -> int:
    try:
        text = journal.read_text()
    except FileNotFoundError:
        return 0
    return text.count(f"|{tag}|")


@dataclasses.dataclass
class Reference:
    """The crash-free run of a workflow, and how long `run` takes before it invokes anything."""

    result: Any
    seconds: float
    startup: float


def _finish(cli: Cli, workflow: Workflow, name: str, counts: collections.Counter[str]) -> Any:
    """Resume (re-running when the kill came before the start) until the execution ends."""
    for _ in range(20):
        code, data, err = cli.run("resume", name, "--json")
        counts["resumes"] += 1
        if code == 2 and data and data.get("error", {}).get("code") == "not_found":
            counts["killed-before-start"] += 1
            code, data, err = cli.run("run", *_argv(workflow, name), "--name", name, "--json")
        assert code in (0, 1, 3), (code, data, err)
        assert not (data and "error" in data), (data, err)
        if code in (0, 1):
            return data
        waiting = data["waiting_for"]
        assert waiting, f"{name}: still running with nothing to wait for (stuck): {data}"
        for item in waiting:
            answer = workflow.answers[item["name"]]
            answered, _, answer_err = cli.run("callback", "succeed", item["callback_id"], answer)
            assert answered == 0, answer_err
    raise AssertionError(f"{name} did not finish in 20 resumes")


def _reference(cli: Cli, workflow: Workflow) -> Reference:
    startup = 10.0
    for attempt in range(2 if FULL else 1):
        detached = f"{workflow.name}-detached-{attempt}"
        start = time.monotonic()
        code, _, err = cli.run("run", *_argv(workflow, detached), "--name", detached, "--detach")
        startup = min(startup, time.monotonic() - start)
        assert code == 3, err
    name = f"{workflow.name}-reference"
    start = time.monotonic()
    code, data, err = cli.run("run", *_argv(workflow, name), "--name", name, "--json")
    seconds = time.monotonic() - start
    if code == 3:
        data = _finish(cli, workflow, name, collections.Counter())
        code = 0
    assert code == 0, err
    return Reference(_comparable(workflow, cli, name, data), seconds, startup)


def _comparable(workflow: Workflow, cli: Cli, name: str, data: dict[str, Any]) -> Any:
    result = data["execution"]["result"]
    if workflow.name == "order_processing":
        tracking = next(op for op in data["operations"] if op["name"] == "tracking")
        assert result["tracking"] == tracking["result"], "the result is not the checkpointed one"
        result = {k: v for k, v in result.items() if k != "tracking"}
    return result


def _check_history(cli: Cli, name: str, data: dict[str, Any]) -> int:
    """One outcome per operation, nothing lost; return the interrupted invocations."""
    code, history, err = cli.run("history", name, "--json")
    assert code == 0, err
    outcomes: collections.Counter[str] = collections.Counter()
    succeeded: set[str] = set()
    interrupted = 0
    for event in history["events"]:
        kind = event["EventType"]
        if kind == "InvocationCompleted":
            error = (event["InvocationCompletedDetails"].get("Error") or {}).get("Payload") or {}
            interrupted += error.get("ErrorType") == "Runtime.ExitError"
            continue
        if kind.startswith("Execution"):
            continue
        details = event.get(f"{kind}Details") or {}
        if "NextAttemptDelaySeconds" in (details.get("RetryDetails") or {}):
            continue  # a retried attempt, not an outcome
        if kind.endswith(_OUTCOMES):
            outcomes[event["Id"]] += 1
            if kind.endswith("Succeeded"):
                succeeded.add(event["Id"])
    duplicated = {op: n for op, n in outcomes.items() if n > 1}
    assert not duplicated, f"{name}: operations with several outcomes: {duplicated}"
    final = {op["id"]: op["status"] for op in data["operations"]}
    lost = {op: final.get(op) for op in succeeded if final.get(op) != "SUCCEEDED"}
    assert not lost, f"{name}: operations that succeeded and were lost: {lost}"
    return interrupted


def _check_journal(journal: pathlib.Path) -> tuple[int, int]:
    """No at-most-once body ran twice for one attempt; return (amo runs, alo runs)."""
    if not journal.exists():
        return 0, 0
    lines = journal.read_text().splitlines()
    runs = collections.Counter(line for line in lines if line.startswith("amo|"))
    twice = {line: n for line, n in runs.items() if n > 1}
    assert not twice, f"at-most-once bodies that ran twice for one attempt: {twice}"
    return sum(runs.values()), sum(1 for line in lines if line.startswith("alo|"))


def _check_store(project: pathlib.Path) -> None:
    store = project / ".durable" / "executions.db"
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def _plan() -> list[tuple[str, signal.Signals, int]]:
    """(workflow, signal, case number): every workflow meets every signal in the full run."""
    names = ["order_processing", "fan_out", "polling", "orchestrator", "approval", "ledger"]
    plan = []
    for index, name in enumerate(names):
        signals = SIGNALS if FULL or name in {"fan_out", "ledger"} else (
            SIGNALS[index % 3],
        )
        plan += [(name, sig, case) for sig in signals for case in range(CASES_PER_SIGNAL)]
    return plan


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The project, the journal and the crash-free references, shared by the module."""
    base = tmp_path_factory.mktemp("crash-campaign")
    project = base / "project"
    project.mkdir(mode=0o700)
    ledger = base / "ledger.py"
    ledger.write_text(LEDGER)
    journal = base / "journal.txt"
    cli = Cli(project, journal)
    workflows = {w.name: w for w in _workflows(ledger)}
    references = {name: _reference(cli, workflow) for name, workflow in workflows.items()}
    return {"cli": cli, "workflows": workflows, "references": references, "journal": journal,
            "project": project}


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("workflow_name", "sig", "case"), _plan(), ids=str)
def test_killed_runs_recover(campaign, figures, workflow_name, sig, case):
    """A run killed at a random moment (and maybe its first resume too) finishes as crash-free."""
    cli: Cli = campaign["cli"]
    workflow: Workflow = campaign["workflows"][workflow_name]
    reference: Reference = campaign["references"][workflow_name]
    rng = random.Random(f"{SEED}-{workflow_name}-{sig.name}-{case}")
    name = f"{workflow_name[:20]}-{sig.name.lower()}-{case}"
    counts: collections.Counter[str] = collections.Counter()
    before = _check_journal(campaign["journal"])[0]

    # Mostly after the interpreter has started (the interesting part), sometimes before.
    startup = reference.startup
    def moment() -> float:
        if rng.random() < 0.15:
            return rng.uniform(0.0, startup)  # while Python starts
        return startup + rng.uniform(0.0, max(0.05, reference.seconds - startup))

    delay = moment()
    when = None
    if workflow_name == "ledger" and rng.random() < 0.7:
        # Inside a body: right after the k-th body of this execution wrote its journal line.
        bodies = json.loads(_argv(workflow, name)[2])
        k = rng.randint(1, bodies["n"] + bodies["m"])
        journal = campaign["journal"]

        def when() -> bool:
            return _journal_lines(journal, name) >= k

    returned = cli.killed(
        delay, sig, "run", *_argv(workflow, name), "--name", name, "--json", when=when
    )
    counts["kills" if returned is not None else "finished-before-the-kill"] += 1
    if returned is not None and rng.random() < 0.3:
        again = cli.killed(moment(), rng.choice(SIGNALS), "resume", name)
        counts["second-kills" if again is not None else "finished-before-the-kill"] += 1

    data = _finish(cli, workflow, name, counts)
    assert data["execution"]["status"] == "SUCCEEDED", data["execution"]
    assert _comparable(workflow, cli, name, data) == reference.result
    interrupted = _check_history(cli, name, data)
    amo_runs, _ = _check_journal(campaign["journal"])
    _check_store(campaign["project"])

    figures.add("cli-crash", "cases")
    figures.add("cli-crash", f"{workflow_name}:{sig.name}")
    figures.add("cli-crash", "interrupted-invocations-retried", interrupted)
    figures.add("cli-crash", "at-most-once-body-runs", max(0, amo_runs - before))
    figures.add("cli-crash", "lost", 0)
    for key, value in counts.items():
        figures.add("cli-crash", key, value)
