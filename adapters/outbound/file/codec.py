"""JSON shapes of what the file store keeps: outbox rows, summaries and domain events."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from core.envelope import OutboxRecord
from core.orders.events import PlacedLine
from core.orders.model import OrderStatus
from core.orders.queries import OrderSummary


def outbox_to_json(record: OutboxRecord) -> dict[str, Any]:
    return {
        "seq": record.seq, "event_id": record.event_id, "aggregate_id": record.aggregate_id,
        "aggregate_version": record.aggregate_version, "type": record.type, "payload": record.payload,
        "created_at": record.created_at.isoformat(),
        "published_at": record.published_at.isoformat() if record.published_at else None,
    }


def outbox_from_json(data: dict[str, Any]) -> OutboxRecord:
    published = data["published_at"]
    return OutboxRecord(
        seq=int(data["seq"]), event_id=data["event_id"], aggregate_id=data["aggregate_id"],
        aggregate_version=int(data["aggregate_version"]), type=data["type"], payload=data["payload"],
        created_at=datetime.fromisoformat(data["created_at"]),
        published_at=datetime.fromisoformat(published) if published else None,
    )


def summary_to_json(summary: OrderSummary) -> dict[str, Any]:
    return {
        "order_id": summary.order_id, "customer_id": summary.customer_id, "status": summary.status.value,
        "total": str(summary.total), "currency": summary.currency, "line_count": summary.line_count,
        "created_at": summary.created_at.isoformat(), "updated_at": summary.updated_at.isoformat(),
        "version": summary.version, "lines": [ln.to_json() for ln in summary.lines], "reason": summary.reason,
    }


def summary_from_json(data: dict[str, Any]) -> OrderSummary:
    return OrderSummary(
        order_id=data["order_id"], customer_id=data["customer_id"], status=OrderStatus(data["status"]),
        total=Decimal(data["total"]), currency=data["currency"], line_count=int(data["line_count"]),
        created_at=datetime.fromisoformat(data["created_at"]), updated_at=datetime.fromisoformat(data["updated_at"]),
        version=int(data["version"]),
        lines=tuple(PlacedLine(ln["sku"], int(ln["quantity"]), Decimal(ln["unit_price"])) for ln in data["lines"]),
        reason=data["reason"],
    )
