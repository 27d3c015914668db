"""The official testing package's cloud runner: the same tests against a deployed function.

:class:`DurableFunctionCloudTestRunner` invokes a function through the Lambda
API (botocore), then polls ``GetDurableExecution`` until the execution ends and
rebuilds the result from ``GetDurableExecutionHistory``. It runs on real time:
the function runs in AWS (or behind any endpoint that serves the same API).
"""

from __future__ import annotations

import json
from typing import Any, Self

from durable_exec._clock import SYSTEM_CLOCK, Clock
from durable_exec._errors import ValidationError
from durable_exec._wire import ErrorObject
from durable_exec.testing._compat_errors import DurableFunctionsTestError
from durable_exec.testing._compat_result import (
    DurableFunctionTestResult,
    Event,
    GetDurableExecutionHistoryResponse,
)
from durable_exec.testing._compat_runner import callback_id_from_events

__all__ = ["DurableFunctionCloudTestRunner"]

_TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "STOPPED"})


class DurableFunctionCloudTestRunner:
    """Run the same tests against a deployed durable function.

    Args:
        function_name: The function (a qualified name: durable functions are
            invoked by version or alias).
        region: Its region.
        lambda_endpoint: Another endpoint serving the Lambda API (an emulator).
        poll_interval: Seconds between status and history reads.

    Example:
        >>> runner = DurableFunctionCloudTestRunner("orders:live", "eu-west-1")  # doctest: +SKIP
        >>> result = runner.run(input={"order_id": "o-1"}, timeout=120)  # doctest: +SKIP
    """

    def __init__(
        self,
        function_name: str,
        region: str = "us-west-2",
        lambda_endpoint: str | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        if not (isinstance(poll_interval, int | float) and poll_interval > 0):
            raise ValidationError(f"poll_interval must be a positive number, got {poll_interval!r}")
        import botocore.config
        import botocore.session

        self.function_name = function_name
        self.region = region
        self.lambda_endpoint = lambda_endpoint
        self.poll_interval = poll_interval
        self.lambda_client: Any = botocore.session.get_session().create_client(
            "lambda",
            region_name=region,
            endpoint_url=lambda_endpoint,
            config=botocore.config.Config(parameter_validation=False),
        )
        self._clock: Clock = SYSTEM_CLOCK

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.lambda_client.close()

    def run(self, input: Any = None, timeout: int = 60) -> DurableFunctionTestResult:  # noqa: A002
        """Invoke the function (RequestResponse) and wait for its execution to end.

        ``input`` is JSON-encoded as it is (a JSON string becomes a JSON string).

        Raises:
            DurableFunctionsTestError: The invoke failed, or returned no execution ARN.
            TimeoutError: The execution did not end within ``timeout`` seconds.
        """
        response = self._invoke(input, "RequestResponse", 200)
        if "FunctionError" in response:
            self._read(response)
        arn = response.get("DurableExecutionArn")
        if not arn:
            msg = (
                f"{self.function_name} answered without a DurableExecutionArn: is it a "
                "durable function (deployed with a DurableConfig), and is function_name qualified?"
            )
            raise DurableFunctionsTestError(msg)
        return self.wait_for_result(execution_arn=arn, timeout=timeout)

    def run_async(self, input: Any = None, timeout: int = 60) -> str:  # noqa: A002
        """Invoke the function asynchronously (Event); return the execution's ARN.

        ``timeout`` is accepted as the official runner accepts it; the wait happens
        in :meth:`wait_for_result`.

        Raises:
            DurableFunctionsTestError: The invoke failed, or returned no execution ARN.
        """
        response = self._invoke(input, "Event", 202)
        arn = response.get("DurableExecutionArn")
        if not arn:
            msg = (
                f"{self.function_name} answered without a DurableExecutionArn: is it a "
                "durable function (deployed with a DurableConfig), and is function_name qualified?"
            )
            raise DurableFunctionsTestError(msg)
        return str(arn)

    def pause_execution(self, execution_arn: str, timeout: float = 60) -> None:
        """Not available against a deployed function (as in the official runner)."""
        msg = (
            "a deployed execution cannot be paused from a test: use DurableFunctionTestRunner "
            "(local) to pause one"
        )
        raise NotImplementedError(msg)

    def resume_execution(self, execution_arn: str) -> None:
        """Not available against a deployed function (as in the official runner)."""
        msg = (
            "a deployed execution cannot be paused or resumed from a test: use "
            "DurableFunctionTestRunner (local) for that"
        )
        raise NotImplementedError(msg)

    def send_callback_success(self, callback_id: str, result: bytes | None = None) -> None:
        """Complete a callback (``SendDurableExecutionCallbackSuccess``).

        ``result`` is sent as it is; the handler's callback config decides how it
        is read (by default the raw string, not JSON).
        """
        kwargs: dict[str, Any] = {"CallbackId": callback_id}
        if result is not None:
            kwargs["Result"] = result
        self._call("send_durable_execution_callback_success", callback_id, **kwargs)

    def send_callback_failure(self, callback_id: str, error: ErrorObject | None = None) -> None:
        """Fail a callback (``SendDurableExecutionCallbackFailure``)."""
        kwargs: dict[str, Any] = {"CallbackId": callback_id}
        if error is not None:
            kwargs["Error"] = error.to_dict()
        self._call("send_durable_execution_callback_failure", callback_id, **kwargs)

    def send_callback_heartbeat(self, callback_id: str) -> None:
        """Keep a callback alive (``SendDurableExecutionCallbackHeartbeat``)."""
        self._call("send_durable_execution_callback_heartbeat", callback_id, CallbackId=callback_id)

    def wait_for_result(self, execution_arn: str, timeout: int = 60) -> DurableFunctionTestResult:
        """Poll until the execution ends; return its result rebuilt from its history.

        Raises:
            TimeoutError: It did not end within ``timeout`` seconds.
            DurableFunctionsTestError: A status or history read failed.
        """
        execution = self._wait_for_completion(execution_arn, timeout)
        try:
            history = self._history(execution_arn)
        except Exception as error:
            msg = f"could not read the history of {execution_arn}: {error}"
            raise DurableFunctionsTestError(msg) from error
        return DurableFunctionTestResult.from_execution_history(execution, history)

    def wait_for_callback(
        self, execution_arn: str, name: str | None = None, timeout: int = 60
    ) -> str:
        """Poll the history until a callback the test can answer exists; return its id.

        Raises:
            TimeoutError: None within ``timeout`` seconds.
            DurableFunctionsTestError: The named callback has completed, or a read failed.
        """
        start = self._clock.monotonic()
        while self._clock.monotonic() - start < timeout:
            try:
                events = self._history(execution_arn).events
            except Exception as error:
                if _code(error) != "ResourceNotFoundException":
                    msg = f"could not read the history of {execution_arn}: {error}"
                    raise DurableFunctionsTestError(msg) from error
            else:
                callback_id = callback_id_from_events(events, name)
                if callback_id:
                    return callback_id
            self._clock.sleep(self.poll_interval)
        msg = (
            f"no callback{' named ' + repr(name) if name else ''} could be answered within "
            f"{timeout}s: check the handler creates it, or give a longer timeout"
        )
        raise TimeoutError(msg)

    # -- internals ----------------------------------------------------------------

    def _invoke(self, payload: Any, invocation_type: str, expected: int) -> dict[str, Any]:
        try:
            response: dict[str, Any] = self.lambda_client.invoke(
                FunctionName=self.function_name,
                InvocationType=invocation_type,
                Payload=json.dumps(payload),
            )
        except Exception as error:
            msg = (
                f"could not call {self.function_name} (check its name, region and your "
                f"credentials): {error}"
            )
            raise DurableFunctionsTestError(msg) from error
        status = response.get("StatusCode")
        if status != expected:
            body = self._read(response)
            msg = f"{self.function_name} answered HTTP {status}, not {expected}: {body}"
            raise DurableFunctionsTestError(msg)
        return response

    @staticmethod
    def _read(response: dict[str, Any]) -> str:
        stream = response.get("Payload")
        return stream.read().decode("utf-8") if stream is not None else ""

    def _call(self, method: str, callback_id: str, **kwargs: Any) -> None:
        try:
            getattr(self.lambda_client, method)(**kwargs)
        except Exception as error:
            msg = (
                f"{method} for callback {callback_id} of {self.function_name} was refused "
                f"(is the callback still pending?): {error}"
            )
            raise DurableFunctionsTestError(msg) from error

    def _wait_for_completion(self, arn: str, timeout: float) -> dict[str, Any]:
        start = self._clock.monotonic()
        last = None
        while self._clock.monotonic() - start < timeout:
            try:
                execution: dict[str, Any] = self.lambda_client.get_durable_execution(
                    DurableExecutionArn=arn
                )
            except Exception as error:
                if _code(error) != "ResourceNotFoundException":
                    msg = f"could not read the status of {arn}: {error}"
                    raise DurableFunctionsTestError(msg) from error
            else:
                last = execution.get("Status")
                if last in _TERMINAL:
                    return execution
            self._clock.sleep(self.poll_interval)
        msg = (
            f"{arn} was still {last} after {timeout}s: give a longer timeout, or check "
            "what it waits for"
        )
        raise TimeoutError(msg)

    def _history(self, arn: str) -> GetDurableExecutionHistoryResponse:
        events: list[Event] = []
        marker: str | None = None
        while True:
            request: dict[str, Any] = {"DurableExecutionArn": arn, "IncludeExecutionData": True}
            if marker:
                request["Marker"] = marker
            page = self.lambda_client.get_durable_execution_history(**request)
            events.extend(Event.from_dict(event) for event in page.get("Events", []))
            marker = page.get("NextMarker")
            if not marker:
                return GetDurableExecutionHistoryResponse(events)


def _code(error: BaseException) -> str | None:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        code = (response.get("Error") or {}).get("Code")
        return code if isinstance(code, str) else None
    return None
