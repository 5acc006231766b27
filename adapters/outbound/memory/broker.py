"""An in-memory message broker: topics are append-only logs, consumer groups keep offsets."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence

from core.kernel.envelope import Message


class MemoryBroker:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.topics: dict[str, list[Message]] = {}
        self.committed: dict[tuple[str, str], int] = {}

    def messages(self, topic: str) -> list[Message]:
        with self.cond:
            return list(self.topics.get(topic, ()))


class MemoryPublisher:
    """The Publisher port over a MemoryBroker: a publish is confirmed once appended."""

    def __init__(self, broker: MemoryBroker) -> None:
        self._broker = broker

    def publish(self, topic: str, messages: Sequence[Message]) -> None:
        with self._broker.cond:
            log = self._broker.topics.setdefault(topic, [])
            for message in messages:
                log.append(dataclasses.replace(message, topic=topic, partition=0, offset=len(log)))
            self._broker.cond.notify_all()

    def close(self) -> None:
        return None


class MemorySubscriber:
    """The Subscriber port over a MemoryBroker: one member of `group` reading `topics`."""

    def __init__(self, broker: MemoryBroker, topics: Sequence[str], group: str) -> None:
        self._broker = broker
        self._topics = tuple(topics)
        self._group = group
        with broker.cond:
            self._positions = {t: broker.committed.get((group, t), 0) for t in self._topics}

    def poll(self, timeout: float, max_messages: int = 100) -> list[Message]:
        with self._broker.cond:
            self._broker.cond.wait_for(self._has_new, timeout=timeout)
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
            key = (self._group, message.topic)
            self._broker.committed[key] = max(self._broker.committed.get(key, 0), message.offset + 1)

    def close(self) -> None:
        return None

    def _has_new(self) -> bool:
        return any(len(self._broker.topics.get(t, ())) > self._positions[t] for t in self._topics)
