"""librdkafka's log through Python logging, rate-limited; the broker's up/down said once per
change; the group join logged with its partitions."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from adapters.outbound.kafka.embedded import TansuBroker
from adapters.outbound.kafka.logs import BrokerState, RateLimit
from adapters.outbound.kafka.messaging import KafkaMessaging, KafkaSettings
from tests.fixtures_kafka import orders_topics

pytestmark = pytest.mark.kafka


def record(facility: str, client: str, text: str = "Connect failed") -> logging.LogRecord:
    return logging.LogRecord("orderhex.librdkafka", logging.ERROR, "", 0, "%s [%s] %s", (facility, client, text), None)


def test_the_rate_limit_lets_one_line_per_facility_and_client_through_per_window() -> None:
    now = [0.0]
    limit = RateLimit(window=30.0, clock=lambda: now[0])
    passed = [limit.filter(record("FAIL", "producer-1")) for _ in range(180)]
    assert passed.count(True) == 1
    assert limit.filter(record("FAIL", "producer-2")), "another client has its own allowance"
    assert limit.filter(record("REQTMOUT", "producer-1")), "and so has another facility"
    now[0] = 31.0
    late = record("FAIL", "producer-1")
    assert limit.filter(late)
    assert late.suppressed == 179 and late.facility == "FAIL" and late.client == "producer-1"  # type: ignore[attr-defined]
    assert late.levelname == "WARNING", "librdkafka's errors are warnings: orderhex rides them out"


def test_the_broker_state_says_each_change_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    state = BrokerState("Kafka at x", clock=lambda: now[0])
    with caplog.at_level(logging.INFO, logger="orderhex.kafka"):
        state.answered()  # up from the start: nothing to say
        for _ in range(5):
            state.failed("refused")
        now[0] = 112.5
        for _ in range(5):
            state.answered()
        state.failed("refused again")
    assert [r.getMessage() for r in caplog.records] == [
        "broker down: refused", "broker up again after 12.5 s", "broker down: refused again"]


def test_librdkafka_lines_of_a_broker_that_is_down_come_through_python_logging_rate_limited(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = TansuBroker(tmp_path).port  # chosen free, nothing listens
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
    producer = Producer({**settings.client_config(), "reconnect.backoff.ms": 10, "reconnect.backoff.max.ms": 20})
    with caplog.at_level(logging.DEBUG, logger="orderhex.librdkafka"):
        producer.produce("t", b"x")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            producer.poll(0.1)
        producer.purge()
        producer.flush(0)
    lines = [r for r in caplog.records if r.name == "orderhex.librdkafka"]
    assert lines, "librdkafka's log reached Python logging"
    assert any(f"127.0.0.1:{port}" in r.getMessage() for r in lines)
    per_key: dict[tuple[str, str], int] = {}
    for r in lines:
        key = (r.facility, r.client)  # type: ignore[attr-defined]
        per_key[key] = per_key.get(key, 0) + 1
    assert max(per_key.values()) == 1, per_key


def test_joining_the_group_is_logged_with_the_partitions(kafka_config: dict[str, Any],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    topic = orders_topics(kafka_config).commands
    messaging = KafkaMessaging(KafkaSettings(bootstrap_servers=kafka_config["messaging.bootstrap_servers"],
                                             session_timeout_ms=6000, heartbeat_interval_ms=500, topics=(topic,)))
    with caplog.at_level(logging.INFO, logger="orderhex.kafka"):
        subscriber = messaging.subscriber([topic], "joiners")
        deadline = time.monotonic() + 30
        while not subscriber.assignment and time.monotonic() < deadline:
            subscriber.poll(0.2)
        subscriber.close()
    messaging.close()
    messages = [r.getMessage() for r in caplog.records if r.name == "orderhex.kafka"]
    joined = [m for m in messages if m.startswith("joined group joiners")]
    assert joined and f"assigned partitions {topic}[0] after" in joined[0], messages
    assert messages[-1] == "left group joiners"


def test_interrupt_ends_a_publish_waiting_for_a_broker_that_does_not_answer() -> None:
    import socket
    import threading

    from adapters.outbound.kafka.messaging import KafkaPublisher, TopicAdmin
    from core.kernel.envelope import Message
    from core.kernel.errors import Unavailable

    deaf = socket.socket()
    deaf.bind(("127.0.0.1", 0))
    deaf.listen(64)  # accepts (in the backlog), never answers
    settings = KafkaSettings(bootstrap_servers=f"127.0.0.1:{deaf.getsockname()[1]}", delivery_timeout_ms=60_000)
    admin = TopicAdmin(settings)
    admin._known.add("t")  # as if the topic had been made before the broker went deaf
    publisher = KafkaPublisher(settings, admin)
    outcome: list[BaseException] = []

    def publish() -> None:
        try:
            publisher.publish("t", [Message(id="m", key="k", type="T", payload=b"x")])
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=publish, daemon=True)
    try:
        thread.start()
        thread.join(1.0)
        assert thread.is_alive(), "the publish waits for the broker"
        publisher.interrupt()
        thread.join(10)  # the delivery timeout is 60 s
        assert not thread.is_alive()
        [error] = outcome
        assert isinstance(error, Unavailable) and "interrupted" in str(error)
    finally:
        publisher.close()
        deaf.close()
