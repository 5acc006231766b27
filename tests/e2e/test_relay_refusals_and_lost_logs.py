"""The relay against a broker that refuses a message for good (the row is parked, the rest goes
on, an operator retries or drops it) and one that lost its log (the retained rows go out again,
and a real consumer handles each event once)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from adapters.inbound.workers.roles import context_consumer
from adapters.outbound.memory.broker import MemoryPublisher
from adapters.outbound.memory.messaging import MemoryMessaging
from core.kernel.envelope import OutboxRecord
from core.kernel.errors import NotFound
from core.kernel.feed import FeedKind
from core.orders.wire import place_order_from_json
from core.runtime.relay import OutboxRelay

pytestmark = pytest.mark.manual

TOPIC = "orderhex.orders.events"
LIMIT = 1000


def make_app(tmp_path: Path, **overrides: Any) -> bootstrap.Application:
    config = bootstrap.load_config(env={}, overrides={"data_dir": str(tmp_path), **overrides})
    return bootstrap.Application(config)


@pytest.fixture
def app(tmp_path: Path) -> Iterator[bootstrap.Application]:
    application = make_app(tmp_path)
    yield application
    application.close()


def broker(app: bootstrap.Application) -> MemoryMessaging:
    messaging = app.switchboard.get("messaging")
    assert isinstance(messaging, MemoryMessaging)
    return messaging


def limit_messages(app: bootstrap.Application, max_bytes: int | None) -> None:
    """The memory broker with a per-message size limit, as a Kafka broker's message.max.bytes."""
    messaging = broker(app)
    messaging.publisher = MemoryPublisher(messaging.broker, max_message_bytes=max_bytes)


def commit_rows(app: bootstrap.Application, *rows: tuple[str, int, int]) -> dict[tuple[str, int], int]:
    """Commit one outbox row per (key, version, payload size); returns each one's seq."""
    records = [OutboxRecord(event_id=f"{key}-{version}", aggregate_id=key, aggregate_version=version,
                            type="orders.Test", payload="x" * size, created_at=datetime(2026, 1, 1, tzinfo=UTC),
                            topic=TOPIC) for key, version, size in rows]
    seqs = app.storage.committer.write([], records, [], [])
    return {(r.aggregate_id, r.aggregate_version): seq for r, seq in zip(records, seqs, strict=True)}


def relay(app: bootstrap.Application) -> OutboxRelay:
    return bootstrap.relay_worker(app).loop.relay


def sent(app: bootstrap.Application) -> list[str]:
    return [m.id for m in broker(app).broker.messages(TOPIC)]


def test_a_refused_row_is_parked_with_its_reason_and_other_keys_are_published_in_order(
        app: bootstrap.Application) -> None:
    limit_messages(app, LIMIT)
    seqs = commit_rows(app, ("a", 1, 10), ("b", 1, 5 * LIMIT), ("c", 1, 10), ("b", 2, 10), ("d", 1, 10))
    assert relay(app).publish_batch() == 3
    # a-1 went out with the refused batch and again after it: a duplicate consumers drop by id.
    assert list(dict.fromkeys(sent(app))) == ["a-1", "c-1", "d-1"], "b-2 waits behind its aggregate's parked b-1"
    [parked] = app.operations.parked_rows()
    assert (parked.seq, parked.key, parked.service) == (seqs[("b", 1)], "b", "orders")
    assert "over the broker's limit of 1000 bytes" in parked.reason and parked.payload_bytes == 5 * LIMIT
    [report] = [e for e in app.feed.recent() if e.kind == FeedKind.OUTBOX_PARKED]
    assert report.data["seq"] == parked.seq and "retry" in report.text and parked.reason in report.text
    status = app.operations.outbox_status()
    assert (status.parked, status.pending) == (1, 1)
    assert relay(app).publish_batch() == 0, "nothing more goes out until an operator acts"


def test_a_retried_row_goes_out_before_the_rows_of_its_key_that_waited(app: bootstrap.Application) -> None:
    limit_messages(app, LIMIT)
    seqs = commit_rows(app, ("b", 1, 2 * LIMIT), ("b", 2, 10))
    relay(app).publish_batch()
    limit_messages(app, 4 * LIMIT)  # the operator raised the broker's limit
    row = app.operations.retry_parked(seqs[("b", 1)])
    assert row.key == "b" and app.operations.parked_rows() == []
    assert relay(app).publish_batch() == 2
    assert sent(app) == ["b-1", "b-2"]


def test_a_dropped_row_is_never_published_and_the_rows_of_its_key_go_on(app: bootstrap.Application) -> None:
    limit_messages(app, LIMIT)
    seqs = commit_rows(app, ("b", 1, 2 * LIMIT), ("b", 2, 10))
    relay(app).publish_batch()
    app.operations.drop_parked(seqs[("b", 1)], service="orders")
    assert relay(app).publish_batch() == 1
    assert sent(app) == ["b-2"]
    actions = [e.data.get("action") for e in app.feed.recent() if e.kind == FeedKind.OUTBOX_PARKED]
    assert actions == ["parked", "dropped"]
    with pytest.raises(NotFound):
        app.operations.drop_parked(seqs[("b", 1)])


def test_a_relay_republishes_retained_rows_after_the_broker_lost_its_log_and_each_is_handled_once(
        app: bootstrap.Application) -> None:
    """Inventory reacts to each OrderPlaced (its react path, with its inbox); the broker loses its
    log after the consumer handled some of them and before it read the rest."""
    def place(i: int) -> str:
        body = {"customer_id": f"c-{i}", "lines": [{"sku": "SKU-1", "quantity": 1, "unit_price": "9.99"}]}
        return app.ordering.send(place_order_from_json(body)).order_id

    orders = [place(i) for i in range(6)]
    the_relay = relay(app)
    assert the_relay.publish_batch() == 6
    consumer = context_consumer(app, "inventory")
    subscriber = app.messaging.subscriber(consumer.settings.topics, consumer.settings.group)
    for message in subscriber.poll(1.0, max_messages=2):
        consumer.handle(message)
        subscriber.ack(message)
    broker(app).lose_log()
    orders += [place(i) for i in range(6, 9)]
    assert the_relay.publish_batch() == 9, "the 6 retained rows again, then the 3 new ones"
    assert [m.key for m in broker(app).broker.messages(TOPIC)] == orders, "in seq order"
    [requeued] = [e for e in app.feed.recent() if e.kind == FeedKind.OUTBOX_REQUEUED]
    assert requeued.data["count"] == 6
    while consumer.consume_batch(subscriber):
        pass
    assert (consumer.counts.reacted, consumer.counts.duplicates) == (9, 2)
    reactions = [r for r in app.services["inventory"].storage.outbox.recent(100) if r.type.startswith("inventory.")]
    assert sorted(r.aggregate_id for r in reactions) == sorted(orders), "one reaction per order, none lost"
