"""Ports of the orders context: its repository and the use cases every inbound adapter drives."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, overload

from core.kernel.messages import DomainEvent
from core.orders.commands import OrderCommand, PlaceOrder, PlaceResult
from core.orders.model import Order
from core.orders.queries import GetOrder, ListOrders, OrderPage, OrderSummary
from ports.storage import Repository

OrderRepository = Repository[Order]


class Ordering(Protocol):
    """The ordering use cases, as every inbound adapter (CLI, REST, Kafka, dashboard) drives them.

    Contract:
    - `send(PlaceOrder)` returns the order id and whether it was created now; the same
      idempotency key with the same content returns the first order (created=False), with
      different content raises IdempotencyConflict. Invalid input raises ValidationError.
    - `send(ApproveOrder | RejectOrder | CancelOrder | ShipOrder)` raises NotFound for an
      unknown order and IllegalTransition when the order's state forbids it.
    - `message_id`, where given, makes the command's effect happen at most once.
    - `get` raises NotFound; `list` pages newest first; both read the read model only.
    - `history(order_id)` returns the order's domain events in version order (NotFound if none).
    - `as_of(order_id, version=, at=)` rebuilds the order's summary as it was at that version or
      time from its history; NotFound if it did not exist yet.
    """

    @overload
    def send(self, command: PlaceOrder, message_id: str | None = None) -> PlaceResult: ...

    @overload
    def send(self, command: OrderCommand, message_id: str | None = None) -> PlaceResult | None: ...

    def send(self, command: OrderCommand, message_id: str | None = None) -> PlaceResult | None: ...

    def get(self, query: GetOrder) -> OrderSummary: ...

    def list(self, query: ListOrders) -> OrderPage: ...

    def history(self, order_id: str) -> list[DomainEvent]: ...

    def as_of(self, order_id: str, *, version: int | None = None, at: datetime | None = None) -> OrderSummary: ...
