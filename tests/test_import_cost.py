"""Importing durable_exec stays cheap: no botocore, tenacity or dataclasses-json on cold start."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_load_heavy_dependencies():
    """botocore, boto3, tenacity and dataclasses_json load only when first needed."""
    code = (
        "import sys, durable_exec, durable_exec.testing\n"
        "heavy = [m for m in ('botocore', 'boto3', 'tenacity', 'dataclasses_json') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""
