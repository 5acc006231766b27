from __future__ import annotations

from datetime import datetime
from typing import Protocol

from core.messages import DomainEvent
from core.orders.commands import ApproveOrder, CancelOrder, PlaceOrder, RejectOrder, ShipOrder
from core.orders.queries import GetOrder, ListOrders, OrderPage, OrderSummary
from core.orders.results import PlaceResult


class Ordering(Protocol):
    """The ordering use cases, as every inbound adapter (CLI, REST, Kafka, dashboard) drives them.

    Contract:
    - `place(cmd)` returns the order id and whether it was created now; the same idempotency
      key with the same content returns the first order (created=False), with different
      content raises IdempotencyConflict. Invalid input raises ValidationError.
    - `approve/reject/cancel/ship` raise NotFound for an unknown order and IllegalTransition
      when the order's state forbids it.
    - `get` raises NotFound; `list` pages newest first; both read the read model only.
    - `history(order_id)` returns the order's domain events in version order (NotFound if none).
    - `as_of(order_id, version=, at=)` rebuilds the order's summary as it was at that version or
      time from its history; NotFound if it did not exist yet.
    - `message_id`, where given, makes the command's effect happen at most once.
    """

    def place(self, command: PlaceOrder, message_id: str | None = None) -> PlaceResult: ...

    def approve(self, command: ApproveOrder, message_id: str | None = None) -> None: ...

    def reject(self, command: RejectOrder, message_id: str | None = None) -> None: ...

    def cancel(self, command: CancelOrder, message_id: str | None = None) -> None: ...

    def ship(self, command: ShipOrder, message_id: str | None = None) -> None: ...

    def get(self, query: GetOrder) -> OrderSummary: ...

    def list(self, query: ListOrders) -> OrderPage: ...

    def history(self, order_id: str) -> list[DomainEvent]: ...

    def as_of(self, order_id: str, *, version: int | None = None, at: datetime | None = None) -> OrderSummary: ...
