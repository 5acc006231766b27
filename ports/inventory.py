"""Ports of the inventory context: the use cases every inbound adapter drives."""

from __future__ import annotations

from typing import Any, Protocol

from core.inventory.commands import InventoryCommand
from core.inventory.queries import GetReservation, GetStock, ListStock, ReservationSummary, StockLevel, StockPage


class Inventory(Protocol):
    """The inventory use cases.

    Contract:
    - `send(Restock)` adds stock and returns what is available; `send(ReserveStock)` reserves
      every line or none and returns a ReservationOutcome (a second request for the same order
      returns the first outcome, with no second effect); `send(ReleaseStock)` gives back what the
      order holds and returns whether anything was held (releasing twice is harmless). Invalid
      input raises ValidationError (InvalidFields naming every bad field).
    - Stock never goes negative, whatever runs concurrently.
    - `stock` raises NotFound for a SKU never stocked; `list_stock` pages SKUs; `reservation`
      raises NotFound for an order that never asked.
    - `message_id`, where given, makes the command's effect happen at most once.
    """

    def send(self, command: InventoryCommand, message_id: str | None = None) -> Any: ...

    def stock(self, query: GetStock) -> StockLevel: ...

    def list_stock(self, query: ListStock) -> StockPage: ...

    def reservation(self, query: GetReservation) -> ReservationSummary: ...
