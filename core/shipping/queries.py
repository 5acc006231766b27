"""Queries of the shipping context and the read-side shapes they return (CQRS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.kernel.messages import Query
from core.kernel.views import Page, View, sort_time
from core.shipping.model import ShipmentStatus

MAX_PAGE = 500


@dataclass(frozen=True, kw_only=True)
class ShippingQuery(Query, context="shipping"):
    """Base of the shipping context's queries."""


@dataclass(frozen=True, kw_only=True)
class GetShipment(ShippingQuery):
    order_id: str


@dataclass(frozen=True, kw_only=True)
class ListShipments(ShippingQuery):
    customer_id: str | None = None
    status: ShipmentStatus | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class ShipmentSummary:
    order_id: str
    customer_id: str
    address: str | None
    status: ShipmentStatus
    reason: str | None
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "customer_id": self.customer_id, "address": self.address,
                "status": self.status.value, "reason": self.reason, "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShipmentSummary:
        return cls(order_id=data["order_id"], customer_id=data["customer_id"], address=data.get("address"),
                   status=ShipmentStatus(data["status"]), reason=data.get("reason"),
                   created_at=datetime.fromisoformat(data["created_at"]),
                   updated_at=datetime.fromisoformat(data["updated_at"]))


ShipmentPage = Page[ShipmentSummary]

SHIPMENTS = View[ShipmentSummary](
    name="shipping.shipments",
    key=lambda s: s.order_id,
    sort=lambda s: sort_time(s.created_at),
    filters=("customer_id", "status"),
    tags=lambda s: (s.customer_id, s.status.value),
    to_json=ShipmentSummary.to_json,
    from_json=ShipmentSummary.from_json,
)
