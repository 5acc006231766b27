"""The commit queue on both SQL stores: concurrent units of work share transactions, and each
caller gets its own outcome, a refused one failing alone while the rest of its batch commits."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest

from adapters.outbound.sql.storage import SqlStorage
from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from core.orders.commands import LineItem, PlaceOrder
from core.orders.model import ORDER, OrderStatus
from core.orders.queries import SUMMARIES
from core.runtime.commit_queue import CommitQueue, Outcome, PendingWrite
from tests.contract.orders_fixtures import at, new_id, new_order, orders, place, unit_of_work
from tests.integration.sql.conftest import SqlStore, orders_service

PATIENCE_S = 30


class HeldFirstWrite:
    """The store behind a queue, whose first write waits until `waiting` more units queue behind it:
    they must then share the next transaction, so the batch under test is the one they make."""

    def __init__(self, queue: CommitQueue, waiting: int) -> None:
        self._store, self._queue, self._waiting = queue.store, queue, waiting
        self._held = threading.Event()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def write(self, *args: Any, **kwargs: Any) -> list[int]:
        if not self._held.is_set():
            self._held.set()
            wait_until(lambda: self._queue.queued >= self._waiting)
        seqs: list[int] = self._store.write(*args, **kwargs)
        return seqs

    def write_batch(self, writes: Sequence[PendingWrite]) -> list[Outcome]:
        outcomes: list[Outcome] = self._store.write_batch(writes)
        return outcomes


def wait_until(condition: Callable[[], bool]) -> None:
    done = threading.Event()
    for _ in range(PATIENCE_S * 200):
        if condition():
            return
        done.wait(0.005)
    raise AssertionError("the queue never filled: writers did not arrive")


@contextmanager
def held(storage: SqlStorage, waiting: int) -> Iterator[CommitQueue]:
    queue = storage.committer
    assert isinstance(queue, CommitQueue)
    inner = queue.store
    queue.store = HeldFirstWrite(queue, waiting)  # type: ignore[assignment]
    try:
        yield queue
    finally:
        queue.store = inner


def run_all(work: dict[str, Callable[[], Any]]) -> dict[str, Any]:
    """Each piece of work on its own thread at once; name -> its result or the exception it raised."""
    outcomes: dict[str, Any] = {}

    def run(name: str, job: Callable[[], Any]) -> None:
        try:
            outcomes[name] = job()
        except Exception as exc:  # the outcome under test
            outcomes[name] = exc

    threads = [threading.Thread(target=run, args=item, daemon=True) for item in work.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=PATIENCE_S)
    assert not any(thread.is_alive() for thread in threads), "a writer never returned"
    return outcomes


@pytest.mark.parametrize("mode", ["state", "events"])
def test_sixteen_threads_placing_orders_all_commit_each_with_its_own_order(sql_store: SqlStore, mode: str) -> None:
    storage = sql_store.open(mode)
    service = orders_service(storage)
    try:
        commands = {f"w{n:02d}": PlaceOrder(customer_id=f"c-{n}", currency="EUR",
                                             lines=(LineItem(f"SKU-{n}", n + 1, Decimal("2.50")),))
                    for n in range(16)}
        with held(storage, waiting=15) as queue:
            outcomes = run_all({name: lambda c=command: service.send(c) for name, command in commands.items()})

        assert (queue.units, queue.batches) == (16, 2)  # the 15 that queued shared one transaction
        placed = {name: outcome.order_id for name, outcome in outcomes.items()}
        assert len(set(placed.values())) == 16
        for name, order_id in placed.items():
            order = storage.committer.load(ORDER, order_id)
            summary = storage.read_model.get(SUMMARIES, order_id)
            assert order is not None and order.customer_id == commands[name].customer_id
            assert summary is not None and summary.line_count == 1 and summary.status == OrderStatus.PENDING
        rows = storage.outbox.claim(100)
        placed_rows = [row for row in rows if row.type == "orders.OrderPlaced"]
        assert sorted(row.aggregate_id for row in placed_rows) == sorted(placed.values())
        assert storage.read_model.position() == max(row.seq for row in rows)
    finally:
        storage.close()


@pytest.mark.parametrize("mode", ["state", "events"])
def test_refused_units_fail_alone_while_the_rest_of_their_batch_commits(sql_store: SqlStore, mode: str) -> None:
    storage = sql_store.open(mode)
    try:
        taken = place(storage, key="k-taken")
        contested = place(storage)
        place_processed = new_order()
        with unit_of_work(storage) as uow:  # message m-done is processed already
            uow.message_id = "m-done"
            orders(uow).add(place_processed)
            uow.commit()
        stale = unit_of_work(storage).__enter__()
        stale_order = orders(stale).get(contested.id)  # read at version 1 ...
        with unit_of_work(storage) as uow:  # ... and moved on to 2 before it commits
            moved = orders(uow).get(contested.id)
            assert moved is not None
            moved.approve(now=at(5), event_id=new_id("e"))
            uow.commit()
        assert stale_order is not None

        fresh = [new_order(key=f"k-fresh-{n}") for n in range(3)]
        duplicate = new_order(key="k-taken")
        repeated = new_order()

        def add(order: Any, message_id: str | None = None) -> Callable[[], str]:
            def commit() -> str:
                with unit_of_work(storage) as uow:
                    uow.message_id = message_id
                    orders(uow).add(order)
                    uow.commit()
                return str(order.id)
            return commit

        def cancel_stale() -> str:
            stale_order.cancel("too late", now=at(9), event_id=new_id("e"))
            stale.commit()
            return stale_order.id

        with held(storage, waiting=6) as queue:
            before = (queue.units, queue.batches)
            outcomes = run_all({"first": add(new_order()), "fresh0": add(fresh[0]), "duplicate": add(duplicate),
                                "fresh1": add(fresh[1]), "stale": cancel_stale,
                                "repeated": add(repeated, "m-done"), "fresh2": add(fresh[2])})

        assert (queue.units - before[0], queue.batches - before[1]) == (7, 2)
        assert isinstance(outcomes["duplicate"], ConcurrencyConflict)
        assert isinstance(outcomes["stale"], ConcurrencyConflict)
        assert isinstance(outcomes["repeated"], AlreadyProcessed)
        for name in ("first", "fresh0", "fresh1", "fresh2"):
            assert isinstance(outcomes[name], str), outcomes[name]
            assert storage.committer.load(ORDER, outcomes[name]) is not None
            assert storage.read_model.get(SUMMARIES, outcomes[name]) is not None
        for n, order in enumerate(fresh):
            by_key = storage.committer.load_by_key(ORDER, f"k-fresh-{n}")
            assert by_key is not None and by_key.id == order.id
        # Nothing of a refused unit is stored: not its order, its summary, its outbox row.
        for refused in (duplicate, repeated):
            assert storage.committer.load(ORDER, refused.id) is None
            assert storage.read_model.get(SUMMARIES, refused.id) is None
        key_owner = storage.committer.load_by_key(ORDER, "k-taken")
        assert key_owner is not None and key_owner.id == taken.id
        still = storage.committer.load(ORDER, contested.id)
        assert still is not None and (still.status, still.version) == (OrderStatus.APPROVED, 2)
        written = {row.aggregate_id for row in storage.outbox.claim(100)}
        assert {duplicate.id, repeated.id}.isdisjoint(written)
        assert {outcomes[name] for name in ("first", "fresh0", "fresh1", "fresh2")} <= written
    finally:
        storage.close()
