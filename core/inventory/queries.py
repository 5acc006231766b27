"""Queries of the inventory context and the read-side shapes they return (CQRS)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.inventory.events import Shortage, StockLine
from core.inventory.model import ReservationStatus
from core.kernel.messages import Query
from core.kernel.views import Page, View, sort_time

MAX_PAGE = 500


@dataclass(frozen=True, kw_only=True)
class InventoryQuery(Query, context="inventory"):
    """Base of the inventory context's queries."""


@dataclass(frozen=True, kw_only=True)
class GetStock(InventoryQuery):
    sku: str


@dataclass(frozen=True, kw_only=True)
class ListStock(InventoryQuery):
    in_stock: bool | None = None
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True, kw_only=True)
class GetReservation(InventoryQuery):
    order_id: str


@dataclass(frozen=True, kw_only=True)
class StockLevel:
    """One SKU as a stock list shows it."""

    sku: str
    on_hand: int
    reserved: int
    created_at: datetime
    updated_at: datetime

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "on_hand": self.on_hand, "reserved": self.reserved, "available": self.available,
                "created_at": self.created_at.isoformat(), "updated_at": self.updated_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StockLevel:
        return cls(sku=data["sku"], on_hand=int(data["on_hand"]), reserved=int(data["reserved"]),
                   created_at=datetime.fromisoformat(data["created_at"]),
                   updated_at=datetime.fromisoformat(data["updated_at"]))


@dataclass(frozen=True, kw_only=True)
class ReservationSummary:
    """What an order holds, or why it holds nothing."""

    order_id: str
    status: ReservationStatus
    lines: tuple[StockLine, ...]
    shortages: tuple[Shortage, ...]
    created_at: datetime
    updated_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"order_id": self.order_id, "status": self.status.value, "lines": [ln.to_json() for ln in self.lines],
                "shortages": [s.to_json() for s in self.shortages], "created_at": self.created_at.isoformat(),
                "updated_at": self.updated_at.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReservationSummary:
        return cls(order_id=data["order_id"], status=ReservationStatus(data["status"]),
                   lines=tuple(StockLine.from_json(ln) for ln in data["lines"]),
                   shortages=tuple(Shortage.from_json(s) for s in data["shortages"]),
                   created_at=datetime.fromisoformat(data["created_at"]),
                   updated_at=datetime.fromisoformat(data["updated_at"]))


StockPage = Page[StockLevel]

STOCK = View[StockLevel](
    name="inventory.stock",
    key=lambda s: s.sku,
    sort=lambda s: sort_time(s.created_at),
    filters=("in_stock",),
    tags=lambda s: ("yes" if s.available > 0 else "no",),
    to_json=StockLevel.to_json,
    from_json=StockLevel.from_json,
)

RESERVATIONS = View[ReservationSummary](
    name="inventory.reservations",
    key=lambda r: r.order_id,
    sort=lambda r: sort_time(r.created_at),
    filters=("status",),
    tags=lambda r: (r.status.value,),
    to_json=ReservationSummary.to_json,
    from_json=ReservationSummary.from_json,
)
