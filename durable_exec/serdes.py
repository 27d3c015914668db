"""Serialisation of operation results (the official SDK's ``serdes`` module).

``ExtendedTypeSerDes`` (the default for steps, child contexts, map/parallel and
wait_for_condition) writes the official SDK's tagged envelopes
(``{"t": tag, "v": value}``); :data:`EXTENDED_TYPES_SERDES` and
:data:`DEFAULT_JSON_SERDES` are shared instances. :func:`serialize` and
:func:`deserialize` run a serdes for an operation and turn its failures into
:class:`SerDesError`.

Example:
    >>> from durable_exec.serdes import EXTENDED_TYPES_SERDES
    >>> EXTENDED_TYPES_SERDES.deserialize(EXTENDED_TYPES_SERDES.serialize((1, "a")))
    (1, 'a')
"""

from durable_exec._batch import BatchResult
from durable_exec._errors import DurableExecutionsError, RetryableSerDesError, SerDesError
from durable_exec._serde import EXTENDED_SERDES as EXTENDED_TYPES_SERDES
from durable_exec._serde import JSON_SERDES as DEFAULT_JSON_SERDES
from durable_exec._serde import (
    TYPE_TOKEN,
    VALUE_TOKEN,
    ExtendedTypeSerDes,
    JsonSerDes,
    PassThroughSerDes,
    SerDes,
    SerDesContext,
    deserialize,
    serialize,
)

__all__ = [
    "DEFAULT_JSON_SERDES",
    "EXTENDED_TYPES_SERDES",
    "TYPE_TOKEN",
    "VALUE_TOKEN",
    "BatchResult",
    "DurableExecutionsError",
    "ExtendedTypeSerDes",
    "JsonSerDes",
    "PassThroughSerDes",
    "RetryableSerDesError",
    "SerDes",
    "SerDesContext",
    "SerDesError",
    "deserialize",
    "serialize",
]
