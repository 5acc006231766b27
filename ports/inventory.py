"""Ports of the inventory context: the use cases every inbound adapter drives."""

from __future__ import annotations

from collections.abc import Sequence
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


class StockLevels(Protocol):
    """What the orders context asks of inventory (its overview): an order's reservation and SKUs' stock.

    In the same process it is answered by the Inventory port; across processes by inventory's REST
    routes, behind a circuit breaker.

    Contract:
    - `reservation(order_id)` returns what the order holds (or why it holds nothing), None when the
      order never asked inventory.
    - `levels(skus)` returns the stock of each SKU ever stocked, by SKU; a SKU never stocked is absent.
    - `within`, where given, is the time left in seconds for the answer: an answer that cannot come
      in time raises DeadlineExceeded (core.kernel.errors.Unavailable) rather than arrive late.
    - An unreachable inventory raises Unavailable (CircuitOpen, when its breaker rejects the call).
    """

    def reservation(self, order_id: str, *, within: float | None = None) -> ReservationSummary | None: ...

    def levels(self, skus: Sequence[str], *, within: float | None = None) -> dict[str, StockLevel]: ...
