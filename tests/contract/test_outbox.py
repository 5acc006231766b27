"""Contract of the Outbox port (the relay's side), on every storage adapter."""

from __future__ import annotations

import json

from core.kernel.envelope import OutboxRecord
from core.kernel.messages import event_from_dict
from ports.storage import OutboxRow, Storage
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


def _seq_of(storage: Storage, aggregate_id: str, version: int = 1) -> int:
    return next(r.seq for r in storage.outbox.history(aggregate_id) if r.aggregate_version == version)


def test_a_parked_row_and_its_aggregates_later_rows_wait_while_other_aggregates_go_on(storage: Storage) -> None:
    refused, other = place(storage, when=1), place(storage, when=2)
    approve(storage, refused.id, when=3)
    assert storage.outbox.park(_seq_of(storage, refused.id), "too large", at(20))
    assert [(r.aggregate_id, r.aggregate_version) for r in storage.outbox.claim(10)] == [(other.id, 1)]
    # The parked row waits for an operator, not the relay; the row behind it still waits to go out.
    assert storage.outbox.pending_count() == 2 and storage.outbox.oldest_pending_at() == at(2)


def test_parked_lists_each_parked_row_with_its_reason_and_survives_a_reopen(storage: Storage) -> None:
    order = place(storage)
    seq = _seq_of(storage, order.id)
    storage.outbox.park(seq, "Message size too large", at(20))
    storage.close()
    [parked] = storage.outbox.parked()
    assert (parked.record.seq, parked.record.aggregate_id, parked.reason, parked.parked_at) == (
        seq, order.id, "Message size too large", at(20))


def test_park_changes_nothing_for_a_published_unknown_or_already_parked_row(storage: Storage) -> None:
    published, parked = place(storage), place(storage)
    storage.outbox.mark_published([_seq_of(storage, published.id)], at(10))
    assert storage.outbox.park(_seq_of(storage, parked.id), "first", at(20))
    assert not storage.outbox.park(_seq_of(storage, published.id), "late", at(30))
    assert not storage.outbox.park(_seq_of(storage, parked.id), "second", at(30))
    assert not storage.outbox.park(9999, "unknown", at(30))
    assert [(p.record.aggregate_id, p.reason) for p in storage.outbox.parked()] == [(parked.id, "first")]


def test_a_retried_row_is_claimed_again_before_the_rows_that_waited_behind_it(storage: Storage) -> None:
    order = place(storage)
    approve(storage, order.id)
    seq = _seq_of(storage, order.id)
    storage.outbox.park(seq, "too large", at(20))
    assert storage.outbox.retry(seq)
    assert storage.outbox.parked() == []
    assert [r.aggregate_version for r in storage.outbox.claim(10)] == [1, 2]
    assert not storage.outbox.retry(seq)


def test_a_dropped_row_is_gone_and_the_rows_behind_it_go_on(storage: Storage) -> None:
    order = place(storage)
    approve(storage, order.id)
    seq = _seq_of(storage, order.id)
    storage.outbox.park(seq, "too large", at(20))
    dropped = storage.outbox.drop(seq)
    assert dropped is not None and (dropped.seq, dropped.type) == (seq, "orders.OrderPlaced")
    assert [r.aggregate_version for r in storage.outbox.claim(10)] == [2]
    assert storage.outbox.parked() == [] and seq not in {r.seq for r in storage.outbox.recent(10)}
    assert storage.outbox.drop(seq) is None


def test_requeued_published_rows_are_claimed_again_in_order_and_parked_rows_stay_parked(storage: Storage) -> None:
    first, second, refused = place(storage, when=1), place(storage, when=2), place(storage, when=3)
    storage.outbox.mark_published([_seq_of(storage, first.id), _seq_of(storage, second.id)], at(10))
    storage.outbox.park(_seq_of(storage, refused.id), "too large", at(20))
    assert storage.outbox.requeue_published() == 2
    assert [r.aggregate_id for r in storage.outbox.claim(10)] == [first.id, second.id]
    assert all(r.published_at is None for r in storage.outbox.claim(10))
    assert [p.record.aggregate_id for p in storage.outbox.parked()] == [refused.id]
    assert storage.outbox.requeue_published() == 0


def test_a_claimed_row_is_parked_and_the_next_claim_hands_out_the_others(storage: Storage) -> None:
    """What a relay does when the broker refuses a row of the batch it claimed."""
    refused, other = place(storage), place(storage)
    rows = storage.outbox.claim(10)
    assert storage.outbox.park(rows[0].seq, "too large", at(20))
    assert [r.aggregate_id for r in storage.outbox.claim(10)] == [other.id]
    assert [p.record.aggregate_id for p in storage.outbox.parked()] == [refused.id]


def test_claim_rows_above_a_seq_hands_out_the_rows_after_it_as_claim_does(storage: Storage) -> None:
    orders = [place(storage, when=i) for i in range(4)]
    # As a pipelining relay claims: the next batch above the last row it has in flight.
    first = storage.outbox.claim_rows(2)
    more = storage.outbox.claim_rows(10, after=first[-1].seq)
    assert [r.aggregate_id for r in first + more] == [o.id for o in orders]
    assert storage.outbox.claim_rows(10, after=more[-1].seq) == []
    assert first + more == [OutboxRow.of(record) for record in storage.outbox.claim(10)]


def test_a_parked_row_below_the_claims_mark_still_holds_its_aggregates_later_rows(storage: Storage) -> None:
    refused, other = place(storage, when=1), place(storage, when=2)
    approve(storage, refused.id, when=3)  # rows: refused v1, other v1, refused v2
    parked = _seq_of(storage, refused.id)
    assert storage.outbox.park(parked, "too large", at(20))
    assert [(r.aggregate_id, r.aggregate_version) for r in storage.outbox.claim_rows(10, after=parked)] == [
        (other.id, 1)]
