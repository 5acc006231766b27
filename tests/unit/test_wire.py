"""The one JSON wire format for commands: what every inbound adapter accepts and refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.kernel.errors import InvalidFields, ValidationError
from core.kernel.money import format_amount, minor_unit
from core.orders.wire import cancel_order_from_json, place_order_from_json, place_order_to_json

GOOD = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}


def test_a_valid_body_becomes_a_place_order_command_and_back() -> None:
    command = place_order_from_json(GOOD, idempotency_key="k")
    assert command.lines[0].unit_price == Decimal("9.99") and command.idempotency_key == "k"
    assert place_order_to_json(command) == {**GOOD, "idempotency_key": "k"}


@pytest.mark.parametrize(("body", "field"), [
    ([], "body"),
    ({**GOOD, "customer_id": ""}, "customer_id"),
    ({**GOOD, "currency": "euro"}, "currency"),
    ({**GOOD, "lines": []}, "lines"),
    ({**GOOD, "lines": "x"}, "lines"),
    ({**GOOD, "lines": [{"sku": "A", "quantity": "2", "unit_price": "1"}]}, "lines[0].quantity"),
    ({**GOOD, "lines": [{"sku": "A", "quantity": True, "unit_price": "1"}]}, "lines[0].quantity"),
    ({**GOOD, "lines": [{"sku": "A", "quantity": 1, "unit_price": 9.99}]}, "lines[0].unit_price"),
    ({**GOOD, "lines": [{"sku": "A", "quantity": 1, "unit_price": "NaN"}]}, "lines[0].unit_price"),
    ({**GOOD, "lines": [{"sku": "", "quantity": 1, "unit_price": "1"}]}, "lines[0].sku"),
    ({**GOOD, "lines": [{"sku": "A", "quantity": 1, "unit_price": "1", "x": 1}]}, "lines[0].x"),
    ({**GOOD, "extra": 1}, "extra"),
])
def test_each_bad_field_is_named(body: Any, field: str) -> None:
    with pytest.raises(ValidationError) as info:
        place_order_from_json(body)
    assert info.value.field == field


def test_cancel_needs_an_order_and_a_reason() -> None:
    assert cancel_order_from_json({"order_id": "o", "reason": "r"}).order_id == "o"
    with pytest.raises(ValidationError) as info:
        cancel_order_from_json({"order_id": "o"})
    assert info.value.field == "reason"


# -- every bad field at once ----------------------------------------------------------------------

def test_every_bad_field_of_a_body_is_reported_at_once() -> None:
    body = {"customer_id": "", "currency": "euro", "colour": "red", "size": "L",
            "lines": [{"sku": "", "quantity": 0, "unit_price": "1.00"},
                      {"sku": "B", "quantity": "2", "unit_price": 9.99, "gift": True}],
            "idempotency_key": ""}
    with pytest.raises(InvalidFields) as info:
        place_order_from_json(body)
    assert [e.field for e in info.value.errors] == [
        "colour", "size", "customer_id", "currency", "lines[0].sku", "lines[0].quantity",
        "lines[1].gift", "lines[1].quantity", "lines[1].unit_price", "idempotency_key"]
    assert str(info.value) == "; ".join(str(e) for e in info.value.errors)
    assert "\n" not in str(info.value), "the CLI prints it on one line"


def test_one_bad_field_is_a_plain_validation_error() -> None:
    with pytest.raises(ValidationError) as info:
        place_order_from_json({**GOOD, "customer_id": " "})
    assert type(info.value) is ValidationError and info.value.field == "customer_id"


def test_the_aggregates_rules_are_reported_with_the_line_they_concern() -> None:
    body = {**GOOD, "lines": [{"sku": "SKU-1", "quantity": 1001, "unit_price": "1"}]}
    with pytest.raises(ValidationError) as info:
        place_order_from_json(body)
    assert (info.value.field, info.value.message) == ("lines[0].quantity", "SKU-1: must be 1..1000, got 1001")


def test_a_rule_of_the_whole_order_comes_with_the_other_bad_fields() -> None:
    body = {**GOOD, "customer_id": "", "lines": [{"sku": "A", "quantity": 600, "unit_price": "1"},
                                                 {"sku": "A", "quantity": 600, "unit_price": "1.00"}]}
    with pytest.raises(InvalidFields) as info:
        place_order_from_json(body)
    assert [(e.field, e.message) for e in info.value.errors] == [
        ("customer_id", "is required and must be a non-empty string"),
        ("quantity", "A: must be 1..1000, got 1200")]


def test_cancel_names_both_missing_fields() -> None:
    with pytest.raises(InvalidFields) as info:
        cancel_order_from_json({"x": 1})
    assert [e.field for e in info.value.errors] == ["x", "order_id", "reason"]


# -- money on the wire ----------------------------------------------------------------------------

@pytest.mark.parametrize(("currency", "price", "parsed", "shown"), [
    ("EUR", "9.9", "9.90", "9.90"), ("EUR", "1000", "1000.00", "1000.00"), ("EUR", "0.5", "0.50", "0.50"),
    ("JPY", "500", "500", "500"), ("KWD", "1.25", "1.250", "1.250"), ("CLF", "0.0001", "0.0001", "0.0001"),
    ("XYZ", "1.5", "1.50", "1.50"),
])
def test_a_price_is_held_with_exactly_its_currencys_decimals(currency: str, price: str, parsed: str,
                                                             shown: str) -> None:
    command = place_order_from_json({**GOOD, "currency": currency,
                                     "lines": [{"sku": "S", "quantity": 1, "unit_price": price}]})
    assert str(command.lines[0].unit_price) == parsed
    assert place_order_to_json(command)["lines"][0]["unit_price"] == shown


@pytest.mark.parametrize(("currency", "price", "message"), [
    ("EUR", "9.999", "S: EUR has at most 2 decimals, got 9.999"),
    ("EUR", "9.990", "S: EUR has at most 2 decimals, got 9.990"),
    ("EUR", "0.0000001", "S: EUR has at most 2 decimals, got 0.0000001"),
    ("JPY", "1.0", "S: JPY has no decimals, got 1.0"),
    ("EUR", "1e3", "S: must be written out in plain digits, without an exponent: got '1e3'"),
    ("EUR", "2E-7", "S: must be written out in plain digits, without an exponent: got '2E-7'"),
    ("EUR", "-1", "S: must be greater than 0, got -1"),
    ("EUR", "0", "S: must be greater than 0, got 0"),
    ("EUR", "09.99", "S: must have no leading zeros, got '09.99'"),
    ("EUR", " 9.99", "S: must be a decimal number like \"9.99\", got ' 9.99'"),
    ("EUR", "1_000", "S: must be a decimal number like \"9.99\", got '1_000'"),
    ("EUR", "Infinity", "S: must be a decimal number like \"9.99\", got 'Infinity'"),
    ("EUR", "1234567890123", "S: at most 12 digits before the point, got 1234567890123"),
    ("EUR", 5, "must be a decimal string like \"9.99\", not int 5"),
])
def test_a_price_the_currency_cannot_hold_is_refused_with_why(currency: str, price: object, message: str) -> None:
    with pytest.raises(ValidationError) as info:
        place_order_from_json({**GOOD, "currency": currency,
                               "lines": [{"sku": "S", "quantity": 1, "unit_price": price}]})
    assert (info.value.field, info.value.message) == ("lines[0].unit_price", message)


@settings(max_examples=300)
@given(st.sampled_from(["EUR", "JPY", "KWD", "CLF", "USD"]), st.lists(
    st.tuples(st.sampled_from(["A", "B", "C", "D"]), st.integers(1, 250), st.integers(1, 10**12 - 1)),
    min_size=1, max_size=12))
def test_a_parsed_body_goes_back_to_the_same_json(currency: str, raw: list[tuple[str, int, int]]) -> None:
    places = minor_unit(currency)
    lines = [{"sku": sku, "quantity": qty, "unit_price": format_amount(Decimal(cents).scaleb(-places), currency)}
             for sku, qty, cents in raw]
    lines = [ln for n, ln in enumerate(lines) if all(o["sku"] != ln["sku"] for o in lines[:n])]  # one price a SKU
    body = {"customer_id": "c", "currency": currency, "lines": lines}
    assert place_order_to_json(place_order_from_json(body)) == body
