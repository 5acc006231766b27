"""Commands of the inventory context, named in the imperative."""

from __future__ import annotations

from dataclasses import dataclass

from core.inventory.events import StockLine
from core.kernel.fields import bounded_text, check_texts
from core.kernel.messages import Command


@dataclass(frozen=True, kw_only=True)
class InventoryCommand(Command, context="inventory"):
    """Base of the inventory context's commands: their type names read "inventory.<Name>"."""

    def __post_init__(self) -> None:
        # Every string a command carries within the bounds every store and the broker keep,
        # whichever door built it (core/kernel/fields.py).
        check_texts(vars(self).items())


@dataclass(frozen=True, kw_only=True)
class Restock(InventoryCommand):
    sku: str
    quantity: int


@dataclass(frozen=True, kw_only=True)
class ReserveStock(InventoryCommand):
    """Reserve every line for the order, or none of them."""

    order_id: str
    lines: tuple[StockLine, ...]

    def __post_init__(self) -> None:
        super().__post_init__()
        for n, line in enumerate(self.lines):
            if isinstance(line.sku, str):
                bounded_text(line.sku, f"lines[{n}].sku")


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
