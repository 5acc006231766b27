"""What the REST adapter sends: JSON shapes of orders, events and ports, and the pydantic models
that document them in OpenAPI. The models describe; core's wire parser is what validates input."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from core.kernel.messages import DomainEvent
from core.orders.model import MAX_LINES, MAX_QUANTITY, MIN_QUANTITY, OrderStatus
from core.orders.queries import OrderPage
from core.orders.wire import MAX_KEY_LENGTH
from ports.control import OutboxStatus, PortInfo


class OrderLineOut(BaseModel):
    sku: str
    quantity: int
    unit_price: str


class OrderOut(BaseModel):
    order_id: str
    customer_id: str
    status: OrderStatus
    total: str
    currency: str
    line_count: int
    lines: list[OrderLineOut]
    reason: str | None
    version: int
    created_at: datetime
    updated_at: datetime


class OrderPageOut(BaseModel):
    items: list[OrderOut]
    next_cursor: str | None


class EventOut(BaseModel):
    type: str
    event_id: str
    aggregate_id: str
    aggregate_version: int
    occurred_at: datetime
    payload: dict[str, Any]


class PortOut(BaseModel):
    port: str
    active: str
    available: list[str]
    switchable: bool


class OutboxOut(BaseModel):
    pending: int
    lag_seconds: float | None
    relay_running: bool
    relay_paused: bool


class OutboxRowOut(BaseModel):
    seq: int
    event_id: str
    aggregate_id: str
    aggregate_version: int
    type: str
    payload: str
    topic: str
    created_at: datetime
    published_at: datetime | None


class RebuiltOut(BaseModel):
    rebuilt_from: int


class HealthOut(BaseModel):
    status: str


class ReadyOut(BaseModel):
    status: str
    checks: dict[str, str]


_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}
# The wire format (core/orders/wire.py) as a JSON schema, for clients and the fuzzer; the parser
# in core stays the single judge of what is valid.
PLACE_ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["customer_id", "lines"],
    "additionalProperties": False,
    "properties": {
        "customer_id": _TEXT,
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "default": "EUR"},
        "lines": {
            "type": "array", "minItems": 1, "maxItems": MAX_LINES,
            "items": {
                "type": "object",
                "required": ["sku", "quantity", "unit_price"],
                "additionalProperties": False,
                "properties": {
                    "sku": _TEXT,
                    "quantity": {"type": "integer", "minimum": MIN_QUANTITY, "maximum": MAX_QUANTITY},
                    "unit_price": {"type": "string", "pattern": r"^[1-9][0-9]{0,6}(\.[0-9]{1,2})?$",
                                   "description": "a decimal string; money is never a float"},
                },
            },
        },
        "idempotency_key": {"anyOf": [{"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
                                      {"type": "null"}],
                            "description": "prefer the Idempotency-Key header; if both are given they must agree"},
    },
    "example": {"customer_id": "c-1", "currency": "EUR",
                "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}]},
}
REASON_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["reason"], "additionalProperties": False,
    "properties": {"reason": _TEXT}, "example": {"reason": "changed my mind"},
}


SWITCH_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["adapter"], "additionalProperties": False,
    "properties": {"adapter": {"type": "string", "minLength": 1}}, "example": {"adapter": "sqlite"},
}


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}



def page_json(page: OrderPage) -> dict[str, Any]:
    return {"items": [s.to_json() for s in page.items], "next_cursor": page.next_cursor}


def event_json(event: DomainEvent) -> dict[str, Any]:
    return event.to_dict()


def port_json(p: PortInfo) -> dict[str, Any]:
    return p.to_json()



def outbox_json(s: OutboxStatus) -> dict[str, Any]:
    return s.to_json()
