"""The one JSON wire format for commands: what every inbound adapter accepts and refuses."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from core.kernel.errors import ValidationError
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
