"""Which serdes stores an operation's result: declared types and return annotations.

The rule, for steps, child contexts, map items and parallel branches:

1. ``config.result_type`` given: a :class:`~durable_exec._typed.TypedSerDes` of that
   type, in front of ``config.serdes`` (or the extended-type serdes);
2. else ``config.serdes`` given: that serdes, untouched (it owns the encoding);
3. else the function's return annotation, when it names something other than
   ``Any``, ``object``, ``None`` or a type variable: a typed serdes of it;
4. else the untyped default, exactly as without this module.

Annotations are read once per function code object (and cached); an annotation
that cannot be resolved at run time (a name imported only under
``TYPE_CHECKING``) counts as no annotation.

The typed layer (:mod:`durable_exec._typed`) is imported on first use: code that
declares no result type never loads it.
"""

from __future__ import annotations

import threading
import types
import typing
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from durable_exec._batch import BatchResult, batch_converter
from durable_exec._config import RESULT_SOURCE
from durable_exec._ids import operation_id
from durable_exec._serde import JSON_SERDES, SerDes, SerDesContext

if TYPE_CHECKING:
    from durable_exec._typed import Converter

__all__ = [
    "RESULT_SOURCE",
    "batch_serdes",
    "declared_type",
    "invoke_payload_serdes",
    "invoke_result_serdes",
    "result_serdes",
]

_UNTYPED: Any = object()  # cache marker: the annotation declares nothing usable
_LOCK = threading.Lock()
_ANNOTATIONS: dict[Any, Any] = {}  # (code, annotation) -> resolved type; guarded by _LOCK


def declared_type(func: Any) -> Any | None:
    """Return the type ``func``'s return annotation declares, or ``None``.

    ``func`` may be a function built by ``@durable_step`` and friends: the
    user's function behind it is read instead.
    """
    source = getattr(func, RESULT_SOURCE, func)
    if type(source) is not types.FunctionType:
        if not isinstance(source, types.MethodType | types.FunctionType):
            return None
        source = getattr(source, "__func__", source)
    annotation = source.__annotations__.get("return")
    if annotation is None:
        return None
    key = (source.__code__, annotation)
    cached = _ANNOTATIONS.get(key)
    if cached is not None:
        return None if cached is _UNTYPED else cached
    resolved, from_closure = _resolve(source, annotation)
    usable = _usable(resolved)
    if not from_closure:  # what the module's names resolve to is the same every call
        with _LOCK:
            _ANNOTATIONS[key] = resolved if usable else _UNTYPED
    return resolved if usable else None


def _resolve(source: types.FunctionType, annotation: Any) -> tuple[Any, bool]:
    """Resolve ``annotation``; also say whether names the function closes over were needed."""
    if not isinstance(annotation, str) and not _has_forward_refs(annotation):
        return annotation, False
    holder = types.SimpleNamespace(__annotations__={"return": annotation})
    try:
        hints = typing.get_type_hints(holder, source.__globals__, {}, include_extras=True)
        return hints.get("return"), False
    except Exception:
        if source.__closure__ is None:
            return None, False
    # A class defined in the enclosing function: resolve with the names it closes over.
    local = {}
    for name, cell in zip(source.__code__.co_freevars, source.__closure__, strict=False):
        try:
            local[name] = cell.cell_contents
        except ValueError:  # an empty cell
            continue
    try:
        hints = typing.get_type_hints(holder, source.__globals__, local, include_extras=True)
    except Exception:
        return None, True
    return hints.get("return"), True


def _has_forward_refs(annotation: Any) -> bool:
    return any(
        isinstance(arg, str | typing.ForwardRef) or _has_forward_refs(arg)
        for arg in typing.get_args(annotation)
    )


def _usable(tp: Any) -> bool:
    """Whether ``tp`` declares something to check (``Any``, ``None``, a TypeVar do not)."""
    if tp is None or tp is Any or tp is object or tp is type(None):
        return False
    if isinstance(tp, typing.TypeVar):
        return False
    from durable_exec._typed import converter_for  # noqa: PLC0415 - loaded on first typed use

    try:
        converter_for(tp)
    except Exception:
        return False
    return True


def _label(kind: str, name: str | None) -> str:
    return f"{kind} {name!r}" if name else f"the {kind}"


def result_serdes(
    serdes: SerDes[Any] | None,
    result_type: Any,
    func: Any,
    *,
    kind: str,
    name: str | None,
) -> SerDes[Any] | None:
    """Return the serdes of a step's or child context's result (see the module docstring).

    Args:
        serdes: ``config.serdes``.
        result_type: ``config.result_type``.
        func: The step or child function (its return annotation may declare the type).
        kind: ``"step"``, ``"child context"``... (for messages).
        name: The operation's name (for messages).
    """
    if result_type is None:
        if serdes is not None:
            return serdes
        result_type = declared_type(func)
        if result_type is None:
            return None
    from durable_exec._typed import TypedSerDes  # noqa: PLC0415 - loaded on first typed use

    return TypedSerDes(result_type, serdes, what=f"the result of {_label(kind, name)}")


def invoke_result_serdes(serdes: SerDes[Any] | None, result_type: Any, name: str | None) -> Any:
    """Return the serdes that reads a chained invoke's result (plain JSON when untyped)."""
    if result_type is None:
        return serdes
    from durable_exec._typed import TypedSerDes  # noqa: PLC0415 - loaded on first typed use

    return TypedSerDes(
        result_type, serdes or JSON_SERDES, what=f"the result of {_label('invoke', name)}"
    )


def invoke_payload_serdes(serdes: SerDes[Any] | None, payload: Any) -> Any:
    """Return the serdes of an invoke payload: a dataclass or pydantic model goes as JSON."""
    if (
        serdes is not None
        or payload is None
        or isinstance(payload, str | int | float | list | dict)
    ):
        return serdes
    payload_type = type(payload)
    if not _is_model(payload_type):
        return serdes
    from durable_exec._typed import TypedSerDes  # noqa: PLC0415 - loaded on first typed use

    return TypedSerDes(payload_type, JSON_SERDES, what="the invoke payload")


def _is_model(cls: type) -> bool:
    import dataclasses  # noqa: PLC0415 - already loaded; keeps the fast path short

    return dataclasses.is_dataclass(cls) or hasattr(cls, "model_dump")


# -- map and parallel ------------------------------------------------------------


class _ItemSerDes(SerDes[Any]):
    """Each branch's result, typed by its own declared type (found by operation id)."""

    __slots__ = ("_by_id",)

    def __init__(self, by_id: dict[str, SerDes[Any]], fallback: SerDes[Any] | None) -> None:
        self._by_id = by_id
        self._fallback = fallback

    def _for(self, serdes_context: SerDesContext) -> SerDes[Any]:
        from durable_exec._serde import EXTENDED_SERDES  # noqa: PLC0415

        return self._by_id.get(serdes_context.operation_id) or self._fallback or EXTENDED_SERDES

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str | None:
        """Store ``value`` with its branch's serdes."""
        return self._for(serdes_context).serialize(value, serdes_context)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        """Read ``data`` with its branch's serdes."""
        return self._for(serdes_context).deserialize(data, serdes_context)


def batch_serdes(
    *,
    batch_id: str,
    item_types: Sequence[Any | None],
    serdes: SerDes[Any] | None,
    item_serdes: SerDes[Any] | None,
    name: str | None,
    kind: str,
) -> tuple[SerDes[Any] | None, SerDes[Any] | None]:
    """Return ``(batch serdes, item serdes)`` for a map or parallel whose items are typed.

    Args:
        batch_id: The batch's operation id (branch ``i`` is ``operation_id(batch_id, i)``).
        item_types: The declared type of each branch (one entry: all of them); ``None``
            where a branch declares nothing.
        serdes: ``config.serdes`` (the whole result).
        item_serdes: ``config.item_serdes``.
        name: The batch's name (for messages).
        kind: ``"map"`` or ``"parallel"``.
    """
    if all(t is None for t in item_types):
        return serdes, item_serdes
    from durable_exec._typed import TypedSerDes, converter_for  # noqa: PLC0415

    item_base = item_serdes or serdes
    label = _label(kind, name)
    converters: list[Converter | None] = [
        converter_for(t) if t is not None else None for t in item_types
    ]
    if len(item_types) == 1:
        assert item_types[0] is not None
        item = TypedSerDes(
            item_types[0], item_base, what=f"an item of {label}", converter=converters[0]
        )
        per_item: SerDes[Any] = item
    else:
        by_id: dict[str, SerDes[Any]] = {
            operation_id(batch_id, index): TypedSerDes(
                t, item_base, what=f"branch {index} of {label}", converter=converters[index]
            )
            for index, t in enumerate(item_types)
            if t is not None
        }
        per_item = _ItemSerDes(by_id, item_base)
    names = ", ".join(c.name if c is not None else "Any" for c in converters)
    whole = TypedSerDes(
        BatchResult,
        serdes,
        what=f"the result of {label}",
        converter=batch_converter(converters, f"BatchResult[{names}]"),
    )
    return whole, per_item
