"""Commands of the orders context, named in the imperative."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.messages import Command


@dataclass(frozen=True)
class LineItem:
    """One requested line as the client sent it (before validation and SKU merging)."""

    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, kw_only=True)
class PlaceOrder(Command):
    customer_id: str
    currency: str
    lines: tuple[LineItem, ...]
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApproveOrder(Command):
    order_id: str


@dataclass(frozen=True, kw_only=True)
class RejectOrder(Command):
    order_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class CancelOrder(Command):
    order_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ShipOrder(Command):
    order_id: str
