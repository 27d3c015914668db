"""build_preview: field selection, masking, the byte budget, and agreement with the official SDK."""

from __future__ import annotations

import datetime
import json
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durable_exec.preview import (
    FieldMatchMode,
    PreviewConfig,
    PreviewField,
    PreviewMode,
    build_preview,
)

ORDER = {
    "id": "o-1",
    "customer": {"name": "Ana", "email": "ana@example.com", "card": {"number": "4111"}},
    "lines": [{"sku": "a", "qty": 1}, {"sku": "b", "qty": 3}],
    "note.internal": "hidden: dotted keys cannot be addressed",
}


def test_include_all_shows_every_field_in_document_order():
    """INCLUDE_ALL mirrors the nesting; list elements merge under the list's key."""
    preview = build_preview(ORDER, PreviewConfig(PreviewMode.INCLUDE_ALL))
    assert preview == {
        "id": "o-1",
        "customer": {"name": "Ana", "email": "ana@example.com", "card": {"number": "4111"}},
        "lines": {"sku": "b", "qty": 3},
    }
    assert list(preview) == ["id", "customer", "lines"]


def test_exclude_wins_over_mask_and_hides_everything_below():
    """An excluded field is never shown, even masked; nothing under it is shown either."""
    config = PreviewConfig(
        PreviewMode.INCLUDE_ALL,
        exclude=[PreviewField("customer")],
        mask=[PreviewField("customer"), PreviewField("number")],
    )
    assert build_preview(ORDER, config) == {"id": "o-1", "lines": {"sku": "b", "qty": 3}}


def test_mask_shows_a_field_even_in_exclude_all_mode():
    """A masked field is visible (as the mask string) even when nothing is included."""
    config = PreviewConfig(
        PreviewMode.EXCLUDE_ALL,
        include=[PreviewField("id")],
        mask=[PreviewField("email")],
        mask_string="<redacted>",
    )
    assert build_preview(ORDER, config) == {"id": "o-1", "customer": {"email": "<redacted>"}}


def test_path_matching_selects_one_path_and_anywhere_matches_any_depth():
    """PATH names one field from the root; ANYWHERE names a field at any depth."""
    by_path = PreviewConfig(
        PreviewMode.EXCLUDE_ALL, include=[PreviewField("customer.name", FieldMatchMode.PATH)]
    )
    assert build_preview(ORDER, by_path) == {"customer": {"name": "Ana"}}
    root_only = PreviewConfig(
        PreviewMode.EXCLUDE_ALL, include=[PreviewField("name", FieldMatchMode.PATH)]
    )
    assert build_preview(ORDER, root_only) is None
    anywhere = PreviewConfig(PreviewMode.EXCLUDE_ALL, include=[PreviewField("qty")])
    assert build_preview(ORDER, anywhere) == {"lines": {"qty": 3}}


def test_an_included_container_shows_its_whole_subtree():
    """Including a container includes every field below it."""
    config = PreviewConfig(PreviewMode.EXCLUDE_ALL, include=[PreviewField("card")])
    assert build_preview(ORDER, config) == {"customer": {"card": {"number": "4111"}}}


def test_the_budget_stops_at_the_first_field_that_does_not_fit():
    """Fields are added in order until the next one would exceed max_preview_bytes."""
    value = {"a": "x" * 10, "b": "y" * 50, "c": 1}
    # {} + "a":"xxxxxxxxxx", = 2 + 17 = 19 bytes; "b" needs 57 more.
    config = PreviewConfig(PreviewMode.INCLUDE_ALL, max_preview_bytes=60)
    assert build_preview(value, config) == {"a": "x" * 10}
    assert len(json.dumps(build_preview(value, config))) <= 60
    assert (
        build_preview(value, PreviewConfig(PreviewMode.INCLUDE_ALL, max_preview_bytes=10)) is None
    )


def test_only_a_dict_has_a_preview():
    """Lists, strings and None give no preview; so does a dict with nothing selected."""
    config = PreviewConfig(PreviewMode.INCLUDE_ALL)
    assert build_preview([{"a": 1}], config) is None
    assert build_preview("text", config) is None
    assert build_preview({}, config) is None
    assert build_preview({"a.b": 1}, config) is None


def test_a_value_json_cannot_hold_is_shown_as_text():
    """A datetime leaf is shown as its str() instead of failing the preview."""
    at = datetime.datetime(2025, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    preview = build_preview({"at": at}, PreviewConfig(PreviewMode.INCLUDE_ALL))
    assert preview == {"at": str(at)}
    json.dumps(preview)


def test_deep_nesting_does_not_exhaust_the_recursion_limit():
    """A value nested deeper than Python's recursion limit still gets its preview."""
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(sys.getrecursionlimit() + 100):
        value = {"n": value}
    preview = build_preview(
        value, PreviewConfig(PreviewMode.EXCLUDE_ALL, include=[PreviewField("leaf")])
    )
    depth = 0
    node = preview
    while isinstance(node, dict) and "n" in node:
        node, depth = node["n"], depth + 1
    assert node == {"leaf": 1}
    assert depth == sys.getrecursionlimit() + 100


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mode": "INCLUDE_ALL"}, "mode must be PreviewMode"),
        ({"mode": PreviewMode.INCLUDE_ALL, "include": ["id"]}, "include must be a list"),
        ({"mode": PreviewMode.INCLUDE_ALL, "max_preview_bytes": 0}, "max_preview_bytes"),
        ({"mode": PreviewMode.INCLUDE_ALL, "mask_string": None}, "mask_string"),
    ],
)
def test_invalid_configuration_is_rejected(kwargs, message):
    """Every option is checked when the configuration is built."""
    with pytest.raises(ValueError, match=message):
        PreviewConfig(**kwargs)


def test_invalid_field_is_rejected():
    """A field needs a name and a FieldMatchMode."""
    with pytest.raises(ValueError, match="non-empty"):
        PreviewField("")
    with pytest.raises(ValueError, match="FieldMatchMode"):
        PreviewField("a", "PATH")  # type: ignore[arg-type]


# -- agreement with the official SDK -------------------------------------------------

try:
    from aws_durable_execution_sdk_python import preview as official_preview
except ImportError:  # the official SDK comes with the test extra
    official_preview = None  # type: ignore[assignment]

KEYS = st.sampled_from(["id", "name", "email", "card", "a", "b", "x.y", "1"])
LEAVES = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=6)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=20,
)
FIELD_NAMES = st.sampled_from(["id", "name", "email", "card", "a", "b", "card.a", "a.b", "zzz"])
RULES = st.lists(st.tuples(FIELD_NAMES, st.booleans()), max_size=3)


def _fields(rules: list[tuple[str, bool]], module: Any) -> list[Any]:
    return [
        module.PreviewField(
            name, module.FieldMatchMode.PATH if by_path else module.FieldMatchMode.ANYWHERE
        )
        for name, by_path in rules
    ]


@pytest.mark.skipif(official_preview is None, reason="needs aws-durable-execution-sdk-python")
@given(
    value=st.dictionaries(KEYS, VALUES, max_size=5),
    include_all=st.booleans(),
    include=RULES,
    exclude=RULES,
    mask=RULES,
    budget=st.integers(2, 200),
)
def test_previews_equal_the_official_sdks(value, include_all, include, exclude, mask, budget):
    """For any JSON dict and configuration, the preview is the official SDK's."""
    mode = "INCLUDE_ALL" if include_all else "EXCLUDE_ALL"
    ours = build_preview(
        value,
        PreviewConfig(
            PreviewMode(mode),
            include=_fields(include, sys.modules["durable_exec.preview"]),
            exclude=_fields(exclude, sys.modules["durable_exec.preview"]),
            mask=_fields(mask, sys.modules["durable_exec.preview"]),
            max_preview_bytes=budget,
        ),
    )
    theirs = official_preview.build_preview(
        value,
        official_preview.PreviewConfig(
            official_preview.PreviewMode(mode),
            include=_fields(include, official_preview),
            exclude=_fields(exclude, official_preview),
            mask=_fields(mask, official_preview),
            max_preview_bytes=budget,
        ),
    )
    assert ours == theirs
    if ours is not None:
        assert list(json.dumps(ours)) == list(json.dumps(theirs))
