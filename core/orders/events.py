"""Domain events of the orders context, named in the past tense."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from core.kernel.messages import DomainEvent


@dataclass(frozen=True)
class PlacedLine:
    sku: str
    quantity: int
    unit_price: Decimal

    def to_json(self) -> dict[str, Any]:
        return {"sku": self.sku, "quantity": self.quantity, "unit_price": str(self.unit_price)}


@dataclass(frozen=True, kw_only=True)
class OrderEvent(DomainEvent, context="orders"):
    """Base of the orders context's events: their type names read "orders.<Name>"."""


@dataclass(frozen=True, kw_only=True)
class OrderPlaced(OrderEvent):
    customer_id: str
    currency: str
    lines: tuple[PlacedLine, ...]
    idempotency_key: str | None = None

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> OrderPlaced:
        return cls(
            **meta, customer_id=payload["customer_id"], currency=payload["currency"],
            lines=tuple(
                PlacedLine(ln["sku"], int(ln["quantity"]), Decimal(ln["unit_price"])) for ln in payload["lines"]
            ),
            idempotency_key=payload.get("idempotency_key"),
        )


@dataclass(frozen=True, kw_only=True)
class OrderApproved(OrderEvent):
    # Who to ship to, for shipping's reaction in choreography; "" in events written before it was carried.
    customer_id: str = ""

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> OrderApproved:
        return cls(**meta, customer_id=payload.get("customer_id", ""))


@dataclass(frozen=True, kw_only=True)
class OrderRejected(OrderEvent):
    reason: str

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> OrderRejected:
        return cls(**meta, reason=payload["reason"])


@dataclass(frozen=True, kw_only=True)
class OrderCancelled(OrderEvent):
    reason: str

    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> OrderCancelled:
        return cls(**meta, reason=payload["reason"])


@dataclass(frozen=True, kw_only=True)
class OrderShipped(OrderEvent):
    @classmethod
    def from_payload(cls, *, payload: dict[str, Any], **meta: Any) -> OrderShipped:
        return cls(**meta)


__all__ = ["OrderApproved", "OrderCancelled", "OrderEvent", "OrderPlaced", "OrderRejected", "OrderShipped",
           "PlacedLine"]
