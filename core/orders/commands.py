"""Commands of the orders context, named in the imperative."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from core.kernel.fields import bounded_text, check_texts
from core.kernel.messages import Command


@dataclass(frozen=True)
class LineItem:
    """One requested line as the client sent it (before validation and SKU merging)."""

    sku: str
    quantity: int
    unit_price: Decimal

    def __post_init__(self) -> None:
        if isinstance(self.sku, str):
            bounded_text(self.sku, "sku")


@dataclass(frozen=True, kw_only=True)
class OrderCommand(Command, context="orders"):
    """Base of the orders context's commands: their type names read "orders.<Name>"."""

    def __post_init__(self) -> None:
        # Every string a command carries within the bounds every store and the broker keep,
        # whichever door built it (core/kernel/fields.py).
        check_texts(vars(self).items())


@dataclass(frozen=True, kw_only=True)
class PlaceOrder(OrderCommand):
    customer_id: str
    currency: str
    lines: tuple[LineItem, ...]
    idempotency_key: str | None = None


@dataclass(frozen=True, kw_only=True)
class ApproveOrder(OrderCommand):
    order_id: str


@dataclass(frozen=True, kw_only=True)
class RejectOrder(OrderCommand):
    order_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class CancelOrder(OrderCommand):
    order_id: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class ShipOrder(OrderCommand):
    order_id: str


@dataclass(frozen=True)
class PlaceResult:
    """What placing an order tells the caller: the id, and False when it was an idempotent replay."""

    order_id: str
    created: bool
