"""Inline previews of large values (the official SDK's ``preview`` module).

:func:`build_preview` keeps the fields of a dict that a :class:`PreviewConfig`
selects, masks the secret ones and stops at a byte budget. Give it to
:class:`~durable_exec.filesystem_serdes.FileSystemSerDes` (or your own serdes
that stores values elsewhere) so the console shows those fields inline.

Example:
    >>> from durable_exec.preview import PreviewConfig, PreviewField, PreviewMode, build_preview
    >>> config = PreviewConfig(PreviewMode.EXCLUDE_ALL, include=[PreviewField("status")])
    >>> build_preview({"status": "shipped", "items": [1, 2, 3]}, config)
    {'status': 'shipped'}
"""

from durable_exec._preview import (
    FieldMatchMode,
    PreviewConfig,
    PreviewField,
    PreviewMode,
    build_preview,
)

__all__ = ["FieldMatchMode", "PreviewConfig", "PreviewField", "PreviewMode", "build_preview"]
