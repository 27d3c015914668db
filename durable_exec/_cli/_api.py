"""The Lambda durable-execution calls the commands make, over any ``lambda`` client.

:class:`DurableApi` wraps either the embedded
:class:`~durable_exec.testing.LocalDurableService` or a real botocore client:
both take the same keyword arguments and return the same shapes, so every
command runs one code path. Errors are translated here, once, into
:class:`~durable_exec._cli._errors.CliError` with a one-line message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from durable_exec._cli._errors import CliError
from durable_exec.testing import StoreError

__all__ = ["DurableApi"]

_MAX_PAGES = 10_000


class DurableApi:
    """Typed, paging, error-translating access to a ``lambda`` client.

    Args:
        client: A botocore ``lambda`` client or a ``LocalDurableService``.
        where: What the client talks to, for messages ("the local store ...",
            "http://127.0.0.1:5050", "AWS in eu-west-1").
    """

    def __init__(self, client: Any, where: str) -> None:
        self.client = client
        self.where = where

    def _call(self, not_found: str, method: Callable[..., Any], **kwargs: Any) -> dict[str, Any]:
        try:
            response = method(**kwargs)
        except StoreError as exc:
            raise CliError(str(exc), kind="store") from exc
        except Exception as exc:
            raise self._translate(exc, not_found) from exc
        return dict(response)

    def _translate(self, exc: Exception, not_found: str) -> Exception:
        response = getattr(exc, "response", None)
        if isinstance(response, dict) and isinstance(response.get("Error"), dict):
            code = response["Error"].get("Code", "")
            message = response["Error"].get("Message") or str(exc)
            if code == "ResourceNotFoundException":
                return CliError(f"{not_found} ({message})", kind="not_found")
            if code == "CallbackTimeoutException":
                return CliError(f"the callback is closed: {message}", kind="callback_closed")
            return CliError(f"{code}: {message}")
        if type(exc).__module__.startswith("botocore"):
            import botocore.exceptions as errors

            if isinstance(
                exc,
                errors.EndpointConnectionError
                | errors.ConnectTimeoutError
                | errors.ConnectionClosedError
                | errors.ReadTimeoutError,
            ):
                return CliError(f"cannot reach {self.where}: {exc}")
            if isinstance(exc, errors.NoCredentialsError):
                return CliError(
                    "no AWS credentials found: configure the default credential chain "
                    "(AWS_PROFILE, environment variables, ~/.aws/credentials, ...)"
                )
            if isinstance(exc, errors.NoRegionError):
                return CliError("no AWS region is configured: pass --region or set AWS_REGION")
            return CliError(f"{type(exc).__name__}: {exc}")
        return exc

    # ---------------------------------------------------------------- reading

    def execution(self, arn: str) -> dict[str, Any]:
        """Return ``GetDurableExecution`` for ``arn`` (with input and result).

        Raises:
            CliError: Unknown execution, or the call failed.
        """
        return self._call(
            f"unknown execution {arn}",
            self.client.get_durable_execution,
            DurableExecutionArn=arn,
            IncludeExecutionData=True,
        )

    def history(self, arn: str) -> list[dict[str, Any]]:
        """Return every history event of ``arn``, oldest first (all pages).

        Raises:
            CliError: Unknown execution, or a call failed.
        """
        events: list[dict[str, Any]] = []
        marker: str | None = None
        for _ in range(_MAX_PAGES):
            kwargs: dict[str, Any] = {"DurableExecutionArn": arn, "IncludeExecutionData": True}
            if marker:
                kwargs["Marker"] = marker
            page = self._call(
                f"unknown execution {arn}", self.client.get_durable_execution_history, **kwargs
            )
            events.extend(page.get("Events") or [])
            marker = page.get("NextMarker")
            if not marker:
                break
        return events

    def executions(
        self, function_name: str, statuses: list[str] | None = None
    ) -> list[dict[str, Any]]:
        """Return every execution of ``function_name`` (all pages), oldest first.

        Raises:
            CliError: A call failed (an unknown function on AWS, for one).
        """
        found: list[dict[str, Any]] = []
        marker: str | None = None
        for _ in range(_MAX_PAGES):
            kwargs: dict[str, Any] = {"FunctionName": function_name}
            if statuses:
                kwargs["Statuses"] = statuses
            if marker:
                kwargs["Marker"] = marker
            page = self._call(
                f"unknown function {function_name}",
                self.client.list_durable_executions_by_function,
                **kwargs,
            )
            found.extend(page.get("DurableExecutions") or [])
            marker = page.get("NextMarker")
            if not marker:
                break
        return found

    # -------------------------------------------------------------- callbacks

    def callback_success(self, callback_id: str, payload: bytes) -> None:
        """Send ``SendDurableExecutionCallbackSuccess``.

        Raises:
            CliError: Unknown callback, already closed, or the call failed.
        """
        self._call(
            f"unknown callback id {callback_id}",
            self.client.send_durable_execution_callback_success,
            CallbackId=callback_id,
            Result=payload,
        )

    def callback_failure(self, callback_id: str, error: dict[str, str]) -> None:
        """Send ``SendDurableExecutionCallbackFailure`` with an ErrorObject.

        Raises:
            CliError: Unknown callback, already closed, or the call failed.
        """
        self._call(
            f"unknown callback id {callback_id}",
            self.client.send_durable_execution_callback_failure,
            CallbackId=callback_id,
            Error=error,
        )

    def callback_heartbeat(self, callback_id: str) -> None:
        """Send ``SendDurableExecutionCallbackHeartbeat``.

        Raises:
            CliError: Unknown callback, already closed, or the call failed.
        """
        self._call(
            f"unknown callback id {callback_id}",
            self.client.send_durable_execution_callback_heartbeat,
            CallbackId=callback_id,
        )
