"""Run the real ``durable-exec`` entry point in a subprocess, in a scratch directory."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]


@dataclasses.dataclass
class Result:
    """What one command printed, and its exit code."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Result]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """The store file every command of a test shares."""
    return tmp_path / "state" / "executions.db"


@pytest.fixture
def cli(tmp_path: Path, store: Path) -> Cli:
    """Run ``python -m durable_exec ARGS... --store STORE`` with cwd = tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DURABLE_EXEC_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    env["AWS_EC2_METADATA_DISABLED"] = "true"

    def run(
        *args: str,
        use_store: bool = True,
        extra_env: dict[str, str] | None = None,
        cwd: Path | None = None,
        stdin: str | None = None,
    ) -> Result:
        argv = [sys.executable, "-m", "durable_exec", *args]
        if use_store:
            argv += ["--store", str(store)]
        done = subprocess.run(
            argv,
            cwd=cwd or tmp_path,
            env={**env, **(extra_env or {})},
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def failing_workflow(tmp_path: Path) -> Path:
    """A handler whose step fails for good (no retries)."""
    path = tmp_path / "failing.py"
    path.write_text(
        "from durable_exec import DurableContext, RetryPresets, StepConfig, durable_execution\n"
        "\n"
        "def charge(_):\n"
        "    raise ValueError('card declined')\n"
        "\n"
        "@durable_execution\n"
        "def handler(event, context: DurableContext):\n"
        "    return context.step(charge, name='charge',\n"
        "                        config=StepConfig(retry_strategy=RetryPresets.none()))\n"
    )
    return path
