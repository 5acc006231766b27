"""What the REST adapter sends: JSON shapes of orders, events and ports, and the pydantic models
that document them in OpenAPI. The models describe; core's wire parser is what validates input."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from core.kernel.envelope import OutboxRecord
from core.kernel.messages import DomainEvent
from core.orders.model import OrderStatus
from core.orders.queries import OrderPage
from core.orders.wire import cancel_schema, place_order_schema
from ports.control import OutboxStatus, PortInfo

ORDER_EXAMPLE: dict[str, Any] = {
    "order_id": "01a203b0-6c2f-7000-8381-7740352343a4", "customer_id": "c-1", "status": "PENDING",
    "total": "19.98", "currency": "EUR", "line_count": 1,
    "lines": [{"sku": "SKU-1", "quantity": 2, "unit_price": "9.99"}], "reason": None, "version": 1,
    "created_at": "2026-01-31T12:00:00+00:00", "updated_at": "2026-01-31T12:00:00+00:00",
}


class OrderLineOut(BaseModel):
    sku: str
    quantity: int
    unit_price: str


class SagaOut(BaseModel):
    """The saga deciding the order's fate (orchestration mode), e.g. "pending: waiting for payments"."""

    id: str
    definition: str
    state: str
    summary: str


class OrderOut(BaseModel):
    """An order as the read model holds it. Money is a decimal string in fixed point with the
    currency's decimals ("19.98" EUR, "500" JPY)."""

    model_config = ConfigDict(json_schema_extra={"examples": [ORDER_EXAMPLE]})

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
    saga: SagaOut | None = None


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


class ServiceOut(BaseModel):
    """A service of the served application: its process, its store's slot, adapter and health, and
    its outbox's backlog (null when the store does not answer). `consumer_lag` is not measured
    yet: always null."""

    service: str
    pid: int
    slot: str
    adapter: str
    health: str
    outbox_pending: int | None
    outbox_lag_seconds: float | None
    consumer_lag: int | None


class OutboxOut(BaseModel):
    pending: int
    lag_seconds: float | None
    relay_running: bool
    relay_paused: bool
    parked: int = 0


class OutboxRowOut(BaseModel):
    """An outbox row; `payload` is the message itself as a JSON object (what the relay publishes)."""

    seq: int
    event_id: str
    aggregate_id: str
    aggregate_version: int
    type: str
    payload: dict[str, Any]
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


# The wire format (core/orders/wire.py) as JSON Schemas, built there from the definitions its parser
# uses, for clients and the fuzzer; the parser in core stays the single judge of what is valid.
PLACE_ORDER_SCHEMA: dict[str, Any] = place_order_schema()
REASON_SCHEMA: dict[str, Any] = cancel_schema()


# Cursors are opaque: only one this service returned as `next_cursor` is accepted.
CURSOR_DESCRIPTION = ("the `next_cursor` of the previous page, as this service returned it; any other string "
                      "(one this service did not issue) is refused with 422 naming `cursor`")


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


def outbox_row_json(row: OutboxRecord) -> dict[str, Any]:
    """An outbox row with its payload as a JSON object rather than JSON text inside JSON. Rows hold
    serialized messages, so the payload always parses; text that does not (or is not an object)
    comes back under `text`, never as an error."""
    try:
        payload = json.loads(row.payload)
    except ValueError:
        payload = None
    return {**row.to_json(), "payload": payload if isinstance(payload, dict) else {"text": row.payload}}
