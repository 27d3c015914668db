"""FileSystemSerDes: values kept as files on a shared mount, checkpoints hold a pointer.

A checkpoint stores at most 256 KiB per operation. With an Amazon S3 Files or
Amazon EFS mount attached to the function, this serdes writes values there and
checkpoints a small JSON envelope instead:

* ``{"file": "<path>"}``: the value is in that file (``ALWAYS`` mode, or an
  overflow);
* ``{"file": "<path>", "preview": {...}}``: the same, with an inline preview
  (see ``durable_exec.preview``) that the console shows;
* ``{"data": "<serialised value>"}``: the value inline (``OVERFLOW`` mode, when
  it fits).

The envelope, the directory layout and the file contents are the official
SDK's (``aws_durable_execution_sdk_python.filesystem_serdes``), so either SDK
reads what the other wrote. Files are written atomically: a temporary file in
the target directory, flushed and fsynced, then renamed over the final name,
so a reader never sees half a value, even when a retried attempt rewrites it.

Lambda's ``/tmp`` will not do: every execution environment has a ``/tmp`` of
its own, and the environment that replays an operation is often not the one
that wrote its file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import errno
import hashlib
import json
import os
import secrets
from typing import Any, Protocol
from urllib.parse import quote

from durable_exec._arn import DurableExecutionArn
from durable_exec._errors import RetryableSerDesError, SerDesError, ValidationError
from durable_exec._serde import EXTENDED_SERDES, SerDes, SerDesContext

__all__ = [
    "CHECKPOINT_SIZE_LIMIT_BYTES",
    "FileSystemPathEncoding",
    "FileSystemSerDes",
    "FileSystemSerDesConfig",
    "FileSystemSerDesMode",
    "GeneratePreview",
]

CHECKPOINT_SIZE_LIMIT_BYTES = 256 * 1024
"""Payload size (bytes) above which a checkpoint is too large to store inline."""

_OVERFLOW_AT = CHECKPOINT_SIZE_LIMIT_BYTES - 1024  # room for the rest of the update


class FileSystemSerDesMode(enum.StrEnum):
    """When :class:`FileSystemSerDes` writes a file.

    ``ALWAYS`` (the default) files every value and checkpoints the pointer,
    so checkpoint sizes do not depend on the values. ``OVERFLOW`` checkpoints a
    value inline and files it only when its envelope would pass about 255 KiB.
    """

    ALWAYS = "ALWAYS"
    OVERFLOW = "OVERFLOW"


class FileSystemPathEncoding(enum.StrEnum):
    """How the execution and the operation become a directory and a file name.

    ``URI`` (the default) lays files out as
    ``<base>/<function>/<execution name>/<invocation id>/<operation id>.json``,
    the operation id percent-encoded, so a person can find them; an ARN that
    does not parse becomes a single percent-encoded directory. Names grow with
    the ids, and most file systems refuse one over 255 bytes. ``HASH`` lays
    them out as ``<base>/<sha256(arn)>/<sha256(operation id)>.json``: 64 hex
    characters per name, whatever the ids hold.
    """

    URI = "URI"
    HASH = "HASH"


class GeneratePreview(Protocol):
    """Returns the preview stored next to a file pointer (or ``None`` for none)."""

    def __call__(self, value: Any) -> dict[str, Any] | None:
        """Summarise ``value``."""
        ...


@dataclasses.dataclass(frozen=True)
class FileSystemSerDesConfig:
    """Options of :class:`FileSystemSerDes`.

    Attributes:
        storage_mode: ``ALWAYS`` (default) or ``OVERFLOW``.
        path_encoding: ``URI`` (default) or ``HASH``.
        generate_preview: Called with the value when it goes to a file; a
            non-empty dict it returns is stored inline as ``"preview"``. For
            example ``lambda v: build_preview(v, PreviewConfig(...))``.
        serdes: How values are written into the files (and inline); the
            extended-type serdes by default.
    """

    storage_mode: FileSystemSerDesMode = FileSystemSerDesMode.ALWAYS
    path_encoding: FileSystemPathEncoding = FileSystemPathEncoding.URI
    generate_preview: GeneratePreview | None = None
    serdes: SerDes[Any] = EXTENDED_SERDES

    def __post_init__(self) -> None:
        if not isinstance(self.storage_mode, FileSystemSerDesMode):
            raise ValidationError(
                "FileSystemSerDesConfig.storage_mode must be FileSystemSerDesMode.ALWAYS or "
                f"OVERFLOW, got {self.storage_mode!r}"
            )
        if not isinstance(self.path_encoding, FileSystemPathEncoding):
            raise ValidationError(
                "FileSystemSerDesConfig.path_encoding must be FileSystemPathEncoding.URI or "
                f"HASH, got {self.path_encoding!r}"
            )
        if self.generate_preview is not None and not callable(self.generate_preview):
            raise ValidationError(
                "FileSystemSerDesConfig.generate_preview must be callable or None"
            )
        if not (callable(getattr(self.serdes, "serialize", None))) or not callable(
            getattr(self.serdes, "deserialize", None)
        ):
            raise ValidationError(
                "FileSystemSerDesConfig.serdes must be a SerDes (serialize/deserialize), "
                f"got {self.serdes!r}"
            )


def _path_name(text: str, encoding: FileSystemPathEncoding) -> str:
    """One directory or file name for ``text``: %-escaped (URI) or its SHA-256 in hex (HASH)."""
    if encoding is FileSystemPathEncoding.URI:
        return quote(text, safe="")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class FileSystemSerDes(SerDes[Any]):
    """Keeps values in files on a durable shared file system; checkpoints a pointer.

    Use it as the ``serdes`` of a step, child context, map or parallel whose
    results are large::

        fs = FileSystemSerDes("/mnt/results")
        report = context.step(build_report, config=StepConfig(serdes=fs))

    On replay the pointer is read back from the checkpoint and the value from
    its file. The file must still be there: a missing or unreadable file fails
    the operation with a :class:`~durable_exec.SerDesError` naming the path and
    the operation. Files are never deleted by the SDK.

    Args:
        base_path: The mount point (an S3 Files or EFS mount shared by every
            execution environment of the function).
        config: Storage mode, path encoding, preview, inner serdes.

    Raises:
        ValidationError: ``base_path`` is empty or ``config`` is not a config.
    """

    def __init__(self, base_path: str, config: FileSystemSerDesConfig | None = None) -> None:
        if not isinstance(base_path, str | os.PathLike) or not os.fspath(base_path):
            raise ValidationError(f"FileSystemSerDes needs a base path, got {base_path!r}")
        if config is not None and not isinstance(config, FileSystemSerDesConfig):
            raise ValidationError(
                f"config must be a FileSystemSerDesConfig, got {type(config).__name__}"
            )
        self._base_path = os.fspath(base_path)
        self._config = config or FileSystemSerDesConfig()

    @property
    def base_path(self) -> str:
        """The directory files are written under."""
        return self._base_path

    @property
    def config(self) -> FileSystemSerDesConfig:
        """The options in effect."""
        return self._config

    def path_for(self, serdes_context: SerDesContext) -> str:
        """Return the file an operation's value is written to."""
        encoding = self._config.path_encoding
        arn = serdes_context.durable_execution_arn
        parts = None
        if encoding is FileSystemPathEncoding.URI:
            parts = DurableExecutionArn.from_arn(arn)
        names = (
            [parts.function_name, parts.execution_name, parts.invocation_id]
            if parts is not None
            else [_path_name(arn, encoding)]
        )
        # The ARN parts hold no '/', and everything else is percent-encoded or hashed;
        # only a '.' or '..' part could still step outside the base directory.
        if any(name in (".", "..") for name in names):
            raise SerDesError(
                f"FileSystemSerDes: the execution ARN {arn!r} has a '.' or '..' part, which "
                "would leave the base directory; use FileSystemPathEncoding.HASH"
            )
        file_name = f"{_path_name(serdes_context.operation_id, encoding)}.json"
        return os.path.join(self._base_path, *names, file_name)

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str | None:
        """Write ``value`` (to a file, or inline in ``OVERFLOW`` mode) and return the envelope.

        Nothing is written when the inner serdes stores nothing (returns ``None``).

        Raises:
            RetryableSerDesError: The file could not be written (the invocation
                is retried rather than the operation failed).
            SerDesError: The path can never be written (a name too long for the
                file system, a NUL character, a '.' or '..' ARN part).
        """
        config = self._config
        text = config.serdes.serialize(value, serdes_context)
        if text is None:
            return None
        if config.storage_mode is FileSystemSerDesMode.OVERFLOW:
            inline = json.dumps({"data": text})
            if len(inline.encode()) <= _OVERFLOW_AT:
                return inline
        path = self.path_for(serdes_context)
        _write_atomically(path, text, serdes_context.operation_id)
        envelope: dict[str, Any] = {"file": path}
        if config.generate_preview is not None:
            preview = config.generate_preview(value)
            if preview:
                envelope["preview"] = preview
        return json.dumps(envelope)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        """Return the value an envelope points to (or holds inline).

        Raises:
            SerDesError: ``data`` is not an envelope, or the file is missing or
                unreadable (the message names the path and the operation).
        """
        op_id = serdes_context.operation_id
        try:
            envelope = json.loads(data)
        except (TypeError, ValueError) as exc:
            raise SerDesError(
                f"FileSystemSerDes: the checkpoint of operation {op_id} is not a file-system "
                f"envelope ({exc}); was it written with another serdes?"
            ) from exc
        if isinstance(envelope, dict) and isinstance(envelope.get("file"), str):
            path = envelope["file"]
            text = _read(path, op_id)
            return self._config.serdes.deserialize(text, serdes_context)
        if isinstance(envelope, dict) and isinstance(envelope.get("data"), str):
            return self._config.serdes.deserialize(envelope["data"], serdes_context)
        raise SerDesError(
            f'FileSystemSerDes: the checkpoint of operation {op_id} holds neither "file" nor '
            '"data"; was it written with another serdes?'
        )

    def __repr__(self) -> str:
        return (
            f"FileSystemSerDes({self._base_path!r}, {self._config.storage_mode.value}, "
            f"{self._config.path_encoding.value})"
        )


def _read(path: str, op_id: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError as exc:
        raise SerDesError(
            f"FileSystemSerDes: operation {op_id} stored its value in {path}, which does not "
            "exist. Is the same file system mounted at the same path in every execution "
            "environment (not Lambda's /tmp), and was the file kept?"
        ) from exc
    except (OSError, ValueError) as exc:  # ValueError: undecodable text, a NUL in the path
        raise SerDesError(
            f"FileSystemSerDes: cannot read {path}, where operation {op_id} stored its value: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def _write_atomically(path: str, text: str, op_id: str) -> None:
    """Write ``text`` to ``path`` so that a reader sees the old file or the whole new one."""
    directory = os.path.dirname(path)
    temp = os.path.join(directory, f".{os.path.basename(path)[:200]}.{secrets.token_hex(6)}.tmp")
    try:
        os.makedirs(directory, exist_ok=True)
        # os.open with 0o666 lets the process umask decide the mode, as open() would.
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        _sync_directory(directory)
    except ValueError as exc:  # a NUL in the path: no retry can help
        raise SerDesError(
            f"FileSystemSerDes: cannot write {path!r} for operation {op_id}: {exc}"
        ) from exc
    except OSError as exc:
        if exc.errno == errno.ENAMETOOLONG:
            raise SerDesError(
                f"FileSystemSerDes: cannot write {path!r} for operation {op_id}: a name is longer "
                "than the file system allows; use FileSystemPathEncoding.HASH"
            ) from exc
        raise RetryableSerDesError(
            f"FileSystemSerDes: cannot write {path} for operation {op_id}: "
            f"{type(exc).__name__}: {exc}. The invocation will be retried."
        ) from exc


def _sync_directory(directory: str) -> None:
    """Make the rename durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)
