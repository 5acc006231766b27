"""Contract of the UnitOfWork and OrderRepository ports, on every storage adapter and order mode."""

from __future__ import annotations

import pytest

from core.kernel.errors import AlreadyProcessed, ConcurrencyConflict
from core.orders.events import OrderApproved, OrderPlaced
from core.orders.model import OrderStatus
from core.orders.queries import SUMMARIES
from ports.storage import Storage
from tests.contract.orders_fixtures import approve, at, new_id, new_order, orders, place, unit_of_work

PORT = "storage"


def test_commit_stores_the_order_its_outbox_row_and_its_summary_together(storage: Storage) -> None:
    order = place(storage)

    with unit_of_work(storage) as uow:
        loaded = orders(uow).get(order.id)
    assert loaded is not None
    assert (loaded.customer_id, loaded.status, loaded.version, loaded.lines) == ("c-1", OrderStatus.PENDING, 1,
                                                                                 order.lines)
    rows = storage.outbox.claim(10)
    assert [(r.aggregate_id, r.type, r.aggregate_version) for r in rows] == [(order.id, "orders.OrderPlaced", 1)]
    summary = storage.read_model.get(SUMMARIES, order.id)
    assert summary is not None and summary.total == order.total.amount and summary.line_count == 2


def test_leaving_without_commit_leaves_no_trace(storage: Storage) -> None:
    order = new_order()
    with unit_of_work(storage) as uow:
        orders(uow).add(order)

    with unit_of_work(storage) as uow:
        assert orders(uow).get(order.id) is None
    assert storage.outbox.claim(10) == []
    assert storage.read_model.get(SUMMARIES, order.id) is None


def test_an_error_before_commit_leaves_neither_order_nor_outbox_rows(storage: Storage) -> None:
    order = new_order()
    with pytest.raises(RuntimeError, match="injected"), unit_of_work(storage) as uow:
        orders(uow).add(order)
        raise RuntimeError("injected after the order write, before commit")

    with unit_of_work(storage) as uow:
        assert orders(uow).get(order.id) is None
    assert storage.outbox.pending_count() == 0
    assert storage.read_model.get(SUMMARIES, order.id) is None


def test_a_change_commits_with_one_outbox_row_per_event(storage: Storage) -> None:
    order = place(storage)
    approve(storage, order.id)

    with unit_of_work(storage) as uow:
        loaded = orders(uow).get(order.id)
    assert loaded is not None and loaded.status is OrderStatus.APPROVED and loaded.version == 2
    assert [r.type for r in storage.outbox.claim(10)] == ["orders.OrderPlaced", "orders.OrderApproved"]
    summary = storage.read_model.get(SUMMARIES, order.id)
    assert summary is not None and summary.status is OrderStatus.APPROVED and summary.version == 2


def test_saving_a_stale_order_raises_conflict_and_stores_nothing(storage: Storage) -> None:
    order = place(storage)
    with unit_of_work(storage) as first:
        stale = orders(first).get(order.id)
        assert stale is not None
        approve(storage, order.id)  # someone else commits in between
        stale.cancel("too late", now=at(20), event_id=new_id("e"))
        with pytest.raises(ConcurrencyConflict):
            first.commit()

    with unit_of_work(storage) as uow:
        current = orders(uow).get(order.id)
    assert current is not None and current.status is OrderStatus.APPROVED and current.version == 2
    assert [r.type for r in storage.outbox.claim(10)] == ["orders.OrderPlaced", "orders.OrderApproved"]


def test_adding_an_order_whose_id_exists_raises_conflict(storage: Storage) -> None:
    order = place(storage)
    twin = new_order(customer="c-2", order_id=order.id)
    with unit_of_work(storage) as uow:
        orders(uow).add(twin)
        with pytest.raises(ConcurrencyConflict):
            uow.commit()
    assert storage.outbox.pending_count() == 1


def test_an_idempotency_key_finds_its_order_and_cannot_be_taken_twice(storage: Storage) -> None:
    order = place(storage, key="k-1")
    with unit_of_work(storage) as uow:
        found = orders(uow).get_by_idempotency_key("k-1")
        assert found is not None and found.id == order.id
        assert orders(uow).get_by_idempotency_key("k-other") is None
        orders(uow).add(new_order(key="k-1"))
        with pytest.raises(ConcurrencyConflict):
            uow.commit()
    assert storage.outbox.pending_count() == 1


def test_an_order_handed_out_is_a_private_copy(storage: Storage) -> None:
    order = place(storage)
    with unit_of_work(storage) as uow:
        loaded = orders(uow).get(order.id)
        assert loaded is not None
        loaded.approve(now=at(5), event_id=new_id("e"))
    with unit_of_work(storage) as uow:
        again = orders(uow).get(order.id)
    assert again is not None and again.status is OrderStatus.PENDING and again.version == 1


def test_committed_events_are_handed_over_once_in_order(storage: Storage) -> None:
    uow = unit_of_work(storage)
    order = new_order()
    with uow:
        orders(uow).add(order)
        uow.commit()
    with uow:
        loaded = orders(uow).get(order.id)
        assert loaded is not None
        loaded.approve(now=at(3), event_id=new_id("e"))
        uow.commit()
    events = uow.collect_new_events()
    assert [type(e) for e in events] == [OrderPlaced, OrderApproved]
    assert uow.collect_new_events() == []


def test_a_rolled_back_unit_hands_over_no_events(storage: Storage) -> None:
    uow = unit_of_work(storage)
    with uow:
        orders(uow).add(new_order())
    assert uow.collect_new_events() == []


def test_a_message_id_is_recorded_with_the_change_and_refused_the_second_time(storage: Storage) -> None:
    first = unit_of_work(storage)
    first.message_id = "m-1"
    with first:
        orders(first).add(new_order())
        first.commit()
        assert first.inbox.contains("m-1")

    second = unit_of_work(storage)
    second.message_id = "m-1"
    order = new_order()
    with second:
        orders(second).add(order)
        with pytest.raises(AlreadyProcessed):
            second.commit()
    with unit_of_work(storage) as uow:
        assert orders(uow).get(order.id) is None
    assert storage.outbox.pending_count() == 1


def test_a_message_id_is_not_recorded_when_the_change_rolls_back(storage: Storage) -> None:
    uow = unit_of_work(storage)
    uow.message_id = "m-2"
    with uow:
        orders(uow).add(new_order())
    with unit_of_work(storage) as check:
        assert not check.inbox.contains("m-2")


def test_many_changes_replay_to_the_same_order(storage: Storage) -> None:
    """Beyond the snapshot interval (3 in these suites), loading still gives the latest state."""
    order = place(storage)
    approve(storage, order.id)
    for step in range(2):
        with unit_of_work(storage) as uow:
            loaded = orders(uow).get(order.id)
            assert loaded is not None
            if step == 0:
                loaded.ship(now=at(30), event_id=new_id("e"))
            uow.commit()
    with unit_of_work(storage) as uow:
        final = orders(uow).get(order.id)
    assert final is not None and final.status is OrderStatus.SHIPPED and final.version == 3
    assert final.lines == order.lines and final.created_at == order.created_at
