"""Rows <-> domain objects. The domain knows nothing of tables; this module is the mapping."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from core.kernel.envelope import OutboxRecord, StoredEvent
from core.kernel.messages import DomainEvent, event_from_dict
from core.orders.events import PlacedLine
from core.orders.model import Money, Order, OrderLine, OrderStatus
from core.orders.queries import OrderSummary


def order_values(order: Order) -> dict[str, Any]:
    return {
        "id": order.id, "customer_id": order.customer_id, "currency": order.currency,
        "status": order.status.value, "version": order.version, "created_at": order.created_at,
        "updated_at": order.updated_at, "reason": order.reason, "idempotency_key": order.idempotency_key,
    }


def line_values(order: Order) -> list[dict[str, Any]]:
    return [{"order_id": order.id, "line_no": number, "sku": line.sku, "quantity": line.quantity,
             "unit_price": str(line.unit_price.amount)}
            for number, line in enumerate(order.lines, start=1)]


def order_from_rows(row: Row[Any], lines: Sequence[Row[Any]]) -> Order:
    currency = row.currency
    return Order(
        order_id=row.id, customer_id=row.customer_id, currency=currency,
        lines=tuple(OrderLine(ln.sku, ln.quantity, Money(Decimal(ln.unit_price), currency)) for ln in lines),
        status=OrderStatus(row.status), version=row.version, created_at=row.created_at,
        updated_at=row.updated_at, reason=row.reason, idempotency_key=row.idempotency_key,
    )


def summary_values(summary: OrderSummary) -> dict[str, Any]:
    return {
        "order_id": summary.order_id, "customer_id": summary.customer_id, "status": summary.status.value,
        "total": str(summary.total), "currency": summary.currency, "line_count": summary.line_count,
        "created_at": summary.created_at, "updated_at": summary.updated_at, "version": summary.version,
        "reason": summary.reason, "lines": json.dumps([ln.to_json() for ln in summary.lines]),
    }


def summary_from_row(row: Row[Any]) -> OrderSummary:
    return OrderSummary(
        order_id=row.order_id, customer_id=row.customer_id, status=OrderStatus(row.status),
        total=Decimal(row.total), currency=row.currency, line_count=row.line_count,
        created_at=row.created_at, updated_at=row.updated_at, version=row.version, reason=row.reason,
        lines=tuple(PlacedLine(ln["sku"], int(ln["quantity"]), Decimal(ln["unit_price"]))
                    for ln in json.loads(row.lines)),
    )


def outbox_values(record: OutboxRecord) -> dict[str, Any]:
    return {
        "event_id": record.event_id, "aggregate_id": record.aggregate_id,
        "aggregate_version": record.aggregate_version, "type": record.type, "payload": record.payload,
        "created_at": record.created_at, "published_at": record.published_at,
    }


def outbox_from_row(row: Row[Any]) -> OutboxRecord:
    return OutboxRecord(
        seq=row.seq, event_id=row.event_id, aggregate_id=row.aggregate_id,
        aggregate_version=row.aggregate_version, type=row.type, payload=row.payload,
        created_at=row.created_at, published_at=row.published_at,
    )


def event_values(event: DomainEvent) -> dict[str, Any]:
    return {
        "stream_id": event.aggregate_id, "version": event.aggregate_version, "event_id": event.event_id,
        "type": event.type, "occurred_at": event.occurred_at,
        "payload": json.dumps(event.to_dict(), separators=(",", ":"), sort_keys=True),
    }


def event_from_row(row: Row[Any]) -> DomainEvent:
    return event_from_dict(json.loads(row.payload))


def stored_event_from_row(row: Row[Any]) -> StoredEvent:
    return StoredEvent(position=row.position, event=event_from_row(row))
