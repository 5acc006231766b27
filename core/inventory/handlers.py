"""Use cases of the inventory context. Each handler takes its message, the unit of work, then its
dependencies (bound once when the service is built)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from core.inventory.commands import ReleaseStock, ReservationOutcome, ReserveStock, Restock
from core.inventory.events import Shortage
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


COMMAND_HANDLERS = {Restock: restock, ReserveStock: reserve_stock, ReleaseStock: release_stock}
