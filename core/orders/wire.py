"""The one JSON wire format for order commands, shared by every inbound adapter.

CLI, REST, Kafka and the dashboard all hand a decoded JSON object here, so a bad field gets the
same message whichever door it came through. Every bad field of a body is reported: one as a
ValidationError, several as InvalidFields (its `.errors` holds one ValidationError per field).

`place_order_schema()` is the same format as a JSON Schema, built from the definitions the parser
uses (the fields, the limits, the unit-price pattern per currency), for the OpenAPI document.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from core.kernel.errors import ValidationError
from core.kernel.fields import MAX_TEXT_LENGTH, FieldErrors, json_object, required_string
from core.kernel.money import (
    DEFAULT_MINOR_UNIT,
    MINOR_UNITS,
    Money,
    format_amount,
    parse_currency,
    parse_unit_price,
    unit_price_pattern,
)
from core.orders.commands import ApproveOrder, CancelOrder, LineItem, PlaceOrder, RejectOrder
from core.orders.model import MAX_LINES, MAX_QUANTITY, MIN_QUANTITY, OrderLine, merge_lines, parse_quantity, parse_sku

MAX_KEY_LENGTH = MAX_TEXT_LENGTH
DEFAULT_CURRENCY = "EUR"
# Raw lines a body may carry before SKU repeats are merged (an order keeps at most MAX_LINES).
MAX_RAW_LINES = MAX_LINES * 10
PLACE_FIELDS = frozenset({"customer_id", "currency", "lines", "idempotency_key"})
LINE_FIELDS = frozenset({"sku", "quantity", "unit_price"})
CANCEL_FIELDS = frozenset({"order_id", "reason"})


def place_order_from_json(data: Any, idempotency_key: str | None = None) -> PlaceOrder:
    """`{"customer_id", "currency", "lines": [{"sku", "quantity", "unit_price"}]}` -> PlaceOrder.

    `idempotency_key` (a header's) is used when given, else the body's `idempotency_key`."""
    obj = _object(data, "body")
    errors = FieldErrors()
    errors.read(lambda: json_object(obj, set(PLACE_FIELDS)))
    customer_id = errors.read(lambda: required_string(obj.get("customer_id"), "customer_id"))
    currency: str | None = errors.read(lambda: parse_currency(obj.get("currency", DEFAULT_CURRENCY)))
    raw_lines = obj.get("lines")
    lines: list[LineItem | None] = []
    if not isinstance(raw_lines, list) or not raw_lines:
        errors.add("lines", "must be a non-empty list of {sku, quantity, unit_price}")
    elif len(raw_lines) > MAX_RAW_LINES:
        errors.add("lines", f"too many lines ({len(raw_lines)}); an order holds at most {MAX_LINES} SKUs")
    else:
        for n, raw in enumerate(raw_lines):
            lines.append(errors.read(lambda raw=raw, n=n: _line(raw, f"lines[{n}]", currency)))
    given = idempotency_key if idempotency_key is not None else obj.get("idempotency_key")
    key = errors.read(lambda: _key(given)) if given is not None else None
    valid_lines = [ln for ln in lines if ln is not None]
    if currency is not None and valid_lines and len(valid_lines) == len(lines):
        # What only the whole order shows (one SKU at two prices, too many SKUs, a SKU's merged
        # quantity over the limit): the aggregate's own rule, run here so it is reported together
        # with every other bad field rather than after they are fixed.
        errors.read(lambda: merge_lines(
            (OrderLine(ln.sku, ln.quantity, Money(ln.unit_price, currency)) for ln in valid_lines), currency))
    errors.done()  # raises unless every field is valid, so `currency` is a str from here on
    return PlaceOrder(customer_id=customer_id, currency=cast(str, currency), lines=tuple(valid_lines),
                      idempotency_key=key)


def cancel_order_from_json(data: Any) -> CancelOrder:
    """`{"order_id", "reason"}` -> CancelOrder."""
    obj = _object(data, "body")
    errors = FieldErrors()
    errors.read(lambda: json_object(obj, set(CANCEL_FIELDS)))
    order_id = errors.read(lambda: required_string(obj.get("order_id"), "order_id"))
    reason = errors.read(lambda: required_string(obj.get("reason"), "reason"))
    errors.done()
    return CancelOrder(order_id=order_id, reason=reason)


def approve_order_from_json(data: Any) -> ApproveOrder:
    """`{"order_id"}` -> ApproveOrder (what the place-order saga sends at its pivot)."""
    obj = _object(data, "body")
    errors = FieldErrors()
    errors.read(lambda: json_object(obj, {"order_id"}))
    order_id = errors.read(lambda: required_string(obj.get("order_id"), "order_id"))
    errors.done()
    return ApproveOrder(order_id=order_id)


def reject_order_from_json(data: Any) -> RejectOrder:
    """`{"order_id", "reason"}` -> RejectOrder (what the place-order saga sends when it compensated)."""
    cancel = cancel_order_from_json(data)
    return RejectOrder(order_id=cancel.order_id, reason=cancel.reason)


def place_order_to_json(command: PlaceOrder) -> dict[str, Any]:
    """The inverse of `place_order_from_json`, for clients and tests that send commands."""
    body: dict[str, Any] = {
        "customer_id": command.customer_id,
        "currency": command.currency,
        "lines": [{"sku": ln.sku, "quantity": ln.quantity, "unit_price": format_amount(ln.unit_price, command.currency)}
                  for ln in command.lines],
    }
    if command.idempotency_key is not None:
        body["idempotency_key"] = command.idempotency_key
    return body


def _line(raw: Any, where: str, currency: str | None) -> LineItem:
    obj = _object(raw, where)
    errors = FieldErrors()
    errors.read(lambda: json_object(obj, set(LINE_FIELDS), where))
    sku = errors.read(lambda: parse_sku(obj.get("sku"), f"{where}.sku"))
    quantity = errors.read(lambda: parse_quantity(obj.get("quantity"), f"{where}.quantity", sku))
    unit_price = errors.read(lambda: parse_unit_price(obj.get("unit_price"), f"{where}.unit_price", currency, sku))
    errors.done()
    return LineItem(sku=sku, quantity=quantity, unit_price=unit_price)


def _key(value: Any) -> str:
    return required_string(value, "idempotency_key", MAX_KEY_LENGTH)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(where, f"must be a JSON object, got {type(value).__name__}")
    return value


# -- the same format as a JSON Schema --------------------------------------------------------------

_TEXT: dict[str, Any] = {"type": "string", "minLength": 1, "maxLength": MAX_TEXT_LENGTH, "pattern": r"\S"}
EXAMPLE_PLACE_ORDER: dict[str, Any] = {
    "customer_id": "c-1", "currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]}


def place_order_schema() -> dict[str, Any]:
    """The PlaceOrder body as a JSON Schema (2020-12, as OpenAPI 3.1 uses it).

    A unit price's pattern depends on the order's currency (JPY "500", EUR "9.99", KWD "1.250"),
    so the schema picks it with one if/then per number of decimals; an absent currency is the
    default, EUR. Every pattern comes from `unit_price_pattern`, which the parser matches too."""
    by_places: dict[int, list[str]] = {}
    for code, places in sorted(MINOR_UNITS.items()):
        by_places.setdefault(places, []).append(code)
    loosest = max(*by_places, DEFAULT_MINOR_UNIT)

    def priced(places: int) -> dict[str, Any]:
        return {"properties": {"lines": {"items": {"properties": {"unit_price": {
            "pattern": unit_price_pattern(places)}}}}}}

    conditions: list[dict[str, Any]] = [
        {"if": {"required": ["currency"], "properties": {"currency": {"enum": codes}}}, "then": priced(places)}
        for places, codes in sorted(by_places.items())
    ]
    listed = sorted(MINOR_UNITS)
    conditions.append({"if": {"properties": {"currency": {"not": {"enum": listed}}}},
                       "then": priced(DEFAULT_MINOR_UNIT)})
    return {
        "type": "object",
        "required": ["customer_id", "lines"],
        "additionalProperties": False,
        "properties": {
            "customer_id": _TEXT,
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "default": DEFAULT_CURRENCY,
                         "description": "ISO 4217 code; it sets how many decimals unit prices may have "
                                        "(JPY 0, EUR 2, KWD 3)"},
            "lines": {
                "type": "array", "minItems": 1, "maxItems": MAX_RAW_LINES,
                "description": f"repeats of a SKU are merged (same price required); at most {MAX_LINES} SKUs",
                "items": {
                    "type": "object",
                    "required": sorted(LINE_FIELDS),
                    "additionalProperties": False,
                    "properties": {
                        "sku": _TEXT,
                        "quantity": {"type": "integer", "minimum": MIN_QUANTITY, "maximum": MAX_QUANTITY},
                        "unit_price": {"type": "string", "pattern": unit_price_pattern(loosest),
                                       "description": "a decimal string with at most the currency's decimals, "
                                                      "never a float or an exponent", "examples": ["9.99", "0.50"]},
                    },
                },
            },
            "idempotency_key": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH,
                                           "pattern": r"\S"}, {"type": "null"}],
                                "description": "prefer the Idempotency-Key header; if both are given they must agree"},
        },
        "allOf": conditions,
        "example": EXAMPLE_PLACE_ORDER,
    }


def cancel_schema() -> dict[str, Any]:
    """The body of cancel and reject over HTTP (the order id comes from the URL)."""
    return {"type": "object", "required": ["reason"], "additionalProperties": False,
            "properties": {"reason": _TEXT}, "example": {"reason": "changed my mind"}}
