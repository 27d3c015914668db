"""The README's testing example does what the README says."""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path

from durable_exec.testing import DurableTestRunner

ROOT = Path(__file__).resolve().parents[2]


def _approval():
    spec = importlib.util.spec_from_file_location("_readme_approval", ROOT / "examples/approval.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_on_callback_example_approves():
    """The README's `runner.on_callback("manager-approval", ...)` makes the approval go through."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r'`runner\.on_callback\("manager-approval", result=(.+?)\)`', readme)
    assert match is not None, "the README's on_callback example is gone"
    result = ast.literal_eval(match.group(1))
    runner = DurableTestRunner(_approval().handler).on_callback("manager-approval", result=result)
    outcome = runner.run({"request": "laptop", "manager": "ana@example.com"})
    assert outcome.result == {"request": "laptop", "decision": "approved"}
    assert outcome.get_step("place-order").status.value == "SUCCEEDED"
