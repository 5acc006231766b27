"""Small builders the storage contract suites share: orders placed and changed through a unit of work."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from core.kernel.money import Money
from core.orders.model import ORDER, Order, OrderLine
from core.orders.projection import project
from core.runtime.unit_of_work import UnitOfWork
from ports.storage import Repository, Storage

_ids = itertools.count(1)
BASE = datetime(2026, 1, 1, tzinfo=UTC)


def new_id(prefix: str = "x") -> str:
    return f"{prefix}-{next(_ids):06d}"


def at(seconds: int) -> datetime:
    return BASE + timedelta(seconds=seconds)


TOPIC = "orderhex.orders.events"


def unit_of_work(storage: Storage) -> UnitOfWork:
    """A unit of work of the orders context over the store, as its service makes them."""
    return UnitOfWork(storage.committer, project=project, events_topic=TOPIC)


def orders(uow: UnitOfWork) -> Repository[Order]:
    return uow.repository(ORDER)


def new_order(
    customer: str = "c-1", key: str | None = None, when: int = 0, skus: int = 2, order_id: str | None = None
) -> Order:
    lines = [OrderLine(f"SKU-{i}", i, Money(Decimal("9.99"), "EUR")) for i in range(1, skus + 1)]
    return Order.place(order_id=order_id or new_id("o"), customer_id=customer, currency="EUR", lines=lines,
                       now=at(when), event_id=new_id("e"), idempotency_key=key)


def place(storage: Storage, customer: str = "c-1", key: str | None = None, when: int = 0) -> Order:
    order = new_order(customer, key, when)
    with unit_of_work(storage) as uow:
        orders(uow).add(order)
        uow.commit()
    return order


def approve(storage: Storage, order_id: str, when: int = 10) -> None:
    with unit_of_work(storage) as uow:
        order = orders(uow).get(order_id)
        assert order is not None
        order.approve(now=at(when), event_id=new_id("e"))
        uow.commit()
