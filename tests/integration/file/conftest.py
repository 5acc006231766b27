"""Shared helpers for the file store's integration tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.outbound.file.storage import FileStorage
from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.money import Money
from core.orders.model import ORDER, Order, OrderLine
from core.orders.service import CONTEXT
from core.runtime.unit_of_work import UnitOfWork
from ports.storage import Storage
from tests.integration.file.child import EVENTS_TOPIC

CHILD = Path(__file__).with_name("child.py")
_counter = iter(range(1, 1_000_000))


def unit_of_work(storage: Storage) -> UnitOfWork:
    """A unit of work over the store, projecting the orders context's views as the service does."""
    return UnitOfWork(storage.committer, project=CONTEXT.project, events_topic=EVENTS_TOPIC)


def new_order(key: str | None = None) -> Order:
    n = next(_counter)
    return Order.place(order_id=f"o-{n:06d}", customer_id="c-1", currency="EUR",
                       lines=[OrderLine("SKU-1", 2, Money(Decimal("9.99"), "EUR"))],
                       now=datetime(2026, 1, 1, tzinfo=UTC), event_id=f"e-{n:06d}", idempotency_key=key)


def place(storage: Storage, key: str | None = None) -> Order:
    order = new_order(key)
    with unit_of_work(storage) as uow:
        uow.repository(ORDER).add(order)
        uow.commit()
    return order


def approve(storage: Storage, order_id: str) -> None:
    with unit_of_work(storage) as uow:
        order = uow.repository(ORDER).get(order_id)
        assert order is not None
        order.approve(now=datetime(2026, 1, 2, tzinfo=UTC), event_id=f"e-{next(_counter):06d}")
        uow.commit()


OpenStore = Callable[..., FileStorage]


@pytest.fixture
def feed() -> RingBufferFeed:
    return RingBufferFeed(100)


@pytest.fixture
def open_store(tmp_path: Path, feed: RingBufferFeed) -> Iterator[OpenStore]:
    """Opens FileStorage on one directory (as many times as asked) and closes them all at the end."""
    opened: list[FileStorage] = []

    def open_(mode: str = "state", **options: int) -> FileStorage:
        store = FileStorage(tmp_path / "files", feed=feed, mode=mode, **options)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


def run_child(*args: str, **options: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(CHILD), *args], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, **options)  # type: ignore[call-overload]
