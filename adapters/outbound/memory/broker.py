"""An in-memory message broker: topics are append-only logs, consumer groups keep offsets."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from itertools import groupby

from core.kernel.envelope import Message
from core.kernel.errors import Refused
from ports.storage import OutboxRow


class MemoryBroker:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.topics: dict[str, list[Message]] = {}
        self.committed: dict[tuple[str, str], int] = {}
        # Counts the logs lost: a subscriber that read an older log starts the new one from the start.
        self.generation = 0

    def messages(self, topic: str) -> list[Message]:
        with self.cond:
            return list(self.topics.get(topic, ()))

    def lose_log(self) -> None:
        """Forget every message and offset, as a restarted memory-only broker does; members of a
        group read the new log from its start, as Kafka consumers reset after their offset vanished."""
        with self.cond:
            self.topics.clear()
            self.committed.clear()
            self.generation += 1
            self.cond.notify_all()


class MemoryPublisher:
    """The Publisher port over a MemoryBroker: a publish is confirmed once appended.

    `max_message_bytes`, when set, refuses a larger message (its payload and headers) for good, as
    a Kafka broker refuses one over its `message.max.bytes`; the messages before it are appended."""

    def __init__(self, broker: MemoryBroker, max_message_bytes: int | None = None) -> None:
        self._broker = broker
        self.max_message_bytes = max_message_bytes

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        limit = self.max_message_bytes
        if limit is not None:
            for index, message in enumerate(messages):
                size = _size(message)
                if size > limit:
                    self.publish(topic, messages[:index])
                    raise Refused(message.id, f"{size} bytes is over the broker's limit of {limit} bytes per message")
        with self._broker.cond:
            log = self._broker.topics.setdefault(topic, [])
            for message in messages:
                log.append(dataclasses.replace(message, topic=topic, partition=0, offset=len(log)))
            self._broker.cond.notify_all()

    def send(self, rows: Sequence[OutboxRow], default_topic: str) -> MemorySending:
        """StreamingPublisher: published at once (appending is the confirmation); a refusal
        halts the sending at the refused row, which `wait()` then raises."""
        sending = MemorySending()
        for topic, run in groupby(rows, key=lambda row: row.topic or default_topic):
            messages = [_message_of(row, topic) for row in run]
            try:
                self.publish(topic, messages)
            except Refused as exc:
                for message in messages:
                    if message.id == exc.message_id:
                        break
                    sending.confirmed_ids.add(message.id)
                sending.halted, sending.refusal = True, exc
                return sending
            sending.confirmed_ids.update(m.id for m in messages)
        return sending

    def close(self) -> None:
        return None


class MemorySending:
    """A memory publish, done when handed over: `wait()` only tells a refusal."""

    def __init__(self) -> None:
        self.halted = False
        self.refusal: Refused | None = None
        self.confirmed_ids: set[str] = set()

    def wait(self) -> None:
        if self.refusal is not None:
            raise self.refusal

    def confirmed(self) -> set[str]:
        return set(self.confirmed_ids)


def _message_of(row: OutboxRow, topic: str) -> Message:
    return Message(id=row.event_id, key=row.aggregate_id, type=row.type, payload=row.payload.encode(), topic=topic,
                   headers={"event_id": row.event_id, "type": row.type, "aggregate_version": str(row.aggregate_version),
                            "correlation_id": row.aggregate_id, "causation_id": row.event_id})


class MemorySubscriber:
    """The Subscriber port over a MemoryBroker: one member of `group` reading `topics`."""

    def __init__(self, broker: MemoryBroker, topics: Sequence[str], group: str) -> None:
        self._broker = broker
        self._topics = tuple(topics)
        self._group = group
        with broker.cond:
            self._generation = broker.generation
            self._positions = {t: broker.committed.get((group, t), 0) for t in self._topics}

    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]:
        with self._broker.cond:
            self._broker.cond.wait_for(self._has_new, timeout=timeout)
            if self._generation != self._broker.generation:
                self._generation = self._broker.generation
                self._positions = dict.fromkeys(self._topics, 0)
            batch: list[Message] = []
            for topic in self._topics:
                log = self._broker.topics.get(topic, [])
                start = self._positions[topic]
                taken = log[start:start + max_messages - len(batch)]
                self._positions[topic] = start + len(taken)
                batch.extend(taken)
            return batch

    def ack(self, message: Message) -> None:
        if message.offset is None:
            raise ValueError("only a polled message can be acknowledged")
        with self._broker.cond:
            if self._generation != self._broker.generation:
                return  # an offset in a log that is gone
            key = (self._group, message.topic)
            self._broker.committed[key] = max(self._broker.committed.get(key, 0), message.offset + 1)

    def close(self) -> None:
        return None

    def _has_new(self) -> bool:
        if self._generation != self._broker.generation:
            return True
        return any(len(self._broker.topics.get(t, ())) > self._positions[t] for t in self._topics)


def _size(message: Message) -> int:
    return len(message.payload) + len(message.key.encode()) + sum(
        len(name.encode()) + len(value.encode()) for name, value in message.headers.items())
