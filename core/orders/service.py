"""The Ordering inbound port, implemented: commands through the bus, queries on the read model."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from core.bus import MessageBus
from core.errors import NotFound, ValidationError
from core.messages import DomainEvent
from core.orders.commands import ApproveOrder, CancelOrder, PlaceOrder, RejectOrder, ShipOrder
from core.orders.projection import summarise
from core.orders.queries import MAX_PAGE, GetOrder, ListOrders, OrderPage, OrderSummary
from core.orders.results import PlaceResult
from core.orders.snapshots import as_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from ports.read_model import ReadModel


class OrderingService:
    def __init__(
        self, bus: MessageBus, read_model: Callable[[], ReadModel],
        history: Callable[[str], list[DomainEvent]],
    ) -> None:
        # Callables rather than objects: the active adapter may be switched between calls.
        self._bus = bus
        self._read_model = read_model
        self._history = history

    def place(self, command: PlaceOrder, message_id: str | None = None) -> PlaceResult:
        result: PlaceResult = self._bus.handle(command, message_id=message_id)
        return result

    def approve(self, command: ApproveOrder, message_id: str | None = None) -> None:
        self._handle(command, message_id)

    def reject(self, command: RejectOrder, message_id: str | None = None) -> None:
        self._handle(command, message_id)

    def cancel(self, command: CancelOrder, message_id: str | None = None) -> None:
        self._handle(command, message_id)

    def ship(self, command: ShipOrder, message_id: str | None = None) -> None:
        self._handle(command, message_id)

    def get(self, query: GetOrder) -> OrderSummary:
        summary = self._read_model().get(query.order_id)
        if summary is None:
            raise NotFound("order", query.order_id)
        return summary

    def list(self, query: ListOrders) -> OrderPage:
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationError("limit", f"must be 1..{MAX_PAGE}, got {query.limit}")
        return self._read_model().list(
            customer_id=query.customer_id, status=query.status, cursor=query.cursor, limit=query.limit
        )

    def history(self, order_id: str) -> list[DomainEvent]:
        events = self._history(order_id)
        if not events:
            raise NotFound("order", order_id)
        return events

    def as_of(self, order_id: str, *, version: int | None = None, at: datetime | None = None) -> OrderSummary:
        order = as_of(self.history(order_id), version=version, at=at)
        if order is None:
            raise NotFound("order", f"{order_id} as of {at.isoformat() if at else f'version {version}'}")
        return summarise(order)

    def _handle(self, command: Any, message_id: str | None) -> None:
        self._bus.handle(command, message_id=message_id)
