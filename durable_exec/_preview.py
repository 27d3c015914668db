"""Compact previews of large values, shown inline in checkpoints.

A serdes that keeps a value somewhere else (a file, a table) can store a small
preview next to the pointer, so the console and ``GetDurableExecution...``
show the fields that matter without reading the value. :func:`build_preview`
walks a dict, keeps the fields a :class:`PreviewConfig` selects (masking
secrets), and stops adding fields at a byte budget. The preview a given value
and configuration give is the official SDK's, field for field, so a history
reads the same whichever SDK wrote it.

Standard library and the error tree only.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Iterator
from typing import Any

from durable_exec._errors import ValidationError

__all__ = ["FieldMatchMode", "PreviewConfig", "PreviewField", "PreviewMode", "build_preview"]


class PreviewMode(enum.StrEnum):
    """Where field selection starts.

    ``INCLUDE_ALL`` shows every field except the excluded ones;
    ``EXCLUDE_ALL`` shows only the included (and the masked) ones.
    """

    INCLUDE_ALL = "INCLUDE_ALL"
    EXCLUDE_ALL = "EXCLUDE_ALL"


class FieldMatchMode(enum.StrEnum):
    """How a :class:`PreviewField` names fields.

    ``ANYWHERE`` matches a field of that name at any depth (the default);
    ``PATH`` matches one dot-separated path from the root (``"customer.email"``).
    """

    ANYWHERE = "ANYWHERE"
    PATH = "PATH"


@dataclasses.dataclass(frozen=True)
class PreviewField:
    """One field rule of a :class:`PreviewConfig`.

    Attributes:
        name: A field name, or a dot-separated path. A dot is read as a path
            separator wherever it appears, which is why keys holding a dot are
            left out of every preview.
        match: :attr:`FieldMatchMode.ANYWHERE` (default) or :attr:`FieldMatchMode.PATH`.
    """

    name: str
    match: FieldMatchMode = FieldMatchMode.ANYWHERE

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValidationError(
                f"PreviewField.name must be a non-empty string, got {self.name!r}"
            )
        if not isinstance(self.match, FieldMatchMode):
            raise ValidationError(
                f"PreviewField.match must be a FieldMatchMode, got {self.match!r}"
            )

    def matches(self, path: str) -> bool:
        """Whether this rule selects the field at ``path`` (dot-separated)."""
        by_path = self.match is FieldMatchMode.PATH
        return path == self.name if by_path else self.name in path.split(".")


@dataclasses.dataclass(frozen=True)
class PreviewConfig:
    """What :func:`build_preview` shows.

    The rules are weighed in this order: ``exclude`` (the field and all below
    it disappear, masked or not), then ``mask`` (the field appears, as
    ``mask_string``, in either mode), then the mode and ``include``.

    Attributes:
        mode: Start from every field (``INCLUDE_ALL``) or from none (``EXCLUDE_ALL``).
        include: Fields shown in ``EXCLUDE_ALL`` mode.
        exclude: Fields never shown (nor anything under them).
        mask: Fields shown with their value replaced by ``mask_string``.
        mask_string: What a masked value reads (default ``"***"``).
        max_preview_bytes: Budget of the preview as JSON; fields are added in
            document order until the next one would not fit (default 4096).
    """

    mode: PreviewMode
    include: list[PreviewField] = dataclasses.field(default_factory=list)
    exclude: list[PreviewField] = dataclasses.field(default_factory=list)
    mask: list[PreviewField] = dataclasses.field(default_factory=list)
    mask_string: str = "***"
    max_preview_bytes: int = 4096

    def __post_init__(self) -> None:
        if not isinstance(self.mode, PreviewMode):
            raise ValidationError(
                "PreviewConfig.mode must be PreviewMode.INCLUDE_ALL or EXCLUDE_ALL, "
                f"got {self.mode!r}"
            )
        for label in ("include", "exclude", "mask"):
            rules = getattr(self, label)
            if not all(isinstance(rule, PreviewField) for rule in rules):
                raise ValidationError(f"PreviewConfig.{label} must be a list of PreviewField")
        if not isinstance(self.mask_string, str):
            raise ValidationError("PreviewConfig.mask_string must be a string")
        if (
            not isinstance(self.max_preview_bytes, int)
            or isinstance(self.max_preview_bytes, bool)
            or self.max_preview_bytes < 2
        ):
            raise ValidationError(
                "PreviewConfig.max_preview_bytes must be an int of at least 2 (an empty "
                f"JSON object), got {self.max_preview_bytes!r}"
            )


def _any(rules: list[PreviewField], path: str) -> bool:
    return any(rule.matches(path) for rule in rules)


def _fields(node: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    """Yield ``(path, value)`` for the fields directly under ``node``.

    A list adds no path level: the fields of each element are yielded under the
    list's own path. Keys holding a dot are skipped (dots separate path parts).
    """
    if isinstance(node, list):
        for element in node:
            yield from _fields(element, prefix)
    elif isinstance(node, dict):
        for key, item in node.items():
            name = str(key)
            if "." not in name:
                yield (f"{prefix}.{name}" if prefix else name), item


def _select(value: Any, config: PreviewConfig) -> list[tuple[str, Any]]:
    """Return ``(path, shown value)`` for every selected leaf, depth first, in document order."""
    selected: list[tuple[str, Any]] = []
    include_all = config.mode is PreviewMode.INCLUDE_ALL
    # A stack of iterators instead of recursion, so deep nesting cannot exhaust
    # Python's recursion limit.
    stack = [_fields(value, "")]
    while stack:
        entry = next(stack[-1], None)
        if entry is None:
            stack.pop()
            continue
        path, item = entry
        if _any(config.exclude, path):
            continue  # neither the field nor anything below it
        if _any(config.mask, path):
            selected.append((path, config.mask_string))
        elif (include_all or _any(config.include, path)) and not isinstance(item, dict | list):
            selected.append((path, item))
        else:
            # A container, or a field not shown itself: a field below it may be.
            stack.append(_fields(item, path))
    return selected


def build_preview(value: Any, config: PreviewConfig) -> dict[str, Any] | None:
    """Return a small dict showing the fields of ``value`` that ``config`` selects.

    The preview mirrors the value's nesting (``{"customer": {"email": "***"}}``).
    Fields are taken in document order while the preview's JSON stays within
    ``config.max_preview_bytes``; the first field that would overflow the budget
    ends it. Fields of list elements are merged under the list's own key (a
    later element's field replaces an earlier one of the same path). A value
    JSON cannot hold (a ``datetime``, a ``Decimal``) is shown as its ``str()``.

    Args:
        value: The value to summarise; only a ``dict`` has fields.
        config: What to show, mask and leave out.

    Returns:
        The preview, or ``None`` when ``value`` is not a dict or nothing is shown.

    Example:
        >>> build_preview(
        ...     {"id": 7, "card": {"number": "4111", "exp": "12/30"}},
        ...     PreviewConfig(PreviewMode.INCLUDE_ALL, mask=[PreviewField("number")]),
        ... )
        {'id': 7, 'card': {'number': '***', 'exp': '12/30'}}
    """
    if not isinstance(config, PreviewConfig):
        raise TypeError(f"build_preview needs a PreviewConfig, got {type(config).__name__}")
    if not isinstance(value, dict):
        return None
    budget = config.max_preview_bytes - 2  # the enclosing braces
    preview: dict[str, Any] = {}
    for path, selected in _select(value, config):
        shown = selected
        # What the field adds to the JSON: "path":value, (the budget counts the
        # dotted path as one key, as the official SDK does, so previews agree).
        try:
            encoded = json.dumps(shown)
        except (TypeError, ValueError):
            # Not JSON (a datetime, a UUID...): shown as its text, where the
            # official SDK would fail the whole serialisation.
            shown = str(shown)
            encoded = json.dumps(shown)
        cost = len(f'"{path}":{encoded},'.encode())
        if cost > budget:
            break
        budget -= cost
        node = preview
        *parents, leaf = path.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[leaf] = shown
    return preview or None
