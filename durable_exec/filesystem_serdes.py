"""Values kept on a shared file system (the official SDK's ``filesystem_serdes`` module).

:class:`FileSystemSerDes` writes values to a shared mount (EFS, or S3 Files)
and checkpoints a pointer (with an optional inline preview), in ``ALWAYS`` or
``OVERFLOW`` mode. Envelopes and files are the official SDK's, so either SDK
reads what the other wrote.

Example:
    >>> from durable_exec import StepConfig
    >>> from durable_exec.filesystem_serdes import (
    ...     FileSystemSerDes, FileSystemSerDesConfig, FileSystemSerDesMode,
    ... )
    >>> fs = FileSystemSerDes(
    ...     "/mnt/results", FileSystemSerDesConfig(storage_mode=FileSystemSerDesMode.OVERFLOW)
    ... )
    >>> config = StepConfig(serdes=fs)
"""

from typing import Any

from durable_exec._arn import DurableExecutionArn
from durable_exec._fs_serdes import (
    CHECKPOINT_SIZE_LIMIT_BYTES,
    FileSystemPathEncoding,
    FileSystemSerDes,
    FileSystemSerDesConfig,
    FileSystemSerDesMode,
    GeneratePreview,
)
from durable_exec._serde import EXTENDED_SERDES, SerDes, SerDesContext

EXTENDED_TYPES_SERDES: SerDes[Any] = EXTENDED_SERDES
"""The default serdes of the values written to files (extended JSON types)."""

__all__ = [
    "CHECKPOINT_SIZE_LIMIT_BYTES",
    "EXTENDED_TYPES_SERDES",
    "DurableExecutionArn",
    "FileSystemPathEncoding",
    "FileSystemSerDes",
    "FileSystemSerDesConfig",
    "FileSystemSerDesMode",
    "GeneratePreview",
    "SerDes",
    "SerDesContext",
]
