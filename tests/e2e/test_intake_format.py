"""The command message format the intake reads (README "Messaging"), and the replies it writes."""

from __future__ import annotations

import json

import pytest

from adapters.inbound.kafka.wire import accepted, parse_command, rejected
from core.kernel.errors import NotFound, ValidationError
from core.orders.commands import CancelOrder, PlaceOrder

PLACE = {"customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}


def test_the_readme_example_is_a_place_order() -> None:
    command = parse_command(json.dumps({"type": "PlaceOrder", **PLACE}).encode(), {})
    assert isinstance(command, PlaceOrder) and command.customer_id == "c-1" and command.lines[0].quantity == 2


def test_the_type_may_come_in_a_header() -> None:
    assert isinstance(parse_command(json.dumps(PLACE).encode(), {"type": "PlaceOrder"}), PlaceOrder)
    body = {"order_id": "o-1", "reason": "changed mind"}
    assert parse_command(json.dumps(body).encode(), {"type": "CancelOrder"}) == CancelOrder(order_id="o-1",
                                                                                            reason="changed mind")


def test_the_idempotency_key_header_wins_over_the_field() -> None:
    body = json.dumps({"type": "PlaceOrder", **PLACE, "idempotency_key": "field"}).encode()
    command = parse_command(body, {"idempotency_key": "header"})
    assert isinstance(command, PlaceOrder) and command.idempotency_key == "header"


@pytest.mark.parametrize(("payload", "field", "text"), [
    (b"\xff\xfe", "message", "not a JSON document"),
    (b"[1, 2]", "message", "must be a JSON object, got list"),
    (b'{"customer_id": "c"}', "type", "got None"),
    (b'{"type": "ShipOrder", "order_id": "o"}', "type", "'ShipOrder'"),
    (b'{"type": "PlaceOrder", "customer_id": "c", "lines": [], "extra": 1}', "extra", "unknown field"),
    (b'{"type": "CancelOrder", "order_id": "o"}', "reason", "required"),
])
def test_a_bad_message_names_what_is_wrong(payload: bytes, field: str, text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_command(payload, {})
    assert caught.value.field == field and text in str(caught.value)


def test_replies_say_accepted_with_the_order_or_rejected_with_the_reason() -> None:
    command = parse_command(json.dumps({"type": "PlaceOrder", **PLACE}).encode(), {})
    assert json.loads(accepted("m-1", command, "o-9")) == {"message_id": "m-1", "command": "PlaceOrder",
                                                          "status": "accepted", "order_id": "o-9"}
    assert json.loads(accepted("m-1", command, "o-9", duplicate=True))["duplicate"] is True
    assert json.loads(rejected("m-2", "CancelOrder", NotFound("order", "o-0"))) == {
        "message_id": "m-2", "command": "CancelOrder", "status": "rejected", "reason": "order 'o-0' not found",
        "error": "NotFound"}
