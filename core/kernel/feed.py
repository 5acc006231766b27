"""What every part of the system reports to the EventFeed: one record type, a few kinds.

A kind exists once something publishes it (breakers and sagas add theirs when they land)."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class FeedKind(StrEnum):
    COMMAND = "command"
    DOMAIN_EVENT = "domain_event"
    OUTBOX_PUBLISHED = "outbox_published"
    RELAY_LAG = "relay_lag"
    OUTBOX_PARKED = "outbox_parked"
    OUTBOX_REQUEUED = "outbox_requeued"
    ADAPTER_SWITCHED = "adapter_switched"
    SAGA = "saga"
    BREAKER = "breaker"
    FAULT = "fault"
    ERROR = "error"


@dataclass(frozen=True, kw_only=True)
class FeedEvent:
    """One system event. `seq` is assigned by the feed: increasing, gap-free per feed."""

    kind: FeedKind
    text: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    def numbered(self, seq: int) -> FeedEvent:
        """This event as the feed keeps it. Built directly: `dataclasses.replace` costs several
        times as much, and a placed order makes five of these."""
        return FeedEvent(kind=self.kind, text=self.text, at=self.at, data=self.data, seq=seq)

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind.value, "text": self.text, "at": self.at.isoformat(),
                "data": self.data}


class FeedRing:
    """The newest `capacity` feed events, pushed to subscribers as they arrive. Thread-safe.

    Both the in-process feed and a feed followed over HTTP keep events this way: `accept` keeps
    an event unless its seq is not newer than the last kept (a replay after a reconnect), then
    calls every subscriber; one failing subscriber does not stop the others.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._events: deque[FeedEvent] = deque(maxlen=capacity)
        self._subscribers: list[Callable[[FeedEvent], None]] = []
        self.lock = threading.Lock()
        self.last_seq = 0

    def accept(self, event: FeedEvent) -> bool:
        with self.lock:
            if event.seq <= self.last_seq:
                return False
            self.last_seq = event.seq
            self._events.append(event)
            subscribers = tuple(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:  # a subscriber's failure is its own; the feed goes on
                continue
        return True

    def recent(self, after_seq: int = 0, limit: int = 1000) -> list[FeedEvent]:
        with self.lock:
            return [e for e in self._events if e.seq > after_seq][:limit]

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]:
        with self.lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self.lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe
