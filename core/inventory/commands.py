"""Commands of the inventory context, named in the imperative."""

from __future__ import annotations

from dataclasses import dataclass

from core.inventory.events import StockLine
from core.kernel.messages import Command


@dataclass(frozen=True, kw_only=True)
class InventoryCommand(Command, context="inventory"):
    """Base of the inventory context's commands: their type names read "inventory.<Name>"."""


@dataclass(frozen=True, kw_only=True)
class Restock(InventoryCommand):
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class ReserveStock(InventoryCommand):
    """Reserve every line for the order, or none of them."""

    order_id: str
    lines: tuple[StockLine, ...]


@dataclass(frozen=True, kw_only=True)
class ReleaseStock(InventoryCommand):
    """Give back what the order holds. Releasing what is not held changes nothing."""

    order_id: str


@dataclass(frozen=True)
class ReservationOutcome:
    """What reserving tells the caller: whether the order holds its stock, and what was short."""

    order_id: str
    reserved: bool
    shortages: tuple[str, ...] = ()
