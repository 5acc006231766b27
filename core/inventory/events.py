"""Domain events of the inventory context, named in the past tense.

StockRestocked, ItemReserved and ItemReleased happen to one SKU's StockItem; StockReserved,
StockReservationFailed and StockReleased happen to one order's Reservation and are what other
contexts listen to.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from core.kernel.messages import DomainEvent


@dataclass(frozen=True)
class StockLine:
    sku: str
    quantity: int

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StockLine:
        return cls(str(data["sku"]), int(data["quantity"]))


@dataclass(frozen=True)
class Shortage:
    """A SKU that could not be reserved: how many were wanted and how many were available."""

    sku: str
    wanted: int
    available: int

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "wanted": self.wanted, "available": self.available}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Shortage:
        return cls(str(data["sku"]), int(data["wanted"]), int(data["available"]))

    def __str__(self) -> str:
        return f"{self.sku}: wanted {self.wanted}, available {self.available}"


@dataclass(frozen=True, kw_only=True)
class InventoryEvent(DomainEvent, context="inventory"):
    """Base of the inventory context's events: their type names read "inventory.<Name>"."""


@dataclass(frozen=True, kw_only=True)
class StockRestocked(InventoryEvent):
    quantity: int

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> StockRestocked:
        return cls(**meta, quantity=int(payload["quantity"]))


@dataclass(frozen=True, kw_only=True)
class ItemReserved(InventoryEvent):
    order_id: str
    quantity: int

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> ItemReserved:
        return cls(**meta, order_id=payload["order_id"], quantity=int(payload["quantity"]))


@dataclass(frozen=True, kw_only=True)
class ItemReleased(InventoryEvent):
    order_id: str
    quantity: int

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> ItemReleased:
        return cls(**meta, order_id=payload["order_id"], quantity=int(payload["quantity"]))


@dataclass(frozen=True, kw_only=True)
class StockReserved(InventoryEvent):
    lines: tuple[StockLine, ...]

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> StockReserved:
        return cls(**meta, lines=tuple(StockLine.from_json(ln) for ln in payload["lines"]))


@dataclass(frozen=True, kw_only=True)
class StockReservationFailed(InventoryEvent):
    lines: tuple[StockLine, ...]
    shortages: tuple[Shortage, ...]

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> StockReservationFailed:
        return cls(**meta, lines=tuple(StockLine.from_json(ln) for ln in payload["lines"]),
                   shortages=tuple(Shortage.from_json(s) for s in payload["shortages"]))


@dataclass(frozen=True, kw_only=True)
class StockReleased(InventoryEvent):
    lines: tuple[StockLine, ...]

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> StockReleased:
        return cls(**meta, lines=tuple(StockLine.from_json(ln) for ln in payload["lines"]))
