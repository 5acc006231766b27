"""Contract of the Outbox port (the relay's side), on every storage adapter."""

from __future__ import annotations

import json

from core.kernel.envelope import OutboxRecord
from core.kernel.messages import event_from_dict
from ports.storage import Storage
from tests.contract.orders_fixtures import TOPIC, approve, at, new_order, orders, place, unit_of_work

PORT = "storage"


def test_claim_returns_unpublished_rows_in_order_up_to_the_limit(storage: Storage) -> None:
    orders = [place(storage, when=i) for i in range(3)]
    rows = storage.outbox.claim(2)
    assert [r.aggregate_id for r in rows] == [o.id for o in orders[:2]]
    assert rows[0].seq < rows[1].seq
    assert len(storage.outbox.claim(10)) == 3


def test_a_row_carries_the_event_it_was_made_from(storage: Storage) -> None:
    order = new_order()
    placed = order.pending_events[0]
    with unit_of_work(storage) as uow:
        orders(uow).add(order)
        uow.commit()
    row = storage.outbox.claim(1)[0]
    event = event_from_dict(json.loads(row.payload))
    assert event == placed
    assert (row.event_id, row.aggregate_version, row.type) == (event.event_id, 1, "orders.OrderPlaced")
    assert row.created_at == event.occurred_at and row.published_at is None
    assert row.topic == TOPIC


def test_a_message_sent_with_a_unit_of_work_is_committed_with_it_to_its_own_topic(storage: Storage) -> None:
    """Outbox rows carry any message and its destination, not only the context's own events."""
    order = new_order()
    command = OutboxRecord(event_id="cmd-1", aggregate_id=order.id, aggregate_version=1, type="inventory.Reserve",
                           payload='{"order_id": "x"}', created_at=at(1), topic="orderhex.inventory.commands")
    with unit_of_work(storage) as uow:
        orders(uow).add(order)
        uow.send(command)
        uow.commit()
    rows = storage.outbox.claim(10)
    assert [(r.type, r.topic) for r in rows] == [("orders.OrderPlaced", TOPIC),
                                                 ("inventory.Reserve", "orderhex.inventory.commands")]
    assert rows[0].seq < rows[1].seq and rows[1].payload == command.payload


def test_marked_rows_are_not_claimed_again_and_marking_twice_is_harmless(storage: Storage) -> None:
    first, second = place(storage), place(storage)
    rows = storage.outbox.claim(10)
    storage.outbox.mark_published([rows[0].seq], at(100))
    storage.outbox.mark_published([rows[0].seq], at(200))
    assert [r.aggregate_id for r in storage.outbox.claim(10)] == [second.id]
    published = [r for r in storage.outbox.recent(10) if r.aggregate_id == first.id]
    assert published[0].published_at == at(100)


def test_pending_count_and_oldest_pending_follow_publishing(storage: Storage) -> None:
    assert storage.outbox.pending_count() == 0 and storage.outbox.oldest_pending_at() is None
    place(storage, when=5)
    place(storage, when=7)
    assert storage.outbox.pending_count() == 2
    assert storage.outbox.oldest_pending_at() == at(5)
    storage.outbox.mark_published([storage.outbox.claim(1)[0].seq], at(50))
    assert storage.outbox.pending_count() == 1 and storage.outbox.oldest_pending_at() == at(7)


def test_purge_deletes_only_rows_published_before_the_cutoff(storage: Storage) -> None:
    for i in range(3):
        place(storage, when=i)
    rows = storage.outbox.claim(10)
    storage.outbox.mark_published([rows[0].seq], at(100))
    storage.outbox.mark_published([rows[1].seq], at(300))
    assert storage.outbox.purge_published(before=at(200)) == 1
    remaining = {r.seq for r in storage.outbox.recent(10)}
    assert remaining == {rows[1].seq, rows[2].seq}
    assert storage.outbox.pending_count() == 1


def test_recent_lists_newest_first_published_or_not(storage: Storage) -> None:
    orders = [place(storage, when=i) for i in range(3)]
    storage.outbox.mark_published([storage.outbox.claim(1)[0].seq], at(100))
    assert [r.aggregate_id for r in storage.outbox.recent(2)] == [orders[2].id, orders[1].id]


def test_history_lists_one_aggregates_rows_in_version_order(storage: Storage) -> None:
    order = place(storage)
    place(storage)
    approve(storage, order.id)
    assert [(r.type, r.aggregate_version) for r in storage.outbox.history(order.id)] == [
        ("orders.OrderPlaced", 1), ("orders.OrderApproved", 2)]
