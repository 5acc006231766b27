"""Several relays on one PostgreSQL outbox (FOR UPDATE SKIP LOCKED), publishing to the real broker."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import bootstrap
from core.kernel.envelope import Message
from core.orders.commands import ApproveOrder
from core.orders.wire import place_order_from_json
from tests.fixtures_kafka import orders_topics, read_topic

pytestmark = [pytest.mark.postgres, pytest.mark.kafka, pytest.mark.manual]


def test_two_relays_share_the_outbox_without_publishing_a_row_twice(
    tmp_path: Path, kafka_config: dict[str, Any], postgres_overrides: dict[str, Any]
) -> None:
    overrides = {"data_dir": str(tmp_path), "storage.adapter": "postgres", "relay.batch_size": 7,
                 "relay.idle_ms": 10, **postgres_overrides, **kafka_config}
    apps = [bootstrap.Application(bootstrap.load_config(env={}, overrides=overrides)) for _ in range(2)]
    writer = apps[0]
    orders = []
    for i in range(60):
        body = {"customer_id": f"c-{i}", "lines": [{"sku": "S", "quantity": 1, "unit_price": "1.00"}]}
        orders.append(writer.ordering.send(place_order_from_json(body)).order_id)
    for order_id in orders[::2]:
        writer.ordering.send(ApproveOrder(order_id=order_id))
    expected = 60 + 30
    workers = [bootstrap.start_relay(app) for app in apps]
    try:
        deadline = time.monotonic() + 60
        while writer.storage.outbox.pending_count():
            assert time.monotonic() < deadline, "the relays did not drain the outbox"
            time.sleep(0.05)
        messages = read_topic(kafka_config["messaging.bootstrap_servers"], orders_topics(kafka_config).events,
                              expected)
    finally:
        for worker in workers:
            worker.stop()
        for app in apps:
            app.close()
    assert all(w.published > 0 for w in workers), "both relays took part"
    assert sum(w.published for w in workers) == expected, "no row was published twice"
    counts = Counter(m.id for m in messages)
    assert len(counts) == expected and max(counts.values()) == 1
    assert_versions_ascend(messages)


def assert_versions_ascend(messages: list[Message]) -> None:
    versions: dict[str, list[int]] = {}
    for message in messages:
        versions.setdefault(message.key, []).append(json.loads(message.payload)["aggregate_version"])
    assert all(v == sorted(v) for v in versions.values()), "one order's events keep their order"
