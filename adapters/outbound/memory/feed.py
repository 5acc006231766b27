from __future__ import annotations

import dataclasses
import threading
from collections import deque
from collections.abc import Callable

from core.kernel.feed import FeedEvent


class RingBufferFeed:
    """The EventFeed port: the newest `capacity` events in a ring buffer, pushed to subscribers."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._events: deque[FeedEvent] = deque(maxlen=capacity)
        self._subscribers: list[Callable[[FeedEvent], None]] = []
        self._lock = threading.Lock()
        self._seq = 0

    def publish(self, event: FeedEvent) -> FeedEvent:
        with self._lock:
            self._seq += 1
            event = dataclasses.replace(event, seq=self._seq)
            self._events.append(event)
            subscribers = tuple(self._subscribers)
        for callback in subscribers:
            try:
                callback(event)
            except Exception:
                continue
        return event

    def recent(self, after_seq: int = 0, limit: int = 1000) -> list[FeedEvent]:
        with self._lock:
            return [e for e in self._events if e.seq > after_seq][:limit]

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]:
        with self._lock:
            self._subscribers.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subscribers:
                    self._subscribers.remove(callback)

        return unsubscribe
