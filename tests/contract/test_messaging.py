"""Contract of the Publisher and Subscriber ports, on every messaging adapter."""

from __future__ import annotations

import dataclasses
import itertools
import os
import signal
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bootstrap
from adapters.outbound.kafka.embedded import embedded_status, stop_embedded
from adapters.outbound.memory.feed import RingBufferFeed
from adapters.outbound.memory.messaging import MemoryMessaging
from core.kernel.envelope import Message, OutboxRecord
from core.kernel.errors import Unavailable
from ports.messaging import Messaging, StreamingPublisher, Subscriber
from ports.storage import OutboxRow
from tests.fixtures_kafka import SHORT_TIMINGS

PORT = "messaging"
_topics = itertools.count(1)
# Generous for real brokers (group joins), bounded so a broken adapter fails rather than hangs.
DEADLINE_S = 30.0


def _topic() -> str:
    return f"contract-{time.time_ns()}-{next(_topics)}"


def _message(n: int, key: str = "k") -> Message:
    return Message(id=f"m-{n}", key=key, type="Thing", payload=f'{{"n": {n}}}'.encode(),
                   headers={"event_id": f"m-{n}", "type": "Thing"})


def _receive(subscriber: Subscriber, count: int) -> list[Message]:
    got: list[Message] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(got) < count and time.monotonic() < deadline:
        got.extend(subscriber.poll(timeout=0.5, max_messages=count - len(got)))
    return got


def test_published_messages_arrive_with_their_key_headers_and_payload(messaging: Messaging) -> None:
    topic = _topic()
    subscriber = messaging.subscriber([topic], group=f"g-{topic}")
    messaging.publisher.publish(topic, [_message(1)])
    [got] = _receive(subscriber, 1)
    assert (got.id, got.key, got.type, got.payload, got.topic) == ("m-1", "k", "Thing", b'{"n": 1}', topic)
    assert got.headers["event_id"] == "m-1"
    subscriber.close()


def test_messages_with_one_key_keep_their_order(messaging: Messaging) -> None:
    topic = _topic()
    subscriber = messaging.subscriber([topic], group=f"g-{topic}")
    messaging.publisher.publish(topic, [_message(n, key="same") for n in range(20)])
    got = _receive(subscriber, 20)
    assert [m.id for m in got] == [f"m-{n}" for n in range(20)]
    subscriber.close()


def test_a_new_member_resumes_after_the_last_acked_message(messaging: Messaging) -> None:
    topic, group = _topic(), "resume"
    messaging.publisher.publish(topic, [_message(n) for n in range(4)])
    first = messaging.subscriber([topic], group=group)
    got = _receive(first, 4)
    first.ack(got[1])
    first.close()
    second = messaging.subscriber([topic], group=group)
    assert [m.id for m in _receive(second, 2)] == ["m-2", "m-3"]
    second.close()


def test_every_group_gets_every_message(messaging: Messaging) -> None:
    topic = _topic()
    one, two = messaging.subscriber([topic], group="one"), messaging.subscriber([topic], group="two")
    messaging.publisher.publish(topic, [_message(1), _message(2)])
    assert [m.id for m in _receive(one, 2)] == [m.id for m in _receive(two, 2)] == ["m-1", "m-2"]
    one.close()
    two.close()


def test_a_broker_that_answers_passes_its_check(messaging: Messaging) -> None:
    messaging.check()
    assert messaging.describe()


def test_the_incarnation_stays_while_the_broker_keeps_its_log(messaging: Messaging) -> None:
    first = messaging.incarnation()
    messaging.publisher.publish(_topic(), [_message(1)])
    messaging.check()
    assert messaging.incarnation() == first


@pytest.fixture
def losing(request: pytest.FixtureRequest, messaging_adapter: str,
           tmp_path: Path) -> Iterator[tuple[Messaging, Callable[[], None]]]:
    """The adapter, and a way to make its broker lose its log: the memory broker forgets; Kafka
    runs on the data directory's embedded broker (the only one whose restarts it can see), which
    is killed (kill -9)."""
    if messaging_adapter == "memory":
        memory = MemoryMessaging()
        yield memory, memory.lose_log
        return
    request.getfixturevalue("tansu")  # skips, as every Kafka test does, without the broker's wheel
    config = bootstrap.load_config(env={}, overrides={
        "messaging.adapter": messaging_adapter, "data_dir": str(tmp_path),
        "messaging.bootstrap_servers": "embedded", **SHORT_TIMINGS})
    broker: Messaging = bootstrap.MESSAGING_ADAPTERS[messaging_adapter](config, RingBufferFeed(100))

    def kill() -> None:
        status = embedded_status(tmp_path)
        assert status.record is not None and status.state == "running"
        os.kill(status.record.pid, signal.SIGKILL)

    try:
        yield broker, kill
        broker.close()
    finally:
        stop_embedded(tmp_path)


def test_the_incarnation_changes_when_the_broker_loses_its_log(losing: tuple[Messaging, Callable[[], None]]) -> None:
    messaging, lose_log = losing
    before = messaging.incarnation()
    lose_log()
    # A client that finds the broker gone brings it back (the embedded one: see ports/messaging.py).
    deadline = time.monotonic() + DEADLINE_S
    while True:
        try:
            messaging.check()
            break
        except Unavailable:
            assert time.monotonic() < deadline, "the broker did not come back"
            time.sleep(0.1)
    time.sleep(1.1)  # the incarnation may be cached for a second
    after = messaging.incarnation()
    assert after is not None and after != before
    topic = _topic()
    subscriber = messaging.subscriber([topic], group=f"g-{topic}")
    messaging.publisher.publish(topic, [_message(1)])
    assert [m.id for m in _receive(subscriber, 1)] == ["m-1"]
    subscriber.close()


def _rows(count: int, topic: str = "") -> list[OutboxRow]:
    return [OutboxRow(seq=n, event_id=f"e-{time.time_ns()}-{n}", aggregate_id=f"order-{n % 3}", aggregate_version=n,
                      type="OrderPlaced", payload=f'{{"n":{n}}}', topic=topic) for n in range(1, count + 1)]


def _as_the_relay_published_it(message: Message) -> tuple[object, ...]:
    return message.id, message.key, message.type, message.payload, message.topic, sorted(message.headers.items())


def test_rows_sent_streaming_arrive_as_their_messages_would_published(messaging: Messaging) -> None:
    """The relay's pipelined path builds the wire records straight from outbox rows: a consumer
    must get exactly what `OutboxRecord.to_message` + `publish` gives, in order per key."""
    publisher = messaging.publisher
    assert isinstance(publisher, StreamingPublisher)
    streamed, published = _topic(), _topic()
    rows = _rows(12)
    first, second = publisher.send(rows[:5], streamed), publisher.send(rows[5:], streamed)
    first.wait()
    second.wait()
    assert first.confirmed() == {row.event_id for row in rows[:5]} and not first.halted
    records = [OutboxRecord(seq=r.seq, event_id=r.event_id, aggregate_id=r.aggregate_id,
                            aggregate_version=r.aggregate_version, type=r.type, payload=r.payload,
                            created_at=datetime.now(UTC)) for r in rows]
    publisher.publish(published, [record.to_message(topic=published) for record in records])
    got_streamed = _receive(messaging.subscriber([streamed], group=f"g-{streamed}"), 12)
    got_published = _receive(messaging.subscriber([published], group=f"g-{published}"), 12)
    by_id = {m.id: m for m in got_published}
    assert len(got_streamed) == 12 and len(by_id) == 12
    for message in got_streamed:
        expected = dataclasses.replace(by_id[message.id], topic=streamed)
        assert _as_the_relay_published_it(message) == _as_the_relay_published_it(expected)
    for key in {row.aggregate_id for row in rows}:
        assert [m.id for m in got_streamed if m.key == key] == [r.event_id for r in rows if r.aggregate_id == key]


def test_a_row_sent_to_a_topic_of_its_own_goes_there(messaging: Messaging) -> None:
    own, default = _topic(), _topic()
    rows = _rows(2, topic=own)
    sending = messaging.publisher.send(rows, default)  # type: ignore[attr-defined]
    sending.wait()
    got = _receive(messaging.subscriber([own], group=f"g-{own}"), 2)
    assert [m.id for m in got] == [r.event_id for r in rows]
