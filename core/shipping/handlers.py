"""Use cases of the shipping context."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.kernel.errors import NotFound
from core.orders.events import OrderApproved, OrderCancelled
from core.shipping.commands import CancelShipment, DispatchShipment, ScheduleShipment
from core.shipping.model import SHIPMENT, Shipment, ShipmentStatus
from ports.storage import UnitOfWork

Now = Callable[[], datetime]
NewId = Callable[[], str]


def schedule_shipment(command: ScheduleShipment, uow: UnitOfWork, now: Now, new_id: NewId) -> ShipmentStatus:
    """Schedule the order's shipment; a second request for the order returns the first's status."""
    with uow:
        shipments = uow.repository(SHIPMENT)
        existing = shipments.get(command.order_id)
        if existing is not None:
            return existing.status
        shipment = Shipment.schedule(command.order_id, command.customer_id, command.address, now=now(),
                                     event_id=new_id())
        shipments.add(shipment)
        uow.commit()
    return shipment.status


def cancel_shipment(command: CancelShipment, uow: UnitOfWork, now: Now, new_id: NewId) -> bool:
    """Cancel; True if it was cancelled now. An unknown order's shipment needs no cancelling."""
    with uow:
        shipment = uow.repository(SHIPMENT).get(command.order_id)
        if shipment is None:
            return False
        changed = shipment.cancel(command.reason, now=now(), event_id=new_id())
        uow.commit()
    return changed


def dispatch_shipment(command: DispatchShipment, uow: UnitOfWork, now: Now, new_id: NewId) -> bool:
    with uow:
        shipment = uow.repository(SHIPMENT).get(command.order_id)
        if shipment is None:
            raise NotFound("shipment", command.order_id)
        changed = shipment.dispatch(now=now(), event_id=new_id())
        uow.commit()
    return changed


def ship_approved_order(event: OrderApproved, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    """Choreography: an approved order's shipment is scheduled here."""
    schedule_shipment(ScheduleShipment(order_id=event.aggregate_id, customer_id=event.customer_id), uow, now, new_id)


def cancel_for_cancelled_order(event: OrderCancelled, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    """Choreography: a cancelled order's shipment, if it has one, is cancelled here."""
    cancel_shipment(CancelShipment(order_id=event.aggregate_id, reason=event.reason), uow, now, new_id)


COMMAND_HANDLERS = {ScheduleShipment: schedule_shipment, CancelShipment: cancel_shipment,
                    DispatchShipment: dispatch_shipment}
EVENT_HANDLERS = {OrderApproved: [ship_approved_order], OrderCancelled: [cancel_for_cancelled_order]}
