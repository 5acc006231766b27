"""Use cases of the inventory context. Each handler takes its message, the unit of work, then its
dependencies (bound once when the service is built)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.inventory.commands import ReleaseStock, ReservationOutcome, ReserveStock, Restock
from core.inventory.events import Shortage, StockLine
from core.inventory.model import (
    RESERVATION,
    STOCK_ITEM,
    Reservation,
    ReservationStatus,
    StockItem,
    merge_stock_lines,
    parse_quantity,
    parse_sku,
)
from core.orders.events import OrderCancelled, OrderPlaced, OrderRejected
from ports.storage import UnitOfWork

Now = Callable[[], datetime]
NewId = Callable[[], str]


def restock(command: Restock, uow: UnitOfWork, now: Now, new_id: NewId) -> int:
    """Add stock; returns what is now available."""
    sku, quantity = parse_sku(command.sku), parse_quantity(command.quantity)
    with uow:
        items = uow.repository(STOCK_ITEM)
        item = items.get(sku)
        if item is None:
            item = StockItem(sku)
            items.add(item)
        item.restock(quantity, now=now(), event_id=new_id())
        uow.commit()
    return item.available


def reserve_stock(command: ReserveStock, uow: UnitOfWork, now: Now, new_id: NewId) -> ReservationOutcome:
    """Reserve every line or none. A second request for one order gets the first one's outcome."""
    lines = merge_stock_lines(command.lines)
    with uow:
        reservations = uow.repository(RESERVATION)
        existing = reservations.get(command.order_id)
        if existing is not None:
            return _outcome(existing)
        items = uow.repository(STOCK_ITEM)
        loaded = {line.sku: items.get(line.sku) for line in lines}
        shortages = tuple(
            Shortage(line.sku, line.quantity, item.available if item else 0)
            for line in lines if (item := loaded[line.sku]) is None or item.available < line.quantity)
        if shortages:
            reservation = Reservation.refuse(command.order_id, lines, shortages, now=now(), event_id=new_id())
        else:
            for line in lines:
                item = loaded[line.sku]
                assert item is not None  # no shortage means every SKU is stocked
                item.reserve(command.order_id, line.quantity, now=now(), event_id=new_id())
            reservation = Reservation.reserve(command.order_id, lines, now=now(), event_id=new_id())
        reservations.add(reservation)
        uow.commit()
    return _outcome(reservation)


def release_stock(command: ReleaseStock, uow: UnitOfWork, now: Now, new_id: NewId) -> bool:
    """Give back what the order holds; True if something was released, False if nothing was held."""
    with uow:
        reservation = uow.repository(RESERVATION).get(command.order_id)
        if reservation is None or reservation.status is not ReservationStatus.RESERVED:
            return False
        items = uow.repository(STOCK_ITEM)
        for line in reservation.lines:
            item = items.get(line.sku)
            if item is not None:
                item.release(command.order_id, now=now(), event_id=new_id())
        reservation.release(now=now(), event_id=new_id())
        uow.commit()
    return True


def _outcome(reservation: Reservation) -> ReservationOutcome:
    return ReservationOutcome(reservation.id, reservation.status is not ReservationStatus.FAILED,
                              tuple(str(s) for s in reservation.shortages))


def reserve_for_placed_order(event: OrderPlaced, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    """Choreography: an order placed in the orders context reserves its lines here."""
    lines = tuple(StockLine(line.sku, line.quantity) for line in event.lines)
    reserve_stock(ReserveStock(order_id=event.aggregate_id, lines=lines), uow, now, new_id)


def release_for_ended_order(event: OrderRejected | OrderCancelled, uow: UnitOfWork, now: Now, new_id: NewId) -> None:
    """Choreography: an order rejected or cancelled gives back what it holds here."""
    release_stock(ReleaseStock(order_id=event.aggregate_id), uow, now, new_id)


COMMAND_HANDLERS = {Restock: restock, ReserveStock: reserve_stock, ReleaseStock: release_stock}
EVENT_HANDLERS = {
    OrderPlaced: [reserve_for_placed_order],
    OrderRejected: [release_for_ended_order],
    OrderCancelled: [release_for_ended_order],
}
