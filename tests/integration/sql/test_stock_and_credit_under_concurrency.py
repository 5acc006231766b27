"""Stock never goes negative and credit is never over-committed when many orders race for them,
on SQLite and PostgreSQL: threads, each through its own unit of work, one store."""

from __future__ import annotations

import threading
from decimal import Decimal

from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.system.clock import SystemClock
from adapters.outbound.system.ids import Uuid7Ids
from core.inventory.commands import ReserveStock, Restock
from core.inventory.events import StockLine
from core.inventory.model import RESERVATION, STOCK_ITEM, ReservationStatus
from core.inventory.service import CONTEXT as INVENTORY
from core.kernel.errors import ConcurrencyConflict
from core.payments.commands import AuthorizePayment, OpenAccount
from core.payments.model import ACCOUNT
from core.payments.service import CONTEXT as PAYMENTS
from core.runtime.context import Context
from core.runtime.service import Service
from tests.integration.sql.conftest import SqlStore

THREADS, ORDERS_EACH = 8, 6


def service(context: Context, store: SqlStore) -> tuple[Service, object]:
    storage = store.open()
    return Service(context, storage=storage, feed=RingBufferFeed(100), clock=SystemClock(), ids=Uuid7Ids(),
                   events_topic=f"orderhex.{context.name}.events",
                   settings={"default_credit_limit": Decimal("0.01")}), storage


def race(work: object) -> list[Exception]:
    errors: list[Exception] = []
    barrier = threading.Barrier(THREADS)

    def run(n: int) -> None:
        barrier.wait(timeout=30)
        for i in range(ORDERS_EACH):
            try:
                work(n, i)  # type: ignore[operator]
            except Exception as exc:  # collected: the test shows them
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return errors


def test_racing_reservations_never_take_more_stock_than_there_is(sql_store: SqlStore) -> None:
    inventory, storage = service(INVENTORY, sql_store)
    inventory.send(Restock(sku="HOT", quantity=25))
    errors = race(lambda n, i: inventory.send(ReserveStock(order_id=f"o-{n}-{i}",
                                                           lines=(StockLine("HOT", 1 + i % 3),))))
    # A request that lost the race past the bus's retries is refused whole (its caller retries it).
    assert all(isinstance(e, ConcurrencyConflict) for e in errors), errors
    item = storage.committer.load(STOCK_ITEM, "HOT")
    ids = [f"o-{n}-{i}" for n in range(THREADS) for i in range(ORDERS_EACH)]
    reservations = [storage.committer.load(RESERVATION, order_id) for order_id in ids]
    held = sum(line.quantity for r in reservations if r and r.status is ReservationStatus.RESERVED for line in r.lines)
    assert item is not None and item.available >= 0 and item.reserved == held <= 25
    assert sum(1 for r in reservations if r is not None) == len(ids) - len(errors)
    storage.close()


def test_racing_authorizations_never_hold_more_credit_than_the_limit(sql_store: SqlStore) -> None:
    payments, storage = service(PAYMENTS, sql_store)
    payments.send(OpenAccount(customer_id="c-hot", credit_limit=Decimal("100.00"), currency="EUR"))
    errors = race(lambda n, i: payments.send(AuthorizePayment(order_id=f"o-{n}-{i}", customer_id="c-hot",
                                                               amount=Decimal("7.00"), currency="EUR")))
    assert all(isinstance(e, ConcurrencyConflict) for e in errors), errors
    account = storage.committer.load(ACCOUNT, "c-hot")
    assert account is not None and account.available >= 0
    assert len(account.held) <= 14, "at most 14 x 7.00 fit in 100.00"
    assert account.available == Decimal("100.00") - 7 * len(account.held)
    storage.close()
