"""Typed reads of a payload: wrong types and missing fields fail with the path that is wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from webhooks.payload_reader import ParseError, PayloadReader


def reader(obj: dict) -> PayloadReader:
    return PayloadReader(obj, "data.object")


def test_reads_check_their_types_and_name_the_path():
    obj = reader({"amount": True, "charge": {"id": "ch_1"}, "created": 1700000000})
    with pytest.raises(ParseError, match=r"data\.object\.amount must be an integer, got bool"):
        obj.integer("amount")
    assert obj.ref("charge") == "ch_1"
    assert obj.timestamp("created") == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def test_missing_children_read_as_empty_and_required_fields_fail():
    obj = reader({"id": ""})
    nested = obj.child("outcome").child("network")
    assert not nested.present and nested.text("code") is None
    with pytest.raises(ParseError, match=r"data\.object\.id is empty"):
        obj.text("id", required=True)
    with pytest.raises(ParseError, match=r"data\.object\.customer is missing"):
        obj.text("customer", required=True)


def test_lists_keep_only_objects_and_expanded_ids_read_as_empty():
    obj = reader({"lines": [{"id": "il_1"}, "junk", None], "payment_intent": "pi_1"})
    assert [line.text("id") for line in obj.items("lines")] == ["il_1"]
    assert not obj.expanded("payment_intent").present
    with pytest.raises(ParseError, match="not a valid Unix time"):
        reader({"created": 10 ** 20}).timestamp("created")
