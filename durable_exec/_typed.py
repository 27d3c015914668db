"""Typed payloads: results of a declared type, stored as JSON-friendly data.

A :class:`TypedSerDes` sits in front of a base serdes (the extended-type serdes
by default). ``serialize`` turns a value of the declared type into plain data
(dicts, lists, strings, numbers, and the scalars the base stores natively),
checking it against the type on the way; ``deserialize`` checks the stored data
against the type and rebuilds the value. What round-trips:

* dataclasses, field by field from their type hints. A dataclass carrying
  dataclasses-json configuration (``@dataclass_json(letter_case=...)``, a
  ``dataclass_json_config``, field ``config(...)`` metadata) is built and taken
  apart by dataclasses-json, so its key names, field encoders and decoders and
  ``Undefined`` handling apply; dataclasses-json is imported then, never before.
  (It re-reads type hints on every call, ~20x slower than building a plain
  dataclass: ``python -m benchmarks.typed``);
* pydantic v2 models (``model_dump(mode="json")`` / ``model_validate``), when the
  application uses pydantic; this module never imports it;
* enums (by value), ``datetime``, ``date``, ``Decimal``, ``UUID``, ``bytes``;
* ``list``, ``tuple``, ``set``, ``frozenset``, ``dict`` (keys ``str``, ``int``,
  enum or ``UUID``), ``Optional``, ``Union`` and ``Literal`` of all of these;
* any other class as it is (the base serdes stores it; the type is checked).

With the default base, a dataclass is stored as the dict of its fields in the
official SDK's extended-type envelope, so untyped code (or the official SDK)
reads a plain ``dict``; ``datetime``, ``Decimal``, ``UUID`` and tuples keep their
envelope tags, so annotating a function that returns only such values changes
nothing in what is stored.

Stored data that does not fit the type raises :class:`SerDesError` naming the
operation, the type and where in the value it stopped fitting, never the value.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import decimal
import enum
import sys
import threading
import types
import typing
import uuid
from collections.abc import Callable, Mapping, MutableMapping, MutableSequence, MutableSet, Sequence
from collections.abc import Set as AbstractSet
from typing import Any

from durable_exec._errors import SerDesError, ValidationError
from durable_exec._serde import (
    EXTENDED_SERDES,
    JSON_SERDES,
    PASS_THROUGH_SERDES,
    ExtendedTypeSerDes,
    SerDes,
    SerDesContext,
)
from durable_exec._typed_generics import GENERICS as _GENERICS
from durable_exec._typed_generics import register_generic

__all__ = [
    "Converter",
    "TypeMismatchError",
    "TypedSerDes",
    "callback_serdes",
    "converter_for",
    "register_generic",
    "type_name",
]

_NONE_TYPE = type(None)
_NATIVE = False  # dump for the extended-type serdes: keep datetime, Decimal, tuples...
_AS_JSON = True  # dump for any other serdes: everything as JSON values


class TypeMismatchError(Exception):
    """A value does not fit its declared type; ``path`` says where (innermost last)."""

    def __init__(self, expected: str, got: str) -> None:
        super().__init__(expected)
        self.expected = expected
        self.got = got
        self.path: list[str] = []

    def describe(self) -> str:
        """Where and how it does not fit, e.g. ``at .lines[2].qty: str where int is declared``."""
        where = "".join(reversed(self.path))
        if not where:
            return f"it is {_article(self.got)} where {self.expected} is declared"
        return f"at {where} it is {_article(self.got)} where {self.expected} is declared"


def _article(kind: str) -> str:
    return kind if " " in kind else f"a {kind}"


def _kind(value: Any) -> str:
    return type(value).__name__


@dataclasses.dataclass(slots=True)
class Converter:
    """How values of one declared type are taken apart and rebuilt.

    Attributes:
        name: The type, as messages show it.
        dump: ``(value, json_mode) -> data``; raises :class:`TypeMismatchError`.
        load: ``(data) -> value``; raises :class:`TypeMismatchError`.
        exact: Whether stored data is already in this type's stored form (picks
            a ``Union`` arm before any arm that would convert).
    """

    name: str
    dump: Callable[[Any, bool], Any]
    load: Callable[[Any], Any]
    exact: Callable[[Any], bool]


def _identity_dump(value: Any, _json_mode: bool) -> Any:
    return value


def _identity(value: Any) -> Any:
    return value


def _always(_value: Any) -> bool:
    return True


_ANY = Converter("Any", _identity_dump, _identity, _always)


def type_name(tp: Any) -> str:
    """Return ``tp`` as messages show it (``Order``, ``list[Order]``, ``Order | None``)."""
    if tp is Any:
        return "Any"
    if tp is None or tp is _NONE_TYPE:
        return "None"
    origin = typing.get_origin(tp)
    if origin is not None:
        args = typing.get_args(tp)
        if origin is typing.Union or origin is types.UnionType:
            return " | ".join(type_name(a) for a in args)
        if origin is typing.Literal:
            return f"Literal[{', '.join(repr(a) for a in args)}]"
        if origin is typing.Annotated:
            return type_name(args[0])
        head = getattr(origin, "__qualname__", None) or str(origin)
        return f"{head}[{', '.join('...' if a is Ellipsis else type_name(a) for a in args)}]"
    if isinstance(tp, type):
        return tp.__qualname__
    return str(tp)


# -- plans --------------------------------------------------------------------

_LOCK = threading.Lock()
_CACHE: dict[Any, Converter] = {}  # guarded by _LOCK (writes); reads are plain dict gets


def converter_for(tp: Any) -> Converter:
    """Return the (cached) converter of the declared type ``tp``.

    Raises:
        ValidationError: ``tp`` is not something a result can be declared as
            (a callable type, a protocol, an unresolvable forward reference).
    """
    try:
        cached = _CACHE.get(tp)
    except TypeError:  # an unhashable annotation: compile every time
        return _compile(tp, {})
    if cached is not None:
        return cached
    converter = _compile(tp, {})
    with _LOCK:
        _CACHE.setdefault(tp, converter)
    return converter


def _compile(tp: Any, building: dict[Any, Converter]) -> Converter:
    """Build the converter of ``tp``; ``building`` breaks cycles of recursive dataclasses."""
    if tp is Any or tp is object or isinstance(tp, typing.TypeVar):
        return _ANY
    if tp is None or tp is _NONE_TYPE:
        return _NONE
    if isinstance(tp, str | typing.ForwardRef):
        raise ValidationError(
            f"the type {tp!r} is a forward reference that could not be resolved; "
            "pass the class itself as result_type"
        )
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Annotated:
        return _compile(args[0], building)
    if isinstance(tp, typing.NewType):
        return _compile(tp.__supertype__, building)
    if origin is typing.Union or origin is types.UnionType:
        return _union(tp, [_compile(a, building) for a in args])
    if origin is typing.Literal:
        return _literal(tp, args)
    key_origin = origin if origin is not None else tp
    factory = _GENERICS.get(key_origin)
    if factory is not None:
        converter: Converter = factory(args)
        return converter
    if origin is not None:
        return _generic(tp, origin, args, building)
    if not isinstance(tp, type):
        raise ValidationError(
            f"{tp!r} cannot be a result type: give a class, or a list/dict/tuple/Optional "
            "of classes"
        )
    scalar = _SCALARS.get(tp)
    if scalar is not None:
        return scalar
    if issubclass(tp, enum.Enum):
        return _enum(tp)
    if _is_pydantic_model(tp):
        return _pydantic(tp)
    if dataclasses.is_dataclass(tp):
        return _dataclass(tp, {}, building)
    if tp in (list, tuple, set, frozenset, dict) or tp in _ABSTRACT:
        return _generic(tp, tp, (), building)
    if tp is datetime.datetime:
        return _DATETIME
    if tp is datetime.date:
        return _DATE
    return _opaque(tp)


# -- scalars --------------------------------------------------------------------


def _scalar(tp: type, name: str) -> Converter:
    def check(value: Any) -> bool:
        return isinstance(value, tp) and not (tp is int and isinstance(value, bool))

    def dump(value: Any, _json_mode: bool) -> Any:
        if check(value):
            return value
        raise TypeMismatchError(name, _kind(value))

    def load(data: Any) -> Any:
        if check(data):
            return data
        raise TypeMismatchError(name, _kind(data))

    return Converter(name, dump, load, check)


def _float_converter() -> Converter:
    def check(value: Any) -> bool:
        return isinstance(value, float)

    def accept(value: Any) -> float:
        if isinstance(value, float):
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        raise TypeMismatchError("float", _kind(value))

    return Converter("float", lambda v, _j: accept(v), accept, check)


def _none_dump(value: Any, _json_mode: bool) -> None:
    if value is not None:
        raise TypeMismatchError("None", _kind(value))


def _none_load(data: Any) -> None:
    if data is not None:
        raise TypeMismatchError("None", _kind(data))


_NONE = Converter("None", _none_dump, _none_load, lambda v: v is None)


def _text_scalar(
    tp: type, name: str, parse: Callable[[str], Any], render: Callable[[Any], str]
) -> Converter:
    """A type the extended serdes stores natively and JSON stores as text."""

    def check(value: Any) -> bool:
        return isinstance(value, tp) and not (
            tp is datetime.date and isinstance(value, datetime.datetime)
        )

    def dump(value: Any, json_mode: bool) -> Any:
        if not check(value):
            raise TypeMismatchError(name, _kind(value))
        return render(value) if json_mode else value

    def load(data: Any) -> Any:
        if check(data):
            return data
        if isinstance(data, str):
            try:
                return parse(data)
            except (ValueError, ArithmeticError):
                raise TypeMismatchError(name, f"str that is not a {name}") from None
        raise TypeMismatchError(name, _kind(data))

    return Converter(name, dump, load, check)


def _decimal_parse(text: str) -> decimal.Decimal:
    value = decimal.Decimal(text)
    if not value.is_finite() and text.strip().lower() not in {
        "nan",
        "snan",
        "inf",
        "-inf",
        "infinity",
        "-infinity",
    }:
        raise ValueError(text)
    return value


_DATETIME = _text_scalar(
    datetime.datetime, "datetime", datetime.datetime.fromisoformat, lambda v: v.isoformat()
)
_DATE = _text_scalar(datetime.date, "date", datetime.date.fromisoformat, lambda v: v.isoformat())
_DECIMAL = _text_scalar(decimal.Decimal, "Decimal", _decimal_parse, str)
_UUID = _text_scalar(uuid.UUID, "UUID", uuid.UUID, str)
_BYTES = _text_scalar(
    bytes,
    "bytes",
    lambda text: base64.b64decode(text, validate=True),
    lambda v: base64.b64encode(v).decode("ascii"),
)

_SCALARS: dict[type, Converter] = {
    bool: _scalar(bool, "bool"),
    int: _scalar(int, "int"),
    str: _scalar(str, "str"),
    float: _float_converter(),
    decimal.Decimal: _DECIMAL,
    uuid.UUID: _UUID,
    bytes: _BYTES,
}


def _enum(tp: type[enum.Enum]) -> Converter:
    name = tp.__qualname__

    def dump(value: Any, _json_mode: bool) -> Any:
        if not isinstance(value, tp):
            raise TypeMismatchError(name, _kind(value))
        return value.value

    def load(data: Any) -> Any:
        if isinstance(data, tp):
            return data
        try:
            return tp(data)
        except (ValueError, TypeError):
            raise TypeMismatchError(
                f"a value of {name}", f"{_kind(data)} that is not one"
            ) from None

    def exact(data: Any) -> bool:
        try:
            tp(data)
        except (ValueError, TypeError):
            return False
        return True

    return Converter(name, dump, load, exact)


def _literal(tp: Any, choices: tuple[Any, ...]) -> Converter:
    name = type_name(tp)

    def check(value: Any) -> bool:
        return any(value == c and type(value) is type(c) for c in choices)

    def dump(value: Any, _json_mode: bool) -> Any:
        if not check(value):
            raise TypeMismatchError(name, f"{_kind(value)} outside the literal")
        return value.value if isinstance(value, enum.Enum) else value

    def load(data: Any) -> Any:
        for choice in choices:
            stored = choice.value if isinstance(choice, enum.Enum) else choice
            if data == stored and type(data) is type(stored):
                return choice
        raise TypeMismatchError(name, f"{_kind(data)} outside the literal")

    return Converter(name, dump, load, check)


def _opaque(tp: type) -> Converter:
    """Any other class: the base serdes stores it; only the type is checked."""
    name = tp.__qualname__

    def dump(value: Any, _json_mode: bool) -> Any:
        if not isinstance(value, tp):
            raise TypeMismatchError(name, _kind(value))
        return value

    def load(data: Any) -> Any:
        if not isinstance(data, tp):
            raise TypeMismatchError(name, _kind(data))
        return data

    return Converter(name, dump, load, lambda v: isinstance(v, tp))


# -- unions -----------------------------------------------------------------------


def _union(tp: Any, arms: list[Converter]) -> Converter:
    name = type_name(tp)
    optional = any(arm is _NONE for arm in arms)
    others = [arm for arm in arms if arm is not _NONE]

    def dump(value: Any, json_mode: bool) -> Any:
        if value is None and optional:
            return None
        for arm in others:
            try:
                return arm.dump(value, json_mode)
            except TypeMismatchError:
                continue
        raise TypeMismatchError(name, _kind(value))

    def load(data: Any) -> Any:
        if data is None and optional:
            return None
        if len(others) == 1:
            return others[0].load(data)
        # First an arm the data is already stored as, then any arm that converts it.
        ordered = [arm for arm in others if arm.exact(data)]
        ordered += [arm for arm in others if arm not in ordered]
        for arm in ordered:
            try:
                return arm.load(data)
            except TypeMismatchError:
                continue
        raise TypeMismatchError(name, _kind(data))

    def exact(data: Any) -> bool:
        return (data is None and optional) or any(arm.exact(data) for arm in others)

    return Converter(name, dump, load, exact)


# -- collections --------------------------------------------------------------------

_ABSTRACT: dict[Any, type] = {
    Sequence: list,
    MutableSequence: list,
    Mapping: dict,
    MutableMapping: dict,
    AbstractSet: set,
    MutableSet: set,
}


def _generic(
    tp: Any, origin: Any, args: tuple[Any, ...], building: dict[Any, Converter]
) -> Converter:
    concrete = _ABSTRACT.get(origin, origin)
    if concrete is list:
        return _list(tp, _compile(args[0], building) if args else _ANY, sequence=origin is not list)
    if concrete is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _tuple(tp, [_compile(args[0], building)], variadic=True)
        if args == ((),):
            return _tuple(tp, [], variadic=False)
        if not args:
            return _tuple(tp, [_ANY], variadic=True)
        return _tuple(tp, [_compile(a, building) for a in args], variadic=False)
    if concrete in (set, frozenset):
        return _set(tp, concrete, _compile(args[0], building) if args else _ANY)
    if concrete is dict:
        key = _compile(args[0], building) if args else _ANY
        value = _compile(args[1], building) if len(args) > 1 else _ANY
        return _dict(tp, key, value)
    if isinstance(origin, type) and dataclasses.is_dataclass(origin):
        params = getattr(origin, "__parameters__", ())
        return _dataclass(
            origin, dict(zip(params, args, strict=False)), building, name=type_name(tp)
        )
    if isinstance(origin, type):
        return _opaque(origin)
    raise ValidationError(
        f"{type_name(tp)} cannot be a result type: give a class, or a list/dict/tuple/Optional "
        "of classes"
    )


def _list(tp: Any, item: Converter, *, sequence: bool) -> Converter:
    name = type_name(tp)
    accepted = (list, tuple) if sequence else (list,)

    def dump(value: Any, json_mode: bool) -> Any:
        if not isinstance(value, accepted):
            raise TypeMismatchError(name, _kind(value))
        if item is _ANY:
            return list(value)
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item.dump(element, json_mode))
            except TypeMismatchError as exc:
                exc.path.append(f"[{index}]")
                raise
        return out

    def load(data: Any) -> Any:
        if not isinstance(data, list | tuple):
            raise TypeMismatchError(name, _kind(data))
        if item is _ANY:
            return list(data)
        out = []
        for index, element in enumerate(data):
            try:
                out.append(item.load(element))
            except TypeMismatchError as exc:
                exc.path.append(f"[{index}]")
                raise
        return out

    return Converter(name, dump, load, lambda v: isinstance(v, list))


def _tuple(tp: Any, items: list[Converter], *, variadic: bool) -> Converter:
    name = type_name(tp)

    def item_for(index: int) -> Converter:
        return items[0] if variadic else items[index]

    def check_length(value: Any) -> None:
        if not variadic and len(value) != len(items):
            raise TypeMismatchError(f"{name} of {len(items)} items", f"{len(value)} items")

    def dump(value: Any, json_mode: bool) -> Any:
        if not isinstance(value, tuple):
            raise TypeMismatchError(name, _kind(value))
        check_length(value)
        out = []
        for index, element in enumerate(value):
            try:
                out.append(item_for(index).dump(element, json_mode))
            except TypeMismatchError as exc:
                exc.path.append(f"[{index}]")
                raise
        # The extended serdes keeps tuples (as the official SDK stores them); JSON cannot.
        return out if json_mode else tuple(out)

    def load(data: Any) -> Any:
        if not isinstance(data, list | tuple):
            raise TypeMismatchError(name, _kind(data))
        check_length(data)
        out = []
        for index, element in enumerate(data):
            try:
                out.append(item_for(index).load(element))
            except TypeMismatchError as exc:
                exc.path.append(f"[{index}]")
                raise
        return tuple(out)

    return Converter(name, dump, load, lambda v: isinstance(v, tuple))


def _set(tp: Any, concrete: type, item: Converter) -> Converter:
    name = type_name(tp)

    def dump(value: Any, json_mode: bool) -> Any:
        if not isinstance(value, set | frozenset):
            raise TypeMismatchError(name, _kind(value))
        out = []
        for element in value:
            try:
                out.append(item.dump(element, json_mode))
            except TypeMismatchError as exc:
                exc.path.append("[member]")
                raise
        # Sets have no order; a stable order keeps payloads identical between runs.
        try:
            out.sort()
        except TypeError:
            out.sort(key=repr)
        return out

    def load(data: Any) -> Any:
        if not isinstance(data, list | tuple | set | frozenset):
            raise TypeMismatchError(name, _kind(data))
        out = []
        for element in data:
            try:
                out.append(item.load(element))
            except TypeMismatchError as exc:
                exc.path.append("[member]")
                raise
        return concrete(out)

    return Converter(name, dump, load, lambda v: isinstance(v, list))


def _dict_keys(key: Converter) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """How a declared key type is written as a JSON object key, and read back."""
    if key is _ANY:
        return _identity, _identity
    if key.name == "str":
        return (lambda k: key.dump(k, _NATIVE)), key.load

    def dump_key(value: Any) -> Any:
        dumped = key.dump(value, _AS_JSON)
        if not isinstance(dumped, str | int | float | bool):
            raise TypeMismatchError(f"{key.name} usable as a key", _kind(value))
        return dumped

    def load_key(data: Any) -> Any:
        try:
            return key.load(data)
        except TypeMismatchError:
            # JSON object keys are strings: an int (or int-valued enum) key comes back as "1".
            if not isinstance(data, str):
                raise
            try:
                number = int(data)
            except ValueError:
                raise TypeMismatchError(key.name, "str key that is not one") from None
            return key.load(number)

    return dump_key, load_key


def _dict(tp: Any, key: Converter, value: Converter) -> Converter:
    name = type_name(tp)
    dump_key, load_key = _dict_keys(key)
    # dict[str, Any], the most common annotation: check the keys, copy the rest as it is.
    str_keys_any_values = key.name == "str" and value is _ANY

    def dump(data: Any, json_mode: bool) -> Any:
        if not isinstance(data, Mapping):
            raise TypeMismatchError(name, _kind(data))
        if key is _ANY and value is _ANY:
            return dict(data)
        if str_keys_any_values and all(type(k) is str for k in data):
            return dict(data)
        out = {}
        for k, v in data.items():
            try:
                out[dump_key(k)] = value.dump(v, json_mode)
            except TypeMismatchError as exc:
                exc.path.append(f"[{k!r}]" if isinstance(k, str | int) else "[key]")
                raise
        return out

    def load(data: Any) -> Any:
        if not isinstance(data, dict):
            raise TypeMismatchError(name, _kind(data))
        if (key is _ANY and value is _ANY) or (
            str_keys_any_values and all(type(k) is str for k in data)
        ):
            return dict(data)
        out = {}
        for k, v in data.items():
            try:
                out[load_key(k)] = value.load(v)
            except TypeMismatchError as exc:
                exc.path.append(f"[{k!r}]" if isinstance(k, str | int) else "[key]")
                raise
        return out

    return Converter(name, dump, load, lambda v: isinstance(v, dict))


# -- dataclasses (through dataclasses-json) -------------------------------------------


def _dataclasses_json() -> Any:
    """Import dataclasses-json on first use (it costs ~35 ms; untyped code never pays it)."""
    import dataclasses_json  # noqa: PLC0415

    return dataclasses_json.DataClassJsonMixin


def _letter_case(cls: type, field: dataclasses.Field[Any]) -> Callable[[str], str] | None:
    """The key dataclasses-json writes ``field`` under (class config, then field config)."""
    field_config = field.metadata.get("dataclasses_json") or {}
    if "letter_case" in field_config:
        return field_config["letter_case"]  # type: ignore[no-any-return]
    class_config = getattr(cls, "dataclass_json_config", None) or {}
    return class_config.get("letter_case")


def _has_codec(cls: type, field: dataclasses.Field[Any], what: str) -> bool:
    field_config = field.metadata.get("dataclasses_json") or {}
    class_config = getattr(cls, "dataclass_json_config", None) or {}
    return field_config.get(what) is not None or class_config.get(what) is not None


def _configured(cls: type) -> bool:
    """Whether ``cls`` carries dataclasses-json configuration (class-wide or on a field)."""
    if getattr(cls, "dataclass_json_config", None):
        return True
    return any("dataclasses_json" in f.metadata for f in dataclasses.fields(cls))


@dataclasses.dataclass(slots=True)
class _Field:
    name: str
    key: str
    converter: Converter
    required: bool
    dump_raw: bool  # a dataclasses-json encoder writes it: keep what it wrote
    load_raw: bool  # a dataclasses-json decoder reads it: hand it over as stored


def _dataclass(
    cls: type,
    bindings: dict[Any, Any],
    building: dict[Any, Converter],
    *,
    name: str | None = None,
) -> Converter:
    label = name or cls.__qualname__
    marker = (cls, tuple(bindings.items()))
    if marker in building:
        return building[marker]
    # The field plan, built on first use (fields may refer to classes defined later);
    # two threads racing to build it build the same plan, and the first one is kept.
    plan: list[list[_Field]] = []

    def resolve() -> list[_Field]:
        if plan:
            return plan[0]
        try:
            hints = typing.get_type_hints(cls, include_extras=True)
        except Exception as exc:
            raise ValidationError(
                f"cannot resolve the field types of {label} ({type(exc).__name__}: {exc}): "
                "the names its annotations use must be importable from its module (define "
                "the class at module level, or import those names there)"
            ) from exc
        built = []
        for field in dataclasses.fields(cls):
            if not field.init:
                continue
            hint = hints.get(field.name, Any)
            if isinstance(hint, typing.TypeVar):
                hint = bindings.get(hint, Any)
            elif bindings:
                hint = _substitute(hint, bindings)
            case = _letter_case(cls, field)
            built.append(
                _Field(
                    name=field.name,
                    key=case(field.name) if case is not None else field.name,
                    converter=_compile(hint, building),
                    required=field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING,
                    dump_raw=_has_codec(cls, field, "encoder"),
                    load_raw=_has_codec(cls, field, "decoder"),
                )
            )
        with _LOCK:
            if not plan:
                plan.append(built)
        return plan[0]

    configured = _configured(cls)

    def dump(value: Any, json_mode: bool) -> Any:
        if not isinstance(value, cls):
            raise TypeMismatchError(label, _kind(value))
        # dataclasses-json writes the fields its configuration touches (encoders,
        # exclusions); every other field is taken apart here, by its declared type.
        encoded = _dataclasses_json().to_dict(value, encode_json=False) if configured else None
        out = {}
        for field in resolve():
            if encoded is not None:
                if field.key not in encoded:
                    continue
                if field.dump_raw:
                    out[field.key] = encoded[field.key]
                    continue
            try:
                out[field.key] = field.converter.dump(getattr(value, field.name), json_mode)
            except TypeMismatchError as exc:
                exc.path.append(f".{field.name}")
                raise
        return out

    def load(data: Any) -> Any:
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict):
            raise TypeMismatchError(label, _kind(data))
        values: dict[str, Any] = dict(data) if configured else {}
        for field in resolve():
            if field.key not in data:
                if field.required:
                    exc = TypeMismatchError(
                        f"field {field.name!r}", "nothing (the field is missing)"
                    )
                    exc.path.append(f".{field.name}")
                    raise exc
                continue  # the class's own default applies
            if field.load_raw:
                continue
            try:
                values[field.key] = field.converter.load(data[field.key])
            except TypeMismatchError as exc:
                exc.path.append(f".{field.name}")
                raise
        try:
            if configured:
                # dataclasses-json maps keys back, applies decoders, defaults and its
                # Undefined handling; every value it gets is already of its field's type.
                return _dataclasses_json().from_dict.__func__(cls, values)
            return cls(**values)
        except Exception as exc:
            # A user decoder or __post_init__ refused it; name the class, not the data.
            raise TypeMismatchError(
                label, f"data {cls.__qualname__} refused ({type(exc).__name__})"
            ) from None

    converter = Converter(label, dump, load, lambda v: isinstance(v, dict))
    building[marker] = converter
    return converter


def _substitute(hint: Any, bindings: dict[Any, Any]) -> Any:
    """Replace the type variables of a generic dataclass's field hint by its arguments."""
    params = getattr(hint, "__parameters__", ())
    if not params:
        return hint
    try:
        return hint[tuple(bindings.get(p, Any) for p in params)]
    except TypeError:
        return hint


# -- pydantic ------------------------------------------------------------------------


def _is_pydantic_model(tp: type) -> bool:
    """Whether ``tp`` is a pydantic v2 model (without ever importing pydantic)."""
    pydantic = sys.modules.get("pydantic")
    if pydantic is None:
        return False
    base = getattr(pydantic, "BaseModel", None)
    return isinstance(base, type) and issubclass(tp, base) and hasattr(tp, "model_validate")


def _pydantic_problems(exc: Exception) -> str:
    """Pydantic's error locations and messages, without the input values."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return type(exc).__name__
    try:
        items = errors(include_input=False, include_url=False, include_context=False)
    except TypeError:
        return type(exc).__name__
    parts = []
    for item in items[:5]:
        loc = ".".join(str(p) for p in item.get("loc", ())) or "(model)"
        parts.append(f"{loc}: {item.get('msg', '')}")
    more = f" (+{len(items) - 5} more)" if len(items) > 5 else ""
    return "; ".join(parts) + more


def _pydantic(tp: type) -> Converter:
    name = tp.__qualname__

    def dump(value: Any, _json_mode: bool) -> Any:
        if not isinstance(value, tp):
            raise TypeMismatchError(name, _kind(value))
        return value.model_dump(mode="json")  # type: ignore[attr-defined]

    def load(data: Any) -> Any:
        if isinstance(data, tp):
            return data
        try:
            return tp.model_validate(data)  # type: ignore[attr-defined]
        except Exception as exc:
            raise TypeMismatchError(
                name, f"data pydantic refused: {_pydantic_problems(exc)}"
            ) from None

    return Converter(name, dump, load, lambda v: isinstance(v, dict))


# -- the serdes ------------------------------------------------------------------------


class TypedSerDes(SerDes[Any]):
    """Stores values of a declared type and rebuilds them on every read.

    Args:
        result_type: The declared type.
        base: The serdes that stores the plain data (the extended-type serdes by
            default). With any other base, ``datetime``, ``Decimal`` and the like
            are written as text first.
        what: What the payload is, for messages (``"step 'fetch'"``).
        converter: A prepared converter to use instead of ``result_type``'s.

    Raises:
        ValidationError: ``result_type`` cannot be a result type.
    """

    __slots__ = ("_base", "_converter", "_json", "result_type", "what")

    def __init__(
        self,
        result_type: Any,
        base: SerDes[Any] | None = None,
        *,
        what: str = "the result",
        converter: Converter | None = None,
    ) -> None:
        self.result_type = result_type
        self._converter = converter or converter_for(result_type)
        self._base = base or EXTENDED_SERDES
        self._json = not isinstance(self._base, ExtendedTypeSerDes)
        self.what = what

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str | None:
        """Check ``value`` against the declared type and store its plain form."""
        try:
            data = self._converter.dump(value, self._json)
        except TypeMismatchError as exc:
            raise SerDesError(
                f"{self.what} does not fit the declared type {self._converter.name}: "
                f"{exc.describe()}"
            ) from None
        return self._base.serialize(data, serdes_context)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        """Read the stored data and rebuild a value of the declared type."""
        raw = self._base.deserialize(data, serdes_context)
        try:
            return self._converter.load(raw)
        except TypeMismatchError as exc:
            raise SerDesError(
                f"the stored data of {self.what} does not fit the declared type "
                f"{self._converter.name}: {exc.describe()}. Was the type changed while "
                "executions were in flight? Keep new fields optional, or version the change "
                "with context.patched()."
            ) from None

    def __repr__(self) -> str:
        return f"TypedSerDes({self._converter.name}, base={type(self._base).__name__})"


def callback_serdes(
    serdes: SerDes[Any] | None, result_type: Any, name: str | None, *, stored: bool = False
) -> SerDes[Any] | None:
    """Return the serdes of a callback's result; ``serdes`` itself when no type is declared.

    The external system's string is read as JSON (or with ``serdes``) and rebuilt as
    ``result_type``; ``str`` keeps the raw string. With ``stored``, the serdes of the
    value ``wait_for_callback`` stores in its own context instead (extended-type base).
    """
    if result_type is None:
        return None if stored else serdes
    what = f"the result of callback {name!r}" if name else "the callback's result"
    if stored:
        return TypedSerDes(result_type, None, what=what)
    if serdes is None:
        serdes = PASS_THROUGH_SERDES if result_type is str else JSON_SERDES
    return TypedSerDes(result_type, serdes, what=what)
