"""The bounds every string a command carries keeps (core/kernel/fields.py): at most MAX_TEXT_LENGTH
characters, encodable as UTF-8, no NUL; refused with a ValidationError naming the field whose
message can itself be encoded, whichever context's wire format or command it came through."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.inventory.commands import ReleaseStock, ReserveStock, Restock
from core.inventory.events import StockLine
from core.inventory.wire import reserve_stock_from_json, restock_from_json
from core.kernel.errors import InvalidFields, ValidationError
from core.kernel.fields import MAX_TEXT_LENGTH, bounded_text, json_object, required_string
from core.orders.commands import CancelOrder, LineItem, PlaceOrder, RejectOrder
from core.orders.wire import cancel_order_from_json, place_order_from_json
from core.payments.commands import AuthorizePayment, OpenAccount
from core.payments.wire import authorize_payment_from_json, open_account_from_json
from core.shipping.commands import CancelShipment, ScheduleShipment
from core.shipping.model import MAX_ADDRESS
from core.shipping.wire import cancel_shipment_from_json, schedule_shipment_from_json

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
# Text every store keeps: any code point but the surrogates and NUL.
STORABLE = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), min_size=1,
                   max_size=MAX_TEXT_LENGTH)
LONG = "x" * (MAX_TEXT_LENGTH + 1)
ORDER = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}


def refused(parse: Callable[[], object]) -> list[ValidationError]:
    """Every field `parse` refuses; each message must be printable in UTF-8 and short."""
    with pytest.raises(ValidationError) as caught:
        parse()
    errors = caught.value.errors if isinstance(caught.value, InvalidFields) else [caught.value]
    for error in errors:
        str(error).encode("utf-8")  # a lone surrogate echoed here would break the very reply
        assert len(str(error)) < 300, "the message does not echo the value"
    return errors


@given(STORABLE)
def test_any_text_within_the_bound_that_utf8_encodes_is_kept_unchanged(text: str) -> None:
    assert bounded_text(text, "f") is text


@given(st.text(min_size=0, max_size=50), SURROGATES, st.text(max_size=50))
def test_a_lone_surrogate_anywhere_is_refused_naming_the_field_and_its_position(
        before: str, surrogate: str, after: str) -> None:
    text = before + surrogate + after
    [error] = refused(lambda: bounded_text(text, "customer_id"))
    assert error.field == "customer_id" and "UTF-8" in error.message
    first = next(n for n, c in enumerate(text) if 0xD800 <= ord(c) <= 0xDFFF or c == "\x00")
    assert f"character {first + 1} is U+{ord(text[first]):04X}" in error.message


def test_one_character_over_the_bound_is_refused_with_its_length() -> None:
    assert bounded_text(LONG[:-1], "sku") == LONG[:-1]
    [error] = refused(lambda: bounded_text(LONG, "sku"))
    assert (error.field, error.message) == ("sku", f"must be at most {MAX_TEXT_LENGTH} characters, got 201")


def test_ten_megabytes_are_refused_without_being_echoed() -> None:
    [error] = refused(lambda: required_string("c" * 10_000_000, "customer_id"))
    assert error.message == "must be at most 200 characters, got 10000000"


def test_nul_is_refused_because_postgresql_text_cannot_hold_it() -> None:
    [error] = refused(lambda: required_string("c\x00", "customer_id"))
    assert "U+0000" in error.message and "NUL" in error.message


def test_an_unknown_field_whose_name_no_store_could_write_is_named_escaped() -> None:
    [error] = refused(lambda: json_object({"c\ud800" + "y" * 500: 1}, {"a"}))
    assert error.field.startswith("c\\ud800yyy") and len(error.field) < 80


HOSTILE: list[tuple[str, Callable[[Any], object], dict[str, Any], str]] = [
    # (what, the wire parser, the body, the field it must name)
    ("customer id", place_order_from_json, {**ORDER, "customer_id": "c\ud800"}, "customer_id"),
    ("customer id", place_order_from_json, {**ORDER, "customer_id": LONG}, "customer_id"),
    ("sku", place_order_from_json, {**ORDER, "lines": [{**ORDER["lines"][0], "sku": "S\ud800"}]}, "lines[0].sku"),
    ("sku", place_order_from_json, {**ORDER, "lines": [{**ORDER["lines"][0], "sku": LONG}]}, "lines[0].sku"),
    ("key", place_order_from_json, {**ORDER, "idempotency_key": "k\udfff"}, "idempotency_key"),
    ("key", place_order_from_json, {**ORDER, "idempotency_key": LONG}, "idempotency_key"),
    ("order id", cancel_order_from_json, {"order_id": LONG, "reason": "r"}, "order_id"),
    ("reason", cancel_order_from_json, {"order_id": "o", "reason": "r\ud800"}, "reason"),
    ("reason", cancel_order_from_json, {"order_id": "o", "reason": LONG}, "reason"),
    ("sku", restock_from_json, {"sku": "S\ud800", "quantity": 1}, "sku"),
    ("sku", restock_from_json, {"sku": LONG, "quantity": 1}, "sku"),
    ("sku", reserve_stock_from_json, {"order_id": "o", "lines": [{"sku": LONG, "quantity": 1}]}, "lines[0].sku"),
    ("order id", reserve_stock_from_json, {"order_id": "o\ud800", "lines": [{"sku": "S", "quantity": 1}]},
     "order_id"),
    ("customer id", open_account_from_json, {"customer_id": LONG, "credit_limit": "5.00"}, "customer_id"),
    ("customer id", authorize_payment_from_json, {"order_id": "o", "customer_id": "c\ud800", "amount": "1.00"},
     "customer_id"),
    ("customer id", schedule_shipment_from_json, {"order_id": "o", "customer_id": LONG}, "customer_id"),
    ("address", schedule_shipment_from_json, {"order_id": "o", "customer_id": "c", "address": "1 Main\ud800"},
     "address"),
    ("address", schedule_shipment_from_json, {"order_id": "o", "customer_id": "c", "address": "a" * 501},
     "address"),
    ("reason", cancel_shipment_from_json, {"order_id": "o", "reason": LONG}, "reason"),
]


@pytest.mark.parametrize(("what", "parse", "body", "field"), HOSTILE,
                         ids=[f"{p.__name__}-{f}-{'long' if LONG in str(b) else 'bad'}" for _, p, b, f in HOSTILE])
def test_every_contexts_wire_format_refuses_a_hostile_string_naming_its_field(
        what: str, parse: Callable[[Any], object], body: dict[str, Any], field: str) -> None:
    assert [e.field for e in refused(lambda: parse(body))] == [field]


def test_every_bad_string_of_one_body_is_named_at_once() -> None:
    body = {"customer_id": LONG, "currency": "EUR", "idempotency_key": "k\ud800",
            "lines": [{"sku": "S\ud800", "quantity": 1, "unit_price": "1"}]}
    assert {e.field for e in refused(lambda: place_order_from_json(body))} == {
        "customer_id", "idempotency_key", "lines[0].sku"}


def test_a_header_idempotency_key_is_held_to_the_same_bound() -> None:
    [error] = refused(lambda: place_order_from_json(ORDER, idempotency_key="k\ud800"))
    assert error.field == "idempotency_key"


COMMANDS: list[tuple[Callable[[], object], str]] = [
    # Doors that build a command themselves (the CLI's cancel, the dashboard, a path parameter).
    (lambda: PlaceOrder(customer_id=LONG, currency="EUR", lines=()), "customer_id"),
    (lambda: PlaceOrder(customer_id="c", currency="EUR", lines=(), idempotency_key="k\ud800"), "idempotency_key"),
    (lambda: LineItem(sku="S\ud800", quantity=1, unit_price=Decimal(1)), "sku"),
    (lambda: CancelOrder(order_id="o", reason=LONG), "reason"),
    (lambda: RejectOrder(order_id=LONG, reason="r"), "order_id"),
    (lambda: Restock(sku=LONG, quantity=1), "sku"),
    (lambda: ReserveStock(order_id="o", lines=(StockLine("S\ud800", 1),)), "lines[0].sku"),
    (lambda: ReleaseStock(order_id="o\x00"), "order_id"),
    (lambda: OpenAccount(customer_id=LONG, credit_limit=Decimal(1), currency="EUR"), "customer_id"),
    (lambda: AuthorizePayment(order_id="o", customer_id="c\ud800", amount=Decimal(1), currency="EUR"),
     "customer_id"),
    (lambda: ScheduleShipment(order_id="o", customer_id="c", address="a" * (MAX_ADDRESS + 1)), "address"),
    (lambda: CancelShipment(order_id="o", reason="r\ud800"), "reason"),
]


@pytest.mark.parametrize(("build", "field"), COMMANDS, ids=[f for _, f in COMMANDS])
def test_every_contexts_commands_refuse_a_hostile_string_on_construction(
        build: Callable[[], object], field: str) -> None:
    assert [e.field for e in refused(build)] == [field]


def test_an_address_may_be_longer_than_an_id() -> None:
    address = "a" * MAX_ADDRESS
    assert ScheduleShipment(order_id="o", customer_id="c", address=address).address == address
