"""System ports: time, identifiers and the live feed of what the system does."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from core.kernel.feed import FeedEvent


class Clock(Protocol):
    """Tells the time. Contract: `now()` is timezone-aware (UTC) and never goes backwards."""

    def now(self) -> datetime: ...


class IdGenerator(Protocol):
    """Makes identifiers. Contract: `new_id()` returns a non-empty string never returned before
    by this generator; ids made later sort after ids made earlier (time-ordered)."""

    def new_id(self) -> str: ...


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
