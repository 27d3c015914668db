"""Keep the HTTP libraries' DEBUG logs, which carry tokens and ids, out of the logs.

At DEBUG, ``urllib3.connectionpool`` logs each request line, and the
checkpoint token travels in the query string of ``GetDurableExecutionState``;
``botocore.endpoint``, ``botocore.auth`` and ``botocore.parsers`` log request
and response bodies with checkpoint tokens and callback ids. The SDK's own
loggers never do. :func:`quiet_transport_logs` caps those libraries at INFO.
"""

from __future__ import annotations

import logging
from typing import Final

__all__ = ["TRANSPORT_LOGGERS", "quiet_transport_logs"]

TRANSPORT_LOGGERS: Final = ("botocore", "urllib3", "s3transfer")
"""The logger hierarchies that log request lines and bodies at DEBUG."""


def quiet_transport_logs(level: int = logging.INFO) -> None:
    """Stop botocore and urllib3 from logging at DEBUG, where they log tokens and ids.

    Call it once, e.g. where logging is configured:
    ``durable_exec.quiet_transport_logs()``. Their INFO and WARNING records
    (retries, connection problems) still come through.

    Args:
        level: The lowest level those loggers may emit (INFO by default).
    """
    for name in TRANSPORT_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < level:
            logger.setLevel(level)
