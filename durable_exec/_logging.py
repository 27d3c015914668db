"""The replay-aware logger behind ``context.logger`` and ``step_context.logger``.

Each record gets ``extra`` fields naming where it came from (``executionArn``,
``operationId``, ``operationName``, ``parentId``, ``attempt``; camelCase as in
the official SDK, ``operationName`` because ``name`` is reserved by
``logging``). While its context is replaying, the logger drops records: they
were written when that code first ran.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Protocol

__all__ = ["DurableLogger", "LoggerInterface"]


class LoggerInterface(Protocol):
    """Anything with the standard logging methods (stdlib, Powertools, structlog adapters)."""

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> Any:
        """Log at DEBUG."""
        ...

    def info(self, msg: object, *args: Any, **kwargs: Any) -> Any:
        """Log at INFO."""
        ...

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> Any:
        """Log at WARNING."""
        ...

    def error(self, msg: object, *args: Any, **kwargs: Any) -> Any:
        """Log at ERROR."""
        ...

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> Any:
        """Log at ERROR with the current exception."""
        ...


DEFAULT_LOGGER: LoggerInterface = logging.getLogger("durable_exec.user")

_OWN_FRAMES = 2  # DurableLogger.<level>() and DurableLogger._log()
_STACKLEVEL_DEFAULTS: dict[tuple[type, str], int | None] = {}


def _stacklevel_default(logger: Any, method: str, bound: Any) -> int | None:
    """The ``stacklevel`` ``logger.<method>`` uses by default, or None if it takes none.

    The standard library's loggers and adapters take it (default 1); another logger
    takes it when its method names the parameter (Powertools' defaults to 2, to skip
    its own frame). The answer is cached per class and method.
    """
    if isinstance(logger, logging.Logger | logging.LoggerAdapter):
        return 1
    key = (type(logger), method)
    if key not in _STACKLEVEL_DEFAULTS:
        import inspect  # noqa: PLC0415 - only for loggers outside the standard library

        try:
            parameter = inspect.signature(bound).parameters.get("stacklevel")
        except (TypeError, ValueError):
            parameter = None
        default: int | None = None
        if parameter is not None:
            default = parameter.default if isinstance(parameter.default, int) else 1
        _STACKLEVEL_DEFAULTS[key] = default
    return _STACKLEVEL_DEFAULTS[key]


def _never_replaying() -> bool:
    return False


class DurableLogger:
    """Adds execution context to each record and mutes it during replay.

    ``context.logger`` and ``step_context.logger`` are built by the SDK; build one
    yourself to get the same behaviour around a logger of yours.

    Args:
        logger: The logger records go to.
        default_extra: ``extra`` fields added to every record (``None`` values are
            left out); a record's own ``extra`` wins over them.
        is_replaying: Returns whether the owning context is replaying right now
            (default: never, so every record is written).

    Example:
        >>> import logging
        >>> log = DurableLogger(logging.getLogger("orders"), {"orderId": "o-1"})
        >>> log.get_logger().name
        'orders'
    """

    __slots__ = ("_fields", "_is_replaying", "_logger")

    def __init__(
        self,
        logger: LoggerInterface,
        default_extra: Mapping[str, Any] | None = None,
        is_replaying: Callable[[], bool] | None = None,
    ) -> None:
        self._logger = logger
        self._fields = {k: v for k, v in (default_extra or {}).items() if v is not None}
        self._is_replaying = is_replaying or _never_replaying

    @property
    def logger(self) -> LoggerInterface:
        """The underlying logger."""
        return self._logger

    def get_logger(self) -> LoggerInterface:
        """Return the underlying logger (the one records go to)."""
        return self._logger

    def with_logger(self, logger: LoggerInterface) -> DurableLogger:
        """Return this logger writing to ``logger`` instead."""
        return DurableLogger(logger, self._fields, self._is_replaying)

    def with_is_replaying(self, is_replaying: Callable[[], bool]) -> DurableLogger:
        """Return this logger muted whenever ``is_replaying()`` says so, instead of when it was.

        The destination and the ``extra`` fields are kept.
        """
        return DurableLogger(self._logger, self._fields, is_replaying)

    def with_fields(
        self, is_replaying: Callable[[], bool] | None = None, **fields: Any
    ) -> DurableLogger:
        """Return a logger with more ``extra`` fields (and optionally another replay test)."""
        merged = {**self._fields, **fields}
        return DurableLogger(self._logger, merged, is_replaying or self._is_replaying)

    def _log(self, method: str, msg: object, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if self._is_replaying():
            return
        extra = kwargs.get("extra")
        kwargs["extra"] = {**self._fields, **extra} if extra else dict(self._fields)
        target = getattr(self._logger, method)
        default = _stacklevel_default(self._logger, method, target)
        if default is not None:
            # Skip this method and the public one that called it, so that the record's
            # pathname, lineno and funcName are the caller's.
            kwargs["stacklevel"] = kwargs.get("stacklevel", default) + _OWN_FRAMES
        target(msg, *args, **kwargs)

    def debug(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log at DEBUG unless replaying."""
        self._log("debug", msg, args, kwargs)

    def info(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log at INFO unless replaying."""
        self._log("info", msg, args, kwargs)

    def warning(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log at WARNING unless replaying."""
        self._log("warning", msg, args, kwargs)

    def error(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log at ERROR unless replaying."""
        self._log("error", msg, args, kwargs)

    def exception(self, msg: object, *args: Any, **kwargs: Any) -> None:
        """Log at ERROR with the current exception, unless replaying."""
        self._log("exception", msg, args, kwargs)
