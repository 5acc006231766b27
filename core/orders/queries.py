"""Queries of the orders context and the read-side shapes they return (CQRS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from core.kernel.messages import Query
from core.kernel.views import Page, View, sort_time
from core.orders.events import PlacedLine
from core.orders.model import OrderStatus

MAX_PAGE = 500


@dataclass(frozen=True, kw_only=True)
class OrderQuery(Query, context="orders"):
    """Base of the orders context's queries."""


@dataclass(frozen=True, kw_only=True)
class GetOrder(OrderQuery):
    order_id: str


@dataclass(frozen=True, kw_only=True)
class ListOrders(OrderQuery):
    customer_id: str | None = None
    status: OrderStatus | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class SagaStatus:
    """The saga that decides an order's fate (placing it, or undoing an approved one), as the
    order's readers see it: "pending: waiting for payments"."""

    saga_id: str
    definition: str
    state: str
    summary: str

    def to_json(self) -> dict[str, Any]:
        return {"id": self.saga_id, "definition": self.definition, "state": self.state, "summary": self.summary}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SagaStatus:
        return cls(saga_id=str(data["id"]), definition=str(data["definition"]), state=str(data["state"]),
                   summary=str(data["summary"]))


@dataclass(frozen=True, kw_only=True)
class OrderSummary:
    """One document of the read model: what a list of orders shows."""

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
    # Read with the order (GetOrder), never stored in the view: a saga changes without the order.
    saga: SagaStatus | None = None

    def to_json(self) -> dict[str, Any]:
        """The summary as every door shows it (CLI --json, REST, the stores' documents)."""
        shown = {
            "order_id": self.order_id, "customer_id": self.customer_id, "status": self.status.value,
            "total": str(self.total), "currency": self.currency, "line_count": self.line_count,
            "lines": [ln.to_json() for ln in self.lines], "reason": self.reason, "version": self.version,
            "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat(),
        }
        if self.saga is not None:
            shown["saga"] = self.saga.to_json()
        return shown

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderSummary:
        return cls(
            order_id=data["order_id"], customer_id=data["customer_id"], status=OrderStatus(data["status"]),
            total=Decimal(data["total"]), currency=data["currency"], line_count=int(data["line_count"]),
            created_at=datetime.fromisoformat(data["created_at"]),
            updated_at=datetime.fromisoformat(data["updated_at"]), version=int(data["version"]),
            reason=data.get("reason"),
            lines=tuple(PlacedLine(ln["sku"], int(ln["quantity"]), Decimal(ln["unit_price"])) for ln in data["lines"]),
            # What an order read over HTTP (attach mode) carries; never in a stored document.
            saga=SagaStatus.from_json(data["saga"]) if data.get("saga") else None,
        )


OrderPage = Page[OrderSummary]

SUMMARIES = View[OrderSummary](
    name="orders.summaries",
    key=lambda s: s.order_id,
    sort=lambda s: sort_time(s.created_at),
    filters=("customer_id", "status"),
    tags=lambda s: (s.customer_id, s.status.value),
    to_json=OrderSummary.to_json,
    from_json=OrderSummary.from_json,
)
