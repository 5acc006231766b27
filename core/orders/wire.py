"""The one JSON wire format for order commands, shared by every inbound adapter.

CLI, REST and Kafka all hand a decoded JSON object here, so a bad field gets the same
message whichever door it came through.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.kernel.errors import ValidationError
from core.orders.commands import CancelOrder, LineItem, PlaceOrder
from core.orders.model import MAX_LINES, parse_amount, parse_currency

MAX_KEY_LENGTH = 200


def place_order_from_json(data: Any, idempotency_key: str | None = None) -> PlaceOrder:
    """`{"customer_id", "currency", "lines": [{"sku", "quantity", "unit_price"}]}` -> PlaceOrder."""
    obj = _object(data, "body")
    _no_extra(obj, {"customer_id", "currency", "lines", "idempotency_key"}, "")
    customer_id = _string(obj.get("customer_id"), "customer_id")
    currency = parse_currency(obj.get("currency", "EUR"))
    raw_lines = obj.get("lines")
    if not isinstance(raw_lines, list) or not raw_lines:
        raise ValidationError("lines", "must be a non-empty list of {sku, quantity, unit_price}")
    if len(raw_lines) > MAX_LINES * 10:
        raise ValidationError("lines", f"too many lines ({len(raw_lines)})")
    lines = tuple(_line(raw, f"lines[{i}]") for i, raw in enumerate(raw_lines))
    key = idempotency_key if idempotency_key is not None else obj.get("idempotency_key")
    if key is not None:
        key = _string(key, "idempotency_key")
        if len(key) > MAX_KEY_LENGTH:
            raise ValidationError("idempotency_key", f"at most {MAX_KEY_LENGTH} characters")
    return PlaceOrder(customer_id=customer_id, currency=currency, lines=lines, idempotency_key=key)


def cancel_order_from_json(data: Any) -> CancelOrder:
    """`{"order_id", "reason"}` -> CancelOrder."""
    obj = _object(data, "body")
    _no_extra(obj, {"order_id", "reason"}, "")
    return CancelOrder(order_id=_string(obj.get("order_id"), "order_id"), reason=_string(obj.get("reason"), "reason"))


def place_order_to_json(command: PlaceOrder) -> dict[str, Any]:
    """The inverse of `place_order_from_json`, for clients and tests that send commands."""
    body: dict[str, Any] = {
        "customer_id": command.customer_id,
        "currency": command.currency,
        "lines": [{"sku": ln.sku, "quantity": ln.quantity, "unit_price": str(ln.unit_price)} for ln in command.lines],
    }
    if command.idempotency_key is not None:
        body["idempotency_key"] = command.idempotency_key
    return body


def _line(raw: Any, where: str) -> LineItem:
    obj = _object(raw, where)
    _no_extra(obj, {"sku", "quantity", "unit_price"}, where + ".")
    quantity = obj.get("quantity")
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise ValidationError(f"{where}.quantity", f"must be a whole number, got {quantity!r}")
    return LineItem(
        sku=_string(obj.get("sku"), f"{where}.sku"),
        quantity=quantity,
        unit_price=parse_amount(obj.get("unit_price"), f"{where}.unit_price"),
    )


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(where, f"must be a JSON object, got {type(value).__name__}")
    return value


def _string(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "is required and must be a non-empty string")
    return value


def _no_extra(obj: Mapping[str, Any], allowed: set[str], prefix: str) -> None:
    extra = sorted(set(obj) - allowed)
    if extra:
        raise ValidationError(prefix + extra[0], f"unknown field; allowed: {', '.join(sorted(allowed))}")
