"""The Kafka publisher against the real broker: a message the broker (or librdkafka for it) refuses
for good raises Refused naming that message, not Unavailable and not a bare KafkaException, and
the publisher goes on publishing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import bootstrap
from adapters.outbound.kafka.messaging import KafkaMessaging
from adapters.outbound.memory.feed import RingBufferFeed
from core.kernel.envelope import Message
from core.kernel.errors import Refused
from tests.fixtures_kafka import read_topic

pytestmark = pytest.mark.kafka


def message(n: int, payload: bytes = b"{}") -> Message:
    return Message(id=f"m-{n}", key="k", type="Thing", payload=payload, headers={})


@pytest.fixture
def messaging(tmp_path: Path, kafka_config: dict[str, Any]) -> Any:
    config = bootstrap.load_config(env={}, overrides={"data_dir": str(tmp_path), **kafka_config})
    broker: KafkaMessaging = bootstrap.MESSAGING_ADAPTERS["kafka"](config, RingBufferFeed(10))
    yield broker
    broker.close()


def test_a_message_over_the_size_limit_is_refused_by_name_and_the_others_are_sent(
        messaging: KafkaMessaging, kafka_config: dict[str, Any]) -> None:
    topic = f"{kafka_config['messaging.topic_prefix']}.refusals"
    with pytest.raises(Refused) as refused:
        messaging.publisher.publish(topic, [message(1), message(2, b"x" * 2_000_000), message(3)])
    assert refused.value.message_id == "m-2"
    assert "MSG_SIZE_TOO_LARGE" in refused.value.reason and topic in refused.value.reason
    messaging.publisher.publish(topic, [message(4)])
    sent = read_topic(kafka_config["messaging.bootstrap_servers"], topic, 3)
    assert [m.id for m in sent] == ["m-1", "m-3", "m-4"]

