"""Test doubles for relay tests on a real PostgreSQL outbox: the memory publisher with something
done at each hand-over (the subclass's `send`), and a broker that is just that publisher."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from adapters.outbound.memory.messaging import MemoryMessaging


class PublisherBeside:
    def __init__(self, messaging: MemoryMessaging) -> None:
        self._publisher = messaging.publisher

    def publish(self, topic: str, messages: Sequence[Any]) -> None:
        self._publisher.publish(topic, messages)

    def close(self) -> None:
        return None


class Broker:
    """What the relay asks of a broker: its publisher, and no log incarnation to compare."""

    def __init__(self, publisher: PublisherBeside) -> None:
        self.publisher = publisher

    def incarnation(self) -> str | None:
        return None
