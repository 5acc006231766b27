"""The shipping context's projection: one summary per shipment."""

from __future__ import annotations

from dataclasses import replace

from core.kernel.aggregate import Aggregate
from core.kernel.messages import DomainEvent
from core.shipping.events import ShipmentCancelled, ShipmentDispatched, ShipmentScheduled
from core.shipping.model import Shipment, ShipmentStatus
from core.shipping.queries import SHIPMENTS, ShipmentSummary
from ports.storage import ViewWriter


def project(views: ViewWriter, event: DomainEvent) -> None:
    if isinstance(event, ShipmentScheduled):
        views.put(SHIPMENTS, ShipmentSummary(order_id=event.aggregate_id, customer_id=event.customer_id,
                                             address=event.address, status=ShipmentStatus.SCHEDULED, reason=None,
                                             created_at=event.occurred_at, updated_at=event.occurred_at))
        return
    current = views.get(SHIPMENTS, event.aggregate_id)
    if current is None:
        raise ValueError(f"{event.type_name} for {event.aggregate_id} arrived before its ShipmentScheduled")
    if isinstance(event, ShipmentCancelled):
        current = replace(current, status=ShipmentStatus.CANCELLED, reason=event.reason)
    elif isinstance(event, ShipmentDispatched):
        current = replace(current, status=ShipmentStatus.DISPATCHED)
    views.put(SHIPMENTS, replace(current, updated_at=event.occurred_at))


def summarise(views: ViewWriter, aggregate: Aggregate) -> None:
    if isinstance(aggregate, Shipment) and aggregate.created_at and aggregate.updated_at:
        views.put(SHIPMENTS, ShipmentSummary(order_id=aggregate.id, customer_id=aggregate.customer_id,
                                             address=aggregate.address, status=aggregate.status,
                                             reason=aggregate.reason, created_at=aggregate.created_at,
                                             updated_at=aggregate.updated_at))
