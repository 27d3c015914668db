"""Run AWS's local durable-execution emulator (``WebRunner``) for the emulator tests.

The conftest starts this script as a subprocess rather than running the emulator in
the pytest process: its threads, logging and warnings then stay out of the tests'
way, and stopping it (SIGTERM) cannot leave anything behind.

It does what ``dex-local-runner start-server`` does, plus three things the
tests need:

* binds port 0 and prints ``PORT <n>`` on stdout once it serves, so there is no
  race for a "free" port;
* fixes the emulator's known history bug (EMULATOR.md §1.7):
  ``Event.from_event_with_id`` drops ``InvocationCompletedDetails``;
* adds the ``x-amzn-ErrorType`` header to its error responses, as Lambda sends
  it. The emulator puts the error code in the body's ``Type`` member only, which
  botocore does not read: every error would reach a client as ``Code: "400"``
  (or 404, 500), so no SDK could tell a stale checkpoint token (retry the
  invocation) from a bad request (fail the execution);
* shortens the back-off before re-invoking after a function error (5 s) to
  ``--invocation-retry-seconds`` to keep the suite fast.

Usage: ``python emulator_server.py --lambda-endpoint URL [--skip-time]
[--function-configs JSON] [--invocation-retry-seconds N]
[--max-invocation-page-bytes N]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import signal
import sys
from typing import Any, NoReturn


def _patch_emulator(invocation_retry_seconds: int) -> None:
    from aws_durable_execution_sdk_python_testing.exceptions import AwsApiException
    from aws_durable_execution_sdk_python_testing.executor import Executor
    from aws_durable_execution_sdk_python_testing.model import Event
    from aws_durable_execution_sdk_python_testing.web.models import HTTPResponse

    def from_event_with_id(cls: type[Event], event: Event, event_id: int) -> Event:
        return dataclasses.replace(event, event_id=event_id)

    Event.from_event_with_id = classmethod(from_event_with_id)  # type: ignore[method-assign,assignment]

    create_error = HTTPResponse.create_error_from_exception

    def create_error_with_code(exception: AwsApiException) -> HTTPResponse:
        response = create_error(exception)
        code = exception.to_dict().get("Type") or type(exception).__name__
        response.headers["x-amzn-ErrorType"] = str(code)
        return response

    HTTPResponse.create_error_from_exception = staticmethod(create_error_with_code)  # type: ignore[method-assign, assignment]
    Executor.RETRY_BACKOFF_SECONDS = invocation_retry_seconds


def _stop(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt


def main() -> int:
    """Serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lambda-endpoint", required=True)
    parser.add_argument("--skip-time", action="store_true")
    parser.add_argument("--function-configs", default="{}")
    parser.add_argument("--invocation-retry-seconds", type=int, default=1)
    parser.add_argument("--invocation-timeout", type=int, default=60)
    parser.add_argument("--max-invocation-page-bytes", type=int, default=None)
    args = parser.parse_args()

    from aws_durable_execution_sdk_python_testing.child_dispatcher import FunctionConfigs
    from aws_durable_execution_sdk_python_testing.runner import WebRunner, WebRunnerConfig
    from aws_durable_execution_sdk_python_testing.web.server import WebServiceConfig

    _patch_emulator(args.invocation_retry_seconds)
    config = WebRunnerConfig(
        web_service=WebServiceConfig(host="127.0.0.1", port=0, log_level=logging.WARNING),
        lambda_endpoint=args.lambda_endpoint,
        local_runner_region="us-east-1",
        skip_time=args.skip_time,
        invocation_timeout_seconds=args.invocation_timeout,
        function_configs=FunctionConfigs.from_value(args.function_configs),
        max_invocation_page_bytes=args.max_invocation_page_bytes,
    )
    signal.signal(signal.SIGTERM, _stop)
    try:
        with WebRunner(config) as runner:
            port = runner._server.server_address[1]  # type: ignore[union-attr]
            sys.stdout.write(f"PORT {port}\n")
            sys.stdout.flush()
            runner.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
