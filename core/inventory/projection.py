"""The inventory context's projection: stock levels per SKU and reservations per order."""

from __future__ import annotations

from dataclasses import replace

from core.inventory.events import (
    ItemReleased,
    ItemReserved,
    StockReleased,
    StockReservationFailed,
    StockReserved,
    StockRestocked,
)
from core.inventory.model import Reservation, ReservationStatus, StockItem
from core.inventory.queries import RESERVATIONS, STOCK, ReservationSummary, StockLevel
from core.kernel.aggregate import Aggregate
from core.kernel.messages import DomainEvent
from ports.storage import ViewWriter


def project(views: ViewWriter, event: DomainEvent) -> None:
    match event:
        case StockRestocked() | ItemReserved() | ItemReleased():
            _project_stock(views, event)
        case StockReserved() | StockReservationFailed():
            status = ReservationStatus.RESERVED if isinstance(event, StockReserved) else ReservationStatus.FAILED
            shortages = event.shortages if isinstance(event, StockReservationFailed) else ()
            views.put(RESERVATIONS, ReservationSummary(order_id=event.aggregate_id, status=status, lines=event.lines,
                                                       shortages=shortages, created_at=event.occurred_at,
                                                       updated_at=event.occurred_at))
        case StockReleased():
            current = views.get(RESERVATIONS, event.aggregate_id)
            if current is not None:
                views.put(RESERVATIONS, replace(current, status=ReservationStatus.RELEASED,
                                                updated_at=event.occurred_at))


def _project_stock(views: ViewWriter, event: StockRestocked | ItemReserved | ItemReleased) -> None:
    current = views.get(STOCK, event.aggregate_id) or StockLevel(
        sku=event.aggregate_id, on_hand=0, reserved=0, created_at=event.occurred_at, updated_at=event.occurred_at)
    match event:
        case StockRestocked(quantity=quantity):
            current = replace(current, on_hand=current.on_hand + quantity)
        case ItemReserved(quantity=quantity):
            current = replace(current, reserved=current.reserved + quantity)
        case ItemReleased(quantity=quantity):
            current = replace(current, reserved=current.reserved - quantity)
    views.put(STOCK, replace(current, updated_at=event.occurred_at))


def summarise(views: ViewWriter, aggregate: Aggregate) -> None:
    """Rebuild from state: the aggregate's document as its current state gives it."""
    if isinstance(aggregate, StockItem) and aggregate.updated_at is not None:
        current = views.get(STOCK, aggregate.id)
        views.put(STOCK, StockLevel(sku=aggregate.id, on_hand=aggregate.on_hand, reserved=aggregate.reserved,
                                    created_at=current.created_at if current else aggregate.updated_at,
                                    updated_at=aggregate.updated_at))
    elif isinstance(aggregate, Reservation) and aggregate.updated_at is not None:
        views.put(RESERVATIONS, ReservationSummary(order_id=aggregate.id, status=aggregate.status,
                                                   lines=aggregate.lines, shortages=aggregate.shortages,
                                                   created_at=aggregate.updated_at, updated_at=aggregate.updated_at))
