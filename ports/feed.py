from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from core.feed import FeedEvent


class EventFeed(Protocol):
    """The live stream of system events that every part reports to. Bounded memory.

    Contract:
    - `publish(event)` stamps the next `seq` (1, 2, 3, ...), keeps the event and calls every
      subscriber with it; it never raises because a subscriber failed. Thread-safe.
    - `recent(after_seq=0, limit)` returns kept events with seq > after_seq, oldest first.
      Only the newest `capacity` events are kept.
    - `subscribe(callback)` returns a function that unsubscribes.
    """

    capacity: int

    def publish(self, event: FeedEvent) -> FeedEvent: ...

    def recent(self, after_seq: int = 0, limit: int = 1000) -> list[FeedEvent]: ...

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]: ...
