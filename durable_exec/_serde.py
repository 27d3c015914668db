"""Serialisation of user values into checkpoint payloads.

A :class:`SerDes` turns a value into a string and back. Three come built in:

* :class:`ExtendedTypeSerDes` (the default for steps, child contexts,
  map/parallel results and wait-for-condition state): plain JSON for
  primitives and lists of them; a type-preserving envelope
  ``{"t": tag, "v": value}`` for everything else (dict, tuple, bytes,
  datetime, date, Decimal, UUID, and map/parallel ``BatchResult``). The
  encoding is the official SDK's, byte for byte, so histories are
  interchangeable.
* :class:`JsonSerDes`: plain ``json`` (chained-invoke payloads and results).
* :class:`PassThroughSerDes`: strings as they are (callback results).

Every operation round-trips its result through its serdes on the first run
too, so the first run and every replay return equal values.
"""

from __future__ import annotations

import abc
import base64
import dataclasses
import datetime
import decimal
import json
import uuid
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from durable_exec._errors import RetryableSerDesError, SerDesError

__all__ = [
    "TYPE_TOKEN",
    "VALUE_TOKEN",
    "ExtendedTypeSerDes",
    "JsonSerDes",
    "PassThroughSerDes",
    "SerDes",
    "SerDesContext",
    "deserialize",
    "register_extended_type",
    "serialize",
]

T = TypeVar("T")

TYPE_TOKEN = "t"  # noqa: S105 - a JSON key, not a secret
"""The key of an extended-type envelope that holds the type tag."""
VALUE_TOKEN = "v"  # noqa: S105 - a JSON key, not a secret
"""The key of an extended-type envelope that holds the encoded value."""


@dataclasses.dataclass(frozen=True, slots=True)
class SerDesContext:
    """Where a value is being (de)serialised.

    Attributes:
        operation_id: The operation that owns the value.
        durable_execution_arn: The execution.
    """

    operation_id: str = ""
    durable_execution_arn: str = ""


class SerDes(abc.ABC, Generic[T]):
    """Turns values of type ``T`` into strings and back.

    Implementations must be deterministic and must round-trip:
    ``deserialize(serialize(v)) == v`` for every value they accept. Raise
    :class:`RetryableSerDesError` for a transient failure (the invocation is
    retried); any other exception fails the operation with :class:`SerDesError`.
    """

    @abc.abstractmethod
    def serialize(self, value: T, serdes_context: SerDesContext) -> str | None:
        """Return ``value`` as a string (``None``: nothing is stored; it reads back as ``None``)."""

    @staticmethod
    def is_primitive(obj: Any) -> bool:
        """Whether ``obj`` is a JSON primitive or a (nested) list of them.

        :class:`ExtendedTypeSerDes` stores exactly these values as plain JSON.
        """
        return _is_plain(obj)

    @abc.abstractmethod
    def deserialize(self, data: str, serdes_context: SerDesContext) -> T:
        """Return the value ``data`` encodes."""


class JsonSerDes(SerDes[Any]):
    """Plain ``json.dumps`` / ``json.loads``."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str:
        """Return ``json.dumps(value)``."""
        return json.dumps(value)

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        """Return ``json.loads(data)``."""
        return json.loads(data)


class PassThroughSerDes(SerDes[Any]):
    """Strings go through unchanged (the default for callback results); so does ``None``."""

    def serialize(self, value: Any, serdes_context: SerDesContext) -> str | None:
        """Return ``value`` itself; it must be a string or ``None`` (nothing stored)."""
        if value is not None and not isinstance(value, str):
            raise TypeError(f"PassThroughSerDes takes str or None, got {type(value).__name__}")
        return value

    def deserialize(self, data: str, serdes_context: SerDesContext) -> Any:
        """Return ``data`` itself."""
        return data


# -- the extended-type envelope ------------------------------------------------

_PLAIN_SCALARS = (str, int, float, bool, type(None))
_Encoder = Callable[[Any], Any]
_Decoder = Callable[[Any], Any]
# tag -> (python type, encode to JSON value, decode from JSON value); checked in order.
_EXTRA: dict[str, tuple[type, _Encoder, _Decoder]] = {}


def register_extended_type(tag: str, cls: type, encode: _Encoder, decode: _Decoder) -> None:
    """Teach :class:`ExtendedTypeSerDes` a new type (used for ``BatchResult``).

    Args:
        tag: The envelope tag ``t``.
        cls: Instances of this class are encoded with ``encode``.
        encode: Returns a dict whose values are encoded recursively.
        decode: Rebuilds the instance from that dict, decoded.
    """
    _EXTRA[tag] = (cls, encode, decode)


def _is_plain(value: Any) -> bool:
    # Primitives, and lists (at any depth) of primitives, are stored as plain JSON.
    if isinstance(value, _PLAIN_SCALARS):
        return True
    if isinstance(value, list):
        return all(_is_plain(v) for v in value)
    return False


def _wrap(value: Any) -> dict[str, Any]:
    if value is None:
        return {"t": "n", "v": None}
    if isinstance(value, bool):
        return {"t": "b", "v": value}
    if isinstance(value, int):
        return {"t": "i", "v": value}
    if isinstance(value, float):
        return {"t": "f", "v": value}
    if isinstance(value, str):
        return {"t": "s", "v": value}
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            if isinstance(key, tuple):
                raise SerDesError("Tuple keys not supported")
            # Keys go to json as they are (True -> "true", None -> "null"), as in the
            # official SDK; str(key) would write "True" and "None".
            out[key] = _wrap(item)
        return {"t": "m", "v": out}
    if isinstance(value, tuple):
        return {"t": "t", "v": [_wrap(v) for v in value]}
    if isinstance(value, list):
        return {"t": "l", "v": [_wrap(v) for v in value]}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"t": "B", "v": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, uuid.UUID):
        return {"t": "u", "v": str(value)}
    if isinstance(value, decimal.Decimal):
        return {"t": "d", "v": str(value)}
    if isinstance(value, datetime.datetime):
        return {"t": "dt", "v": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"t": "D", "v": value.isoformat()}
    for tag, (cls, encode, _) in _EXTRA.items():
        if isinstance(value, cls):
            return {"t": tag, "v": {k: _wrap(v) for k, v in encode(value).items()}}
    raise SerDesError(
        f"Unsupported type: {type(value)!r}. The default serdes stores JSON primitives, "
        "lists, dicts, tuples, bytes, datetime, date, Decimal and UUID. Declare the type "
        "(the function's return annotation, or result_type= in the operation's config) to "
        "store dataclasses, pydantic models and enums, or pass a custom SerDes."
    )


def _unwrap(node: Any) -> Any:
    # Inside an envelope, only {"t": ..., "v": ...} dicts are decoded; anything
    # else is taken as it is, as the official SDK does.
    if isinstance(node, dict) and "t" in node and "v" in node:
        return _decode(node["t"], node["v"])
    return node


def _decode(tag: Any, value: Any) -> Any:
    if tag == "n":
        return None
    if tag == "s":
        return str(value)
    if tag == "b":
        return bool(value)
    if tag == "i":
        return int(value)
    if tag == "f":
        return float(value)
    if tag == "m":
        return {k: _unwrap(v) for k, v in _expect(value, dict).items()}
    if tag == "l":
        return [_unwrap(v) for v in _expect(value, list)]
    if tag == "t":
        return tuple(_unwrap(v) for v in _expect(value, list))
    if tag == "B":
        return base64.b64decode(value)
    if tag == "u":
        return uuid.UUID(value)
    if tag == "d":
        return decimal.Decimal(value)
    if tag == "dt":
        return datetime.datetime.fromisoformat(value)
    if tag == "D":
        return datetime.date.fromisoformat(value)
    extra = _EXTRA.get(tag)
    if extra is not None:
        return extra[2]({k: _unwrap(v) for k, v in _expect(value, dict).items()})
    if isinstance(tag, str) and len(tag) <= 8 and tag.isalnum():
        raise SerDesError(f'Unknown type tag: "{tag}"')
    raise SerDesError(f"Unknown type tag (a {type(tag).__name__} that is no tag)")


def _expect(value: Any, kind: type[T]) -> T:
    if not isinstance(value, kind):
        raise SerDesError(f"Expected {kind.__name__}, got {type(value)}")
    return value


# What json.dumps(value, separators=(",", ":")) builds on every call, built once: the
# output is identical, at less than half the cost per step (encode() keeps no state).
_COMPACT = json.JSONEncoder(separators=(",", ":"))


class ExtendedTypeSerDes(SerDes[Any]):
    """JSON with a type-preserving envelope for non-JSON types (the default)."""

    def serialize(self, value: Any, context: SerDesContext | None = None) -> str:
        """Encode ``value``; plain JSON when it is a primitive or a list of primitives.

        ``context`` (the operation and execution) is not needed: the encoding depends
        on the value alone.
        """
        if _is_plain(value):
            return _COMPACT.encode(value)
        return _COMPACT.encode(_wrap(value))

    def deserialize(self, data: str, context: SerDesContext | None = None) -> Any:
        """Decode what :meth:`serialize` produced (``context`` is not needed)."""
        node = json.loads(data)
        if _is_plain(node):
            return node
        if not (isinstance(node, dict) and "t" in node and "v" in node):
            raise SerDesError('Malformed envelope: missing "t" or "v" at root.')
        return _decode(node["t"], node["v"])


EXTENDED_SERDES = ExtendedTypeSerDes()
JSON_SERDES = JsonSerDes()
PASS_THROUGH_SERDES = PassThroughSerDes()


def serialize(
    serdes: SerDes[Any] | None, value: Any, operation_id: str, durable_execution_arn: str
) -> str | None:
    """Serialise ``value`` for an operation, mapping failures to :class:`SerDesError`.

    ``None`` (a serdes may return it) means no payload; it deserialises to ``None``.

    Args:
        serdes: The serdes to use; the extended-type serdes when ``None``.
        value: The value.
        operation_id: The owning operation (named in errors).
        durable_execution_arn: The execution.
    """
    codec = serdes or EXTENDED_SERDES
    try:
        return codec.serialize(value, SerDesContext(operation_id, durable_execution_arn))
    except RetryableSerDesError:
        raise
    except SerDesError as exc:
        raise SerDesError(
            f"operation {operation_id}: cannot serialise {type(value).__name__}: {exc.message}",
            error_type="SerDesError",
            data=exc.data,
            stack_trace=exc.stack_trace,
        ) from exc
    except Exception as exc:
        # As on the way back: the exception's text may quote the value; name its type.
        raise SerDesError(
            f"operation {operation_id}: cannot serialise {type(value).__name__} with "
            f"{type(codec).__name__}: {type(exc).__name__}",
            error_type="SerDesError",
        ) from exc


def deserialize(
    serdes: SerDes[Any] | None, data: str | None, operation_id: str, durable_execution_arn: str
) -> Any:
    """Deserialise a stored payload (``None`` stays ``None``).

    Failures become :class:`SerDesError` naming the operation.
    """
    if data is None:
        return None
    codec = serdes or EXTENDED_SERDES
    try:
        return codec.deserialize(data, SerDesContext(operation_id, durable_execution_arn))
    except RetryableSerDesError:
        raise
    except SerDesError as exc:
        raise SerDesError(
            f"operation {operation_id}: cannot deserialise the stored payload with "
            f"{type(codec).__name__}: {exc.message}",
            error_type="SerDesError",
            data=exc.data,
            stack_trace=exc.stack_trace,
        ) from exc
    except Exception as exc:
        # The exception's text may quote the stored value (fromisoformat does): name
        # the operation, the codec and the exception type only.
        raise SerDesError(
            f"operation {operation_id}: cannot deserialise the stored payload with "
            f"{type(codec).__name__}: {type(exc).__name__}",
            error_type="SerDesError",
        ) from exc
