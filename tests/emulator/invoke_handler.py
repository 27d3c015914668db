"""Run one Lambda invocation of a handler in this (fresh) process.

The loopback Invoke endpoint of the conftest starts this script once per
invocation: ``python invoke_handler.py PATH:ATTR FUNCTION_NAME OUTPUT_FILE``
with the event on stdin. The handler's return value is written to
OUTPUT_FILE as JSON. An exception is written there as Lambda's error shape
(``errorMessage``, ``errorType``, ``stackTrace``) with exit status 1. A
process that dies (``os._exit``, a signal) writes nothing; the endpoint
reports that as ``Runtime.ExitError``, as Lambda does.

``PATH`` is a file (``examples/approval.py``) or a module (``examples.approval``).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import pathlib
import sys
import time
import traceback
import uuid
from typing import Any

TIMEOUT_SECONDS = 60.0


class LambdaContext:
    """The attributes of Lambda's context object that handlers read."""

    def __init__(self, function_name: str) -> None:
        bare, _, qualifier = function_name.partition(":")
        self.function_name = bare
        self.function_version = qualifier if qualifier.isdigit() else "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        )
        self.memory_limit_in_mb = 128
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{bare}"
        self.log_stream_name = "local"
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline = time.monotonic() + TIMEOUT_SECONDS

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left in this invocation."""
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load(spec: str) -> Any:
    """Import ``PATH:ATTR`` and return the attribute."""
    path, _, attr = spec.rpartition(":")
    if path.endswith(".py"):
        file = pathlib.Path(path).resolve()
        module_spec = importlib.util.spec_from_file_location(f"_handler_{file.stem}", file)
        assert module_spec is not None
        assert module_spec.loader is not None
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[module_spec.name] = module
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(path)
    return getattr(module, attr)


def main() -> int:
    """Invoke the handler once; see the module docstring."""
    spec, function_name, output_file = sys.argv[1:4]
    event = json.loads(sys.stdin.read() or "null")
    output = pathlib.Path(output_file)
    try:
        handler = load(spec)
        result = handler(event, LambdaContext(function_name))
        output.write_text(json.dumps(result))
    except Exception as exc:
        output.write_text(
            json.dumps(
                {
                    "errorMessage": str(exc),
                    "errorType": type(exc).__name__,
                    "stackTrace": traceback.format_exception(exc),
                }
            )
        )
        traceback.print_exc()
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
