from __future__ import annotations

import uuid
from collections.abc import Sequence

from adapters.outbound.memory.broker import MemoryBroker, MemoryPublisher, MemorySubscriber


class MemoryMessaging:
    """The Messaging port over an in-process broker."""

    def __init__(self) -> None:
        self.broker = MemoryBroker()
        self.publisher = MemoryPublisher(self.broker)
        self._incarnation = uuid.uuid4().hex

    def lose_log(self) -> None:
        """Forget every message and offset, as a restarted memory-only broker does."""
        self.broker.lose_log()
        self._incarnation = uuid.uuid4().hex

    def incarnation(self) -> str | None:
        return self._incarnation

    def subscriber(self, topics: Sequence[str], group: str) -> MemorySubscriber:
        return MemorySubscriber(self.broker, topics, group)

    def close(self) -> None:
        """Nothing to flush: publishing is synchronous."""

    def check(self) -> None:
        """Memory always answers."""

    def describe(self) -> str:
        return "memory (this process only)"
