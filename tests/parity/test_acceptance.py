"""Acceptance: code written for the official SDK passes on durable_exec after migrating.

``official_suite/`` holds durable functions and their tests written for
``aws-durable-execution-sdk-python`` 3.0.0 and its testing package 1.4.0, as a
user writes them (steps, waits, callbacks, map, parallel, child contexts,
invokes, retries, polling). The suite runs under the official packages; a copy
is migrated with ``durable-exec migrate`` and runs under durable_exec. Both runs
must pass, and each test's recorded history (status, result, error, every
operation with its id, parent, type, subtype, name, status, payload, error and
attempt) must be the same in both, callback ids (issued by each service) aside.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from durable_exec._cli._app import main

SUITE = Path(__file__).parent / "official_suite"
REPO = Path(__file__).resolve().parents[2]
OLD_PACKAGES = re.compile(r"\baws_durable_execution_sdk_python(_testing)?\b")


def _pytest(directory: Path, record: Path, pythonpath: list[Path]) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "PARITY_RECORD_DIR": str(record),
        "PYTHONPATH": os.pathsep.join(str(p) for p in pythonpath),
    }
    return subprocess.run(  # our own interpreter, our own files
        [sys.executable, "-m", "pytest", str(directory)],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _normalised(record: Path) -> dict:
    data = json.loads(record.read_text())
    ids = [op["callback_id"] for op in data["operations"] if op["callback_id"]]
    text = json.dumps(data, sort_keys=True)
    for position, callback_id in enumerate(ids, 1):
        text = text.replace(callback_id, f"<callback {position}>")
    return json.loads(text)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """The suite's run under the official packages, and its migrated copy's under ours."""
    official_records = tmp_path_factory.mktemp("official")
    ours_records = tmp_path_factory.mktemp("ours")
    migrated = tmp_path_factory.mktemp("migrated") / "suite"
    shutil.copytree(SUITE, migrated, ignore=shutil.ignore_patterns("__pycache__"))
    exit_code = main(["migrate", str(migrated)])
    official = _pytest(SUITE, official_records, [SUITE])
    ours = _pytest(migrated, ours_records, [REPO, migrated])
    return {
        "migrate_exit": exit_code,
        "migrated": migrated,
        "official": (official, official_records),
        "ours": (ours, ours_records),
    }


def test_migrate_rewrites_every_import(runs, capsys):
    """After migrating, no file imports the official packages, and a second run changes nothing."""
    assert runs["migrate_exit"] == 0
    for path in runs["migrated"].glob("*.py"):
        assert not OLD_PACKAGES.search(path.read_text()), path.name
    assert main(["migrate", "--check", str(runs["migrated"])]) == 0
    assert "0 of 3 files would change" in capsys.readouterr().out


def test_the_suite_passes_under_the_official_packages(runs):
    """The suite is valid official-SDK code: it passes as written."""
    process, _ = runs["official"]
    assert process.returncode == 0, process.stdout + process.stderr


def test_the_migrated_suite_passes_on_durable_exec(runs):
    """The same tests, imports rewritten, pass on durable_exec."""
    process, _ = runs["ours"]
    assert process.returncode == 0, process.stdout + process.stderr
    assert " passed" in process.stdout


def test_histories_are_identical_operation_for_operation(runs):
    """Each test recorded the same status, result, error and operations under both SDKs."""
    _, official_records = runs["official"]
    _, ours_records = runs["ours"]
    official = sorted(p.name for p in official_records.glob("*.json"))
    assert official == sorted(p.name for p in ours_records.glob("*.json"))
    assert len(official) >= 12
    for name in official:
        assert _normalised(ours_records / name) == _normalised(official_records / name), name
