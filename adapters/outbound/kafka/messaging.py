"""The Publisher, Subscriber and Messaging ports over Kafka (confluent-kafka / librdkafka).

On the wire a Message is one Kafka record: key = the message key (an aggregate id, so one
order's events share a partition and keep their order), value = the payload, headers = the
message's headers plus two of the transport's own, `message_id` and `message_type`, which are
taken off again on receipt. A record without `message_id` (sent by another client) gets the id
`<topic>:<partition>:<offset>`, stable across redeliveries.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka import Message as KafkaRecord
from confluent_kafka.admin import AdminClient, NewTopic

from core.kernel.envelope import Message
from core.kernel.errors import Unavailable

ID_HEADER = "message_id"
TYPE_HEADER = "message_type"
_TRANSPORT_HEADERS = (ID_HEADER, TYPE_HEADER)


@dataclass(frozen=True, kw_only=True)
class KafkaSettings:
    bootstrap_servers: str
    partitions: int = 1
    delivery_timeout_ms: int = 30_000
    session_timeout_ms: int = 45_000
    heartbeat_interval_ms: int = 3_000
    topics: tuple[str, ...] = ()

    def what(self) -> str:
        return f"Kafka at {self.bootstrap_servers}"

    def hint(self) -> str:
        return "start the broker or fix messaging.bootstrap_servers"


class TopicAdmin:
    """Creates topics that do not exist yet (idempotent, remembered per process)."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._settings = settings
        self._client: AdminClient | None = None
        self._known: set[str] = set()
        self._lock = threading.Lock()

    @property
    def client(self) -> AdminClient:
        if self._client is None:
            self._client = AdminClient({"bootstrap.servers": self._settings.bootstrap_servers})
        return self._client

    def ensure(self, topics: Sequence[str], *, force: bool = False) -> None:
        with self._lock:
            missing = [t for t in dict.fromkeys(topics) if force or t not in self._known]
            if not missing:
                return
            timeout = self._settings.delivery_timeout_ms / 1000
            futures = self.client.create_topics(
                [NewTopic(t, self._settings.partitions, 1) for t in missing], operation_timeout=timeout,
                request_timeout=timeout,
            )
            for topic, future in futures.items():
                try:
                    future.result(timeout)
                except KafkaException as exc:
                    if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                        raise Unavailable(self._settings.what(), f"cannot create topic {topic}: {exc}",
                                          self._settings.hint()) from exc
                except Exception as exc:  # a timeout surfaces as a bare concurrent.futures error
                    raise Unavailable(self._settings.what(), f"cannot create topic {topic}: {exc!r}",
                                      self._settings.hint()) from exc
                self._known.add(topic)

    def forget(self) -> None:
        """After a failure the broker may have restarted empty: check the topics again."""
        with self._lock:
            self._known.clear()

    def close(self) -> None:
        with self._lock:
            self._client = None

    def check(self) -> None:
        try:
            self.client.list_topics(timeout=min(5.0, self._settings.delivery_timeout_ms / 1000))
        except KafkaException as exc:
            raise Unavailable(self._settings.what(), str(exc.args[0]), self._settings.hint()) from exc


class KafkaPublisher:
    """The Publisher port: an idempotent producer; `publish` waits for every delivery report."""

    def __init__(self, settings: KafkaSettings, admin: TopicAdmin) -> None:
        self._settings = settings
        self._admin = admin
        # One publish at a time: flush() waits for the whole queue, so publishes must not interleave.
        self._lock = threading.Lock()
        self._producer: Producer | None = None

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer({
                "bootstrap.servers": self._settings.bootstrap_servers,
                "enable.idempotence": True,
                "message.timeout.ms": self._settings.delivery_timeout_ms,
                # publish() flushes as soon as the batch is queued: lingering would only delay the
                # confirmation the caller waits for (5 ms cost 13 ms per 500-message batch here).
                "linger.ms": 1,
            })
        return self._producer

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        if not messages:
            return
        with self._lock:
            try:
                self._admin.ensure([topic])
                self._send(topic, messages)
            except Unavailable:
                # Queued copies must not go out after the caller's retry, and a producer whose
                # broker restarted empty carries a stale producer id: start afresh.
                self._discard()
                self._admin.forget()
                raise

    def _send(self, topic: str, messages: Sequence[Message]) -> None:
        producer = self.producer
        failures: list[KafkaError] = []

        def delivered(error: KafkaError | None, _record: KafkaRecord) -> None:
            if error is not None:
                failures.append(error)

        for message in messages:
            headers = {**message.headers, ID_HEADER: message.id, TYPE_HEADER: message.type}
            while True:
                try:
                    producer.produce(topic, value=message.payload, key=message.key.encode(),
                                     headers=list(headers.items()), on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
        deadline = time.monotonic() + self._settings.delivery_timeout_ms / 1000 + 5
        remaining = len(producer)
        while remaining and time.monotonic() < deadline and not failures:
            remaining = producer.flush(0.1)
        if failures or remaining:
            reason = str(failures[0]) if failures else f"{remaining} message(s) not confirmed in time"
            raise Unavailable(self._settings.what(), f"publishing to {topic} failed: {reason}", self._settings.hint())

    def _discard(self) -> None:
        if self._producer is not None:
            self._producer.purge()
            self._producer.flush(0)
            self._producer = None

    def close(self) -> None:
        """Flush and drop the connection; the next publish opens a new one."""
        with self._lock:
            if self._producer is not None:
                self._producer.flush(self._settings.delivery_timeout_ms / 1000)
                self._producer = None


class KafkaSubscriber:
    """The Subscriber port: one consumer-group member; `ack` stores the offset after the message,
    and librdkafka commits stored offsets in the background, on rebalance and on close."""

    def __init__(self, settings: KafkaSettings, topics: Sequence[str], group: str) -> None:
        self._settings = settings
        self._consumer = Consumer({
            "bootstrap.servers": settings.bootstrap_servers,
            "group.id": group,
            "enable.auto.offset.store": False,
            "enable.auto.commit": True,
            "auto.commit.interval.ms": 500,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": settings.session_timeout_ms,
            "heartbeat.interval.ms": settings.heartbeat_interval_ms,
            "topic.metadata.refresh.interval.ms": 5_000,
        })
        self._consumer.subscribe(list(topics))

    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]:
        deadline = time.monotonic() + timeout
        records: list[KafkaRecord] = []
        while not records:
            left = deadline - time.monotonic()
            if left <= 0:
                return []
            first = self._consumer.poll(left)
            if first is None:
                return []
            records = [first]
            if max_messages > 1:
                # Only what is already fetched: the caller gets its batch without waiting longer.
                records.extend(self._consumer.consume(max_messages - 1, 0))
            records = [r for r in records if self._usable(r)]
        return [record_to_message(r) for r in records]

    def _usable(self, record: KafkaRecord) -> bool:
        error = record.error()
        if error is None:
            return True
        if error.fatal():
            raise Unavailable(self._settings.what(), str(error), self._settings.hint())
        return False

    def ack(self, message: Message) -> None:
        if message.offset is None or message.partition is None:
            raise ValueError("only a polled message can be acknowledged")
        try:
            self._consumer.store_offsets(offsets=[TopicPartition(message.topic, message.partition, message.offset + 1)])
        except KafkaException as exc:
            # The partition went to another member: it redelivers the message (at-least-once).
            if exc.args[0].code() != KafkaError._STATE:
                raise

    def close(self) -> None:
        self._consumer.close()


class KafkaMessaging:
    """The Messaging port over a Kafka cluster; the configured topics exist once it is built."""

    def __init__(self, settings: KafkaSettings, describe_as: str = "") -> None:
        self.settings = settings
        self._describe_as = describe_as or settings.bootstrap_servers
        self.admin = TopicAdmin(settings)
        self.admin.ensure(settings.topics)
        self.publisher = KafkaPublisher(settings, self.admin)

    def subscriber(self, topics: Sequence[str], group: str) -> KafkaSubscriber:
        # A subscription to a missing topic would see it only at the next metadata refresh.
        self.admin.ensure(topics)
        return KafkaSubscriber(self.settings, topics, group)

    def close(self) -> None:
        """Flush and release the connections; the publisher and admin reopen them when used again."""
        self.publisher.close()
        self.admin.close()

    def check(self) -> None:
        self.admin.check()

    def describe(self) -> str:
        return f"Kafka {self._describe_as}"


def record_to_message(record: KafkaRecord) -> Message:
    """A Kafka record as the Subscriber port hands it out."""
    headers: dict[str, str] = {}
    for name, value in record.headers() or []:
        headers[name] = value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")
    topic, partition, offset = record.topic() or "", record.partition(), record.offset()
    message_id = headers.pop(ID_HEADER, None) or f"{topic}:{partition}:{offset}"
    message_type = headers.pop(TYPE_HEADER, None) or headers.get("type", "")
    key: Any = record.key()
    value: Any = record.value()
    return Message(
        id=message_id, key=key.decode(errors="replace") if isinstance(key, bytes) else "", type=message_type,
        payload=value if isinstance(value, bytes) else b"", headers=headers, topic=topic, partition=partition,
        offset=offset,
    )
