"""Serdes: the extended-type envelope byte for byte, JSON, pass-through, and the wrappers."""

from __future__ import annotations

import datetime
import decimal
import enum
import json
import uuid
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec import (
    BatchItem,
    BatchItemStatus,
    BatchResult,
    CompletionReason,
    ExtendedTypeSerDes,
    JsonSerDes,
    PassThroughSerDes,
    RetryableSerDesError,
    SerDes,
    SerDesContext,
    SerDesError,
)
from durable_exec._serde import deserialize, serialize
from durable_exec._wire import ErrorObject

EXTENDED = ExtendedTypeSerDes()
CONTEXT = SerDesContext("op-1", "arn:exec")
UTC = datetime.UTC
MINUS_FIVE = datetime.timezone(datetime.timedelta(hours=-5))
PLUS_FIVE_THIRTY = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
NAIVE = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC).replace(tzinfo=None)


class Colour(enum.StrEnum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 7


class Items(list):
    pass


def encode(value):
    return EXTENDED.serialize(value, CONTEXT)


def decode(data):
    return EXTENDED.deserialize(data, CONTEXT)


def typed(value):
    """Describe a value with every nested type, so equality also checks types."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    return (type(value).__name__, value)


# Official outputs: official_wire.md section 3.1 (probe p4), plus vectors produced by
# running aws-durable-execution-sdk-python 3.0.0's ExtendedTypeSerDes.
GOLDEN: list[tuple[Any, str]] = [
    (None, "null"),
    (True, "true"),
    (0, "0"),
    (-5, "-5"),
    (1.5, "1.5"),
    ("hi", '"hi"'),
    ("", '""'),
    ("ünï", '"\\u00fcn\\u00ef"'),
    ([], "[]"),
    ([1, "a", None, True, 2.5], '[1,"a",null,true,2.5]'),
    ([[1, 2], [3]], "[[1,2],[3]]"),
    ({}, '{"t":"m","v":{}}'),
    ({"a": 1}, '{"t":"m","v":{"a":{"t":"i","v":1}}}'),
    ({"a": [1, 2]}, '{"t":"m","v":{"a":{"t":"l","v":[{"t":"i","v":1},{"t":"i","v":2}]}}}'),
    (
        {"b": True, "f": 1.0, "n": None},
        '{"t":"m","v":{"b":{"t":"b","v":true},"f":{"t":"f","v":1.0},"n":{"t":"n","v":null}}}',
    ),
    ((1, 2), '{"t":"t","v":[{"t":"i","v":1},{"t":"i","v":2}]}'),
    ((), '{"t":"t","v":[]}'),
    (
        [1, (2, 3)],
        '{"t":"l","v":[{"t":"i","v":1},{"t":"t","v":[{"t":"i","v":2},{"t":"i","v":3}]}]}',
    ),
    ([datetime.date(2024, 1, 2)], '{"t":"l","v":[{"t":"D","v":"2024-01-02"}]}'),
    (b"\x00\xffab", '{"t":"B","v":"AP9hYg=="}'),
    (
        uuid.UUID("12345678-1234-5678-1234-567812345678"),
        '{"t":"u","v":"12345678-1234-5678-1234-567812345678"}',
    ),
    (decimal.Decimal("1.10"), '{"t":"d","v":"1.10"}'),
    (
        datetime.datetime(2024, 1, 2, 3, 4, 5, 678900, tzinfo=UTC),
        '{"t":"dt","v":"2024-01-02T03:04:05.678900+00:00"}',
    ),
    (NAIVE, '{"t":"dt","v":"2024-01-02T03:04:05"}'),
    (
        datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=MINUS_FIVE),
        '{"t":"dt","v":"2024-01-02T03:04:05-05:00"}',
    ),
    (
        datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=PLUS_FIVE_THIRTY),
        '{"t":"dt","v":"2024-01-02T03:04:05.000006+05:30"}',
    ),
    (datetime.date(2024, 1, 2), '{"t":"D","v":"2024-01-02"}'),
    ({"t": 1, "v": 2}, '{"t":"m","v":{"t":{"t":"i","v":1},"v":{"t":"i","v":2}}}'),
    (2**70, "1180591620717411303424"),
    ({"n": 2**70}, '{"t":"m","v":{"n":{"t":"i","v":1180591620717411303424}}}'),
    (
        {"a": {"b": [1, (2, "x")], "c": None}},
        (
            '{"t":"m","v":{"a":{"t":"m","v":{"b":{"t":"l","v":[{"t":"i","v":1},'
            '{"t":"t","v":[{"t":"i","v":2},{"t":"s","v":"x"}]}]},"c":{"t":"n","v":null}}}}}'
        ),
    ),
    (decimal.Decimal("NaN"), '{"t":"d","v":"NaN"}'),
    ([float("inf")], "[Infinity]"),
    ({"x": float("-inf")}, '{"t":"m","v":{"x":{"t":"f","v":-Infinity}}}'),
    ({"l": []}, '{"t":"m","v":{"l":{"t":"l","v":[]}}}'),
    (((),), '{"t":"t","v":[{"t":"t","v":[]}]}'),
    ({"ü": "é"}, '{"t":"m","v":{"\\u00fc":{"t":"s","v":"\\u00e9"}}}'),
    ([{"a": 1}], '{"t":"l","v":[{"t":"m","v":{"a":{"t":"i","v":1}}}]}'),
    ((datetime.date(1999, 12, 31),), '{"t":"t","v":[{"t":"D","v":"1999-12-31"}]}'),
]

# Values the official SDK encodes into a different type than it decodes to.
LOSSY = [
    ({1: "x"}, '{"t":"m","v":{"1":{"t":"s","v":"x"}}}', {"1": "x"}),
    ({1.5: "a"}, '{"t":"m","v":{"1.5":{"t":"s","v":"a"}}}', {"1.5": "a"}),
    (
        {True: 1, None: 2},
        '{"t":"m","v":{"true":{"t":"i","v":1},"null":{"t":"i","v":2}}}',
        {"true": 1, "null": 2},
    ),
    (bytearray(b"hi"), '{"t":"B","v":"aGk="}', b"hi"),
    (memoryview(b"mv"), '{"t":"B","v":"bXY="}', b"mv"),
    ({"e": Colour.RED}, '{"t":"m","v":{"e":{"t":"s","v":"red"}}}', {"e": "red"}),
    ({"e": Level.HIGH}, '{"t":"m","v":{"e":{"t":"i","v":7}}}', {"e": 7}),
    (Level.HIGH, "7", 7),
    (Colour.RED, '"red"', "red"),
    (Items([1, 2]), "[1,2]", [1, 2]),
]

BATCH_RESULT = BatchResult(
    [
        BatchItem(0, BatchItemStatus.SUCCEEDED, result={"r": 1}),
        BatchItem(1, BatchItemStatus.FAILED, error=ErrorObject("boom", "ValueError")),
        BatchItem(2, BatchItemStatus.STARTED),
    ],
    CompletionReason.FAILURE_TOLERANCE_EXCEEDED,
)
BATCH_RESULT_ENCODED = (
    '{"t":"br","v":{"all":{"t":"l","v":['
    '{"t":"m","v":{"index":{"t":"i","v":0},"status":{"t":"s","v":"SUCCEEDED"},'
    '"result":{"t":"m","v":{"r":{"t":"i","v":1}}},"error":{"t":"n","v":null}}},'
    '{"t":"m","v":{"index":{"t":"i","v":1},"status":{"t":"s","v":"FAILED"},'
    '"result":{"t":"n","v":null},"error":{"t":"m","v":{"ErrorMessage":{"t":"s","v":"boom"},'
    '"ErrorType":{"t":"s","v":"ValueError"}}}}},'
    '{"t":"m","v":{"index":{"t":"i","v":2},"status":{"t":"s","v":"STARTED"},'
    '"result":{"t":"n","v":null},"error":{"t":"n","v":null}}}]},'
    '"completionReason":{"t":"s","v":"FAILURE_TOLERANCE_EXCEEDED"}}}'
)


class TestExtendedTypeSerDesGolden:
    @pytest.mark.parametrize(("value", "encoded"), GOLDEN)
    def test_encoding_matches_the_official_sdk(self, value, encoded):
        """Each value is encoded exactly as the official SDK encodes it."""
        assert encode(value) == encoded

    @pytest.mark.parametrize(("value", "encoded"), GOLDEN)
    def test_official_encoding_decodes_to_the_value(self, value, encoded):
        """The official encoding decodes back to an equal value of the same types."""
        decoded = decode(encoded)
        if isinstance(value, decimal.Decimal) and value.is_nan():
            assert decoded.is_nan()
        else:
            assert typed(decoded) == typed(value)

    @pytest.mark.parametrize(("value", "encoded", "decoded"), LOSSY)
    def test_coerced_values_match_the_official_sdk(self, value, encoded, decoded):
        """Non-str keys, byte buffers, enums and list subclasses encode and decode as officially."""
        assert encode(value) == encoded
        assert typed(decode(encoded)) == typed(decoded)

    def test_batch_result_envelope_matches_the_official_sdk(self):
        """A BatchResult is stored under the "br" tag exactly as the official SDK stores it."""
        assert encode(BATCH_RESULT) == BATCH_RESULT_ENCODED
        assert decode(BATCH_RESULT_ENCODED) == BATCH_RESULT

    def test_empty_batch_result_matches_the_official_sdk(self):
        """An empty map's result is the official empty "br" envelope (probe p15)."""
        empty: BatchResult[Any] = BatchResult([], CompletionReason.ALL_COMPLETED)
        encoded = (
            '{"t":"br","v":{"all":{"t":"l","v":[]},'
            '"completionReason":{"t":"s","v":"ALL_COMPLETED"}}}'
        )
        assert encode(empty) == encoded
        assert decode(encoded) == empty


class TestExtendedTypeSerDesDecoding:
    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            ('{"t":"m","v":{"a":1}}', {"a": 1}),
            ('{"t":"l","v":[1,{"t":"s","v":"x"}]}', [1, "x"]),
            ('{"t":"m","v":{"a":{"t":"x"}}}', {"a": {"t": "x"}}),
            ('{"t":"i","v":"5"}', 5),
            ('{"t":"s","v":5}', "5"),
            ('{"t":"f","v":2}', 2.0),
            ('{"t":"b","v":1}', True),
            ('{"t":"n","v":"ignored"}', None),
            (
                '{"t":"dt","v":"2024-01-02T03:04:05Z"}',
                datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
            ),
        ],
    )
    def test_decodes_like_the_official_sdk(self, data, expected):
        """Raw values inside envelopes, loose primitive tags and a Z suffix decode officially."""
        assert typed(decode(data)) == typed(expected)

    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ('{"x":1}', "cannot decode: the payload is neither plain JSON nor a"),
            ('{"t":"m"}', "cannot decode: the payload is neither plain JSON nor a"),
            ('[{"a":1}]', "cannot decode: the payload is neither plain JSON nor a"),
            ('{"t":"zz","v":1}', 'cannot decode type tag "zz"'),
            ('{"t":"l","v":[{"t":"zz","v":1}]}', 'cannot decode type tag "zz"'),
            ('{"t":"m","v":[1]}', "Expected dict"),
            ('{"t":"l","v":{"a":1}}', "Expected list"),
        ],
    )
    def test_malformed_payloads_raise_serdes_error(self, data, message):
        """A payload that is not a valid envelope raises SerDesError saying what is wrong."""
        with pytest.raises(SerDesError) as caught:
            decode(data)
        assert caught.value.message.startswith(message)


class TestExtendedTypeSerDesErrors:
    @pytest.mark.parametrize("value", [{1, 2}, object(), frozenset(), complex(1, 2)])
    def test_unsupported_types_are_named(self, value):
        """An unsupported type raises SerDesError starting with the official message."""
        with pytest.raises(SerDesError) as caught:
            encode(value)
        assert caught.value.message.startswith(f"Unsupported type: {type(value)!r}")

    def test_unsupported_types_nested_in_containers_are_rejected(self):
        """An unsupported value anywhere inside a container is rejected."""
        with pytest.raises(SerDesError, match="Unsupported type"):
            encode({"ok": [1, {2}]})

    def test_tuple_keys_are_rejected(self):
        """A dict with a tuple key raises SerDesError naming the key."""
        with pytest.raises(SerDesError, match=r"^cannot encode dict key \(1, 2\): tuple keys"):
            encode({(1, 2): "x"})

    def test_context_is_optional(self):
        """ExtendedTypeSerDes works without a SerDesContext, as in the official SDK."""
        assert EXTENDED.deserialize(EXTENDED.serialize((1,))) == (1,)


@st.composite
def aware_datetimes(draw):
    offset = draw(st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59))
    tz = datetime.timezone(datetime.timedelta(minutes=offset))
    return draw(st.datetimes(timezones=st.just(tz)))


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | st.uuids()
    | st.decimals(allow_nan=False)
    | st.datetimes()
    | aware_datetimes()
    | st.dates()
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.lists(children, max_size=5).map(tuple)
        | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)
primitive_leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text()


def is_primitive(value):
    """The official rule, restated: a JSON primitive or a (nested) list of them."""
    if value is None or isinstance(value, str | int | float | bool):
        return True
    return isinstance(value, list) and all(is_primitive(v) for v in value)


def plain_json(value):
    try:
        return json.dumps(value, separators=(",", ":"))
    except TypeError:
        return None


class TestExtendedTypeSerDesProperties:
    @given(value=values)
    def test_round_trip_preserves_value_and_types(self, value):
        """Any nested value of supported types decodes to an equal value of the same types."""
        assert typed(decode(encode(value))) == typed(value)

    @given(value=values)
    def test_encoding_is_deterministic_and_stable(self, value):
        """Encoding is repeatable, and re-encoding the decoded value gives the same bytes."""
        encoded = encode(value)
        assert encode(value) == encoded
        assert encode(decode(encoded)) == encoded

    @given(value=values | st.recursive(primitive_leaves, lambda c: st.lists(c, max_size=4)))
    def test_plain_json_exactly_for_primitives_and_lists_of_them(self, value):
        """The output is compact plain JSON iff the value is a primitive or a list of them."""
        assert (encode(value) == plain_json(value)) is is_primitive(value)

    @given(value=values)
    def test_non_primitives_are_enveloped(self, value):
        """Anything that is not plain JSON is an envelope with exactly "t" and "v" at the root."""
        parsed = json.loads(encode(value))
        if not is_primitive(value):
            assert isinstance(parsed, dict)
            assert set(parsed) == {"t", "v"}

    @given(value=values)
    def test_output_is_ascii(self, value):
        """Non-ASCII characters are escaped (json's ensure_ascii, as in the official SDK)."""
        assert encode(value).isascii()

    @given(value=values)
    def test_is_primitive_follows_the_official_rule(self, value):
        """SerDes.is_primitive agrees with the official definition."""
        assert SerDes.is_primitive(value) is is_primitive(value)


class TestJsonSerDes:
    def test_uses_default_separators(self):
        """JsonSerDes writes json.dumps' default separators, as the official invoke payloads."""
        assert JsonSerDes().serialize({"a": [1, 2]}, CONTEXT) == '{"a": [1, 2]}'

    def test_tuples_come_back_as_lists(self):
        """Plain JSON has no tuples: a tuple round-trips to a list."""
        serdes = JsonSerDes()
        assert serdes.deserialize(serdes.serialize((1, 2), CONTEXT), CONTEXT) == [1, 2]

    def test_non_json_values_fail(self):
        """A value json cannot encode raises TypeError (wrapped by serialize())."""
        with pytest.raises(TypeError):
            JsonSerDes().serialize({1, 2}, CONTEXT)


class TestPassThroughSerDes:
    @pytest.mark.parametrize("text", ["", "plain text", '{"a": 1}'])
    def test_strings_pass_unchanged(self, text):
        """Strings go through unchanged in both directions."""
        serdes = PassThroughSerDes()
        assert serdes.deserialize(serdes.serialize(text, CONTEXT), CONTEXT) == text

    def test_non_strings_are_rejected(self):
        """A non-string value is a TypeError rather than a bad payload."""
        with pytest.raises(TypeError, match="str"):
            PassThroughSerDes().serialize(5, CONTEXT)

    def test_none_means_no_payload(self):
        """None is stored as no payload, and no payload reads back as None."""
        payload = serialize(PassThroughSerDes(), None, "op", "arn")
        assert payload is None
        assert deserialize(PassThroughSerDes(), payload, "op", "arn") is None


class RecordingSerDes(SerDes[str]):
    def __init__(self, error=None):
        self.contexts = []
        self.error = error

    def serialize(self, value, serdes_context):
        self.contexts.append(serdes_context)
        if self.error is not None:
            raise self.error
        return value

    def deserialize(self, data, serdes_context):
        self.contexts.append(serdes_context)
        if self.error is not None:
            raise self.error
        return data


class TestSerializeWrappers:
    def test_context_defaults_to_empty_strings(self):
        """SerDesContext() defaults both fields to "", as in the official SDK."""
        assert SerDesContext() == SerDesContext("", "")

    def test_default_serdes_is_extended(self):
        """With no serdes, the extended-type serdes is used."""
        assert serialize(None, (1,), "op", "arn") == '{"t":"t","v":[{"t":"i","v":1}]}'
        assert deserialize(None, '{"t":"t","v":[{"t":"i","v":1}]}', "op", "arn") == (1,)

    def test_custom_serdes_receives_the_context(self):
        """A custom serdes receives the operation id and execution ARN."""
        serdes = RecordingSerDes()
        assert serialize(serdes, "x", "op-7", "arn:x") == "x"
        assert deserialize(serdes, "x", "op-7", "arn:x") == "x"
        assert serdes.contexts == [SerDesContext("op-7", "arn:x")] * 2

    def test_missing_payload_stays_none(self):
        """deserialize(None) is None without calling the serdes."""
        serdes = RecordingSerDes()
        assert deserialize(serdes, None, "op", "arn") is None
        assert serdes.contexts == []

    @pytest.mark.parametrize("direction", ["serialize", "deserialize"])
    def test_foreign_errors_become_serdes_errors_naming_the_operation(self, direction):
        """Any other failure becomes SerDesError naming the operation, with the cause kept."""
        original = KeyError("missing")
        wrapper = serialize if direction == "serialize" else deserialize
        with pytest.raises(SerDesError, match="op-9") as caught:
            wrapper(RecordingSerDes(original), "x", "op-9", "arn")
        assert caught.value.__cause__ is original

    @pytest.mark.parametrize("direction", ["serialize", "deserialize"])
    def test_retryable_errors_propagate_unchanged(self, direction):
        """RetryableSerDesError propagates as the same object, so the invocation is retried."""
        original = RetryableSerDesError("store unavailable")
        wrapper = serialize if direction == "serialize" else deserialize
        with pytest.raises(RetryableSerDesError) as caught:
            wrapper(RecordingSerDes(original), "x", "op", "arn")
        assert caught.value is original

    @pytest.mark.parametrize("direction", ["serialize", "deserialize"])
    def test_serdes_error_keeps_its_data_and_stack_trace(self, direction):
        """A SerDesError's data and stack trace survive into the error that is checkpointed."""
        original = SerDesError("bad", data="payload-ref", stack_trace=["frame 1"])
        wrapper = serialize if direction == "serialize" else deserialize
        with pytest.raises(SerDesError) as caught:
            wrapper(RecordingSerDes(original), "x", "op", "arn")
        assert (caught.value.data, caught.value.stack_trace) == ("payload-ref", ["frame 1"])
        assert "bad" in caught.value.message
        assert caught.value.__cause__ is original

    def test_unsupported_value_names_the_type(self):
        """Serialising an unsupported value with the default serdes names its type."""
        with pytest.raises(SerDesError, match="cannot serialise set"):
            serialize(None, {1}, "op", "arn")

    def test_bad_stored_payload_names_the_operation(self):
        """A stored payload that is not JSON raises SerDesError naming the operation."""
        with pytest.raises(SerDesError, match="op-3") as caught:
            deserialize(None, "{not json", "op-3", "arn")
        assert isinstance(caught.value.__cause__, json.JSONDecodeError)
