"""The Kafka adapter's own promises, against the real broker: what a record looks like to other
clients, topics made on start, failures reported as Unavailable, the embedded broker's life."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient

import bootstrap
from adapters.outbound.kafka.embedded import TansuBroker, answers, ensure_embedded, stop_embedded
from adapters.outbound.kafka.messaging import KafkaMessaging
from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.envelope import Message, OutboxRecord
from core.kernel.errors import Unavailable
from tests.fixtures_kafka import SHORT_TIMINGS, orders_topics, receive, start_tansu

pytestmark = pytest.mark.kafka


def open_messaging(overrides: dict[str, Any], tmp_path: Path) -> KafkaMessaging:
    config = bootstrap.load_config(env={}, overrides={"data_dir": str(tmp_path), **overrides})
    messaging = bootstrap.MESSAGING_ADAPTERS["kafka"](config, RingBufferFeed(10))
    assert isinstance(messaging, KafkaMessaging)
    return messaging


def test_the_configured_topics_exist_once_the_adapter_is_built(kafka_config: dict[str, Any], tmp_path: Path) -> None:
    messaging = open_messaging(kafka_config, tmp_path)
    admin = AdminClient({"bootstrap.servers": kafka_config["messaging.bootstrap_servers"]})
    topics = admin.list_topics(timeout=10).topics
    messaging.close()
    prefix = kafka_config["messaging.topic_prefix"]
    for service in ("orders", "inventory", "payments", "shipping"):
        for topic in (f"{prefix}.{service}.events", f"{prefix}.{service}.commands", f"{prefix}.{service}.commands.dlq"):
            assert topic in topics


def test_an_outbox_row_is_a_record_any_kafka_client_can_read(kafka_config: dict[str, Any], tmp_path: Path) -> None:
    messaging = open_messaging(kafka_config, tmp_path)
    topic = orders_topics(kafka_config).events
    row = OutboxRecord(event_id="e-1", aggregate_id="o-1", aggregate_version=3, type="orders.OrderShipped",
                       payload='{"type":"orders.OrderShipped"}', created_at=datetime.now(UTC), seq=9)
    messaging.publisher.publish(topic, [row.to_message(topic=topic)])
    messaging.close()
    consumer = Consumer({"bootstrap.servers": kafka_config["messaging.bootstrap_servers"], "group.id": "plain",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000,
                         "heartbeat.interval.ms": 500})
    consumer.subscribe([topic])
    deadline, record = time.monotonic() + 30, None
    while record is None and time.monotonic() < deadline:
        record = consumer.poll(0.5)
    consumer.close()
    assert record is not None and record.error() is None
    headers = {k: v.decode() for k, v in record.headers()}
    assert record.key() == b"o-1" and record.value() == b'{"type":"orders.OrderShipped"}'
    assert headers == {"event_id": "e-1", "type": "orders.OrderShipped", "aggregate_version": "3",
                       "correlation_id": "o-1", "causation_id": "e-1", "message_id": "e-1",
                       "message_type": "orders.OrderShipped"}


def test_a_record_from_another_client_gets_an_id_from_its_position(
    kafka_config: dict[str, Any], tmp_path: Path
) -> None:
    messaging = open_messaging(kafka_config, tmp_path)
    topic = orders_topics(kafka_config).commands
    producer = Producer({"bootstrap.servers": kafka_config["messaging.bootstrap_servers"]})
    producer.produce(topic, b"{}", headers=[("type", "PlaceOrder")])
    assert producer.flush(10) == 0
    [message] = receive(messaging, topic, "positions", 1)
    messaging.close()
    assert (message.id, message.key, message.type, message.headers) == (f"{topic}:0:0", "", "PlaceOrder",
                                                                         {"type": "PlaceOrder"})


def test_publishing_to_a_broker_that_is_down_raises_unavailable_naming_it(tmp_path: Path) -> None:
    broker = start_tansu(tmp_path / "brief")
    overrides = {"messaging.bootstrap_servers": broker.bootstrap_servers, **SHORT_TIMINGS,
                 "messaging.delivery_timeout_ms": 1000}
    messaging = open_messaging(overrides, tmp_path)
    broker.stop()
    started = time.monotonic()
    with pytest.raises(Unavailable, match=f"Kafka at {broker.bootstrap_servers}"):
        messaging.publisher.publish("orderhex.orders.events", [Message(id="m", key="k", type="T", payload=b"x")])
    assert time.monotonic() - started < 10, "the delivery timeout bounds the wait"
    with pytest.raises(Unavailable, match=r"start the broker or fix messaging\.bootstrap_servers"):
        messaging.check()
    messaging.close()


def test_building_the_adapter_against_no_broker_is_unavailable(tmp_path: Path) -> None:
    port = TansuBroker(tmp_path).port  # a free port nobody listens on
    with pytest.raises(Unavailable, match=f"127.0.0.1:{port}"):
        open_messaging({"messaging.bootstrap_servers": f"127.0.0.1:{port}", "messaging.delivery_timeout_ms": 1000},
                       tmp_path)


def test_the_embedded_broker_is_started_once_per_data_dir_and_shared(tmp_path: Path) -> None:
    try:
        servers = ensure_embedded(tmp_path)
        assert ensure_embedded(tmp_path) == servers, "a second process attaches to the running broker"
        messaging = open_messaging({"messaging.bootstrap_servers": "embedded", **SHORT_TIMINGS}, tmp_path)
        assert servers in messaging.describe() and "embedded" in messaging.describe()
        messaging.check()
        messaging.close()
    finally:
        assert stop_embedded(tmp_path)
    port = int(servers.rsplit(":", 1)[1])
    deadline = time.monotonic() + 10
    while answers(port):
        assert time.monotonic() < deadline, "the embedded broker did not stop"
        time.sleep(0.05)
    assert not stop_embedded(tmp_path)
