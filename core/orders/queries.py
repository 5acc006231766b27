"""Queries of the orders context and the read-side shapes they return (CQRS)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.errors import ValidationError
from core.messages import Query
from core.orders.events import PlacedLine
from core.orders.model import OrderStatus

MAX_PAGE = 500


@dataclass(frozen=True, kw_only=True)
class GetOrder(Query):
    order_id: str


@dataclass(frozen=True, kw_only=True)
class ListOrders(Query):
    customer_id: str | None = None
    status: OrderStatus | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class OrderSummary:
    """One row of the read model: what a list of orders shows."""

    order_id: str
    customer_id: str
    status: OrderStatus
    total: Decimal
    currency: str
    line_count: int
    created_at: datetime
    updated_at: datetime
    version: int
    lines: tuple[PlacedLine, ...] = ()
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary as every door shows it (CLI --json, REST, the file store's records)."""
        return {
            "order_id": self.order_id, "customer_id": self.customer_id, "status": self.status.value,
            "total": str(self.total), "currency": self.currency, "line_count": self.line_count,
            "lines": [ln.to_json() for ln in self.lines], "reason": self.reason, "version": self.version,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderSummary:
        return cls(
            order_id=data["order_id"], customer_id=data["customer_id"], status=OrderStatus(data["status"]),
            total=Decimal(data["total"]), currency=data["currency"], line_count=int(data["line_count"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]), version=int(data["version"]),
            reason=data.get("reason"),
            lines=tuple(PlacedLine(ln["sku"], int(ln["quantity"]), Decimal(ln["unit_price"])) for ln in data["lines"]),
        )


@dataclass(frozen=True, kw_only=True)
class OrderPage:
    """A page of summaries, newest first; `next_cursor` is None on the last page."""

    items: tuple[OrderSummary, ...]
    next_cursor: str | None


def encode_cursor(summary: OrderSummary) -> str:
    """An opaque cursor pointing just after `summary` in newest-first order."""
    raw = f"{summary.created_at.isoformat()}|{summary.order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (created_at, order_id) a cursor points after; ValidationError('cursor') if malformed."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created_at, order_id = raw.split("|", 1)
        when = datetime.fromisoformat(created_at)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationError("cursor", "is not a cursor this service returned") from exc
    if when.tzinfo is None:  # every stored time is aware; a naive one cannot be compared with them
        raise ValidationError("cursor", "is not a cursor this service returned")
    return when, order_id


def sort_key(summary: OrderSummary) -> tuple[datetime, str]:
    return summary.created_at, summary.order_id
