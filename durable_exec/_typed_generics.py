"""Generic classes the typed layer converts specially (``BatchResult[T]``), by origin.

The registry lives apart from :mod:`durable_exec._typed` so that a module can
register its class at import time without loading the typed layer, which is
only loaded when a result type is first declared.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["GENERICS", "register_generic"]

GENERICS: dict[Any, Callable[[tuple[Any, ...]], Any]] = {}
"""``origin -> factory`` (the factory returns a ``_typed.Converter``); written at import
time by the registering module, then only read."""


def register_generic(origin: Any, factory: Callable[[tuple[Any, ...]], Any]) -> None:
    """Teach the typed layer a generic class (``BatchResult[T]``) and how to convert it.

    Args:
        origin: The class (``BatchResult``).
        factory: ``(type arguments) -> _typed.Converter``; called for ``origin`` and
            ``origin[...]`` (with ``()`` when unparametrised).
    """
    GENERICS[origin] = factory
