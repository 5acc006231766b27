"""Ports of the shipping context: the use cases every inbound adapter drives."""

from __future__ import annotations

from typing import Any, Protocol

from core.shipping.commands import ShippingCommand
from core.shipping.queries import GetShipment, ListShipments, ShipmentPage, ShipmentSummary


class Shipping(Protocol):
    """The shipping use cases.

    Contract:
    - `send(ScheduleShipment)` schedules the order's shipment and returns its status (a second
      request for the order returns the first's, with no second effect); `send(CancelShipment)`
      returns whether it was cancelled now (an unknown or already cancelled shipment: False, no
      effect; a dispatched one: IllegalTransition); `send(DispatchShipment)` returns whether it was
      dispatched now (NotFound for an unknown order, IllegalTransition for a cancelled shipment).
    - `shipment` raises NotFound; `list_shipments` pages newest first, by customer and status.
    - `message_id`, where given, makes the command's effect happen at most once.
    """

    def send(self, command: ShippingCommand, message_id: str | None = None) -> Any: ...

    def shipment(self, query: GetShipment) -> ShipmentSummary: ...

    def list_shipments(self, query: ListShipments) -> ShipmentPage: ...


class ShipmentStatus(Protocol):
    """What the orders context asks of shipping (its overview).

    Contract:
    - `shipment(order_id)` returns the order's shipment, None when shipping never saw the order.
    - `within`, where given, is the time left in seconds for the answer: an answer that cannot come
      in time raises DeadlineExceeded (an Unavailable) rather than arrive late.
    - An unreachable shipping service raises Unavailable (CircuitOpen, when its breaker rejects the call).
    """

    def shipment(self, order_id: str, *, within: float | None = None) -> ShipmentSummary | None: ...
