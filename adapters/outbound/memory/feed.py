"""The EventFeed port in this process: a ring of the newest events, pushed to subscribers."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from core.kernel.feed import FeedEvent, FeedRing


class RingBufferFeed:
    """Stamps each published event with the next seq and keeps the newest `capacity` of them."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._ring = FeedRing(capacity)
        self._seq = itertools.count(1)
        # Stamping and keeping happen under one lock, so seqs reach the ring in order.
        self._lock = threading.Lock()

    def publish(self, event: FeedEvent) -> FeedEvent:
        with self._lock:
            event = event.numbered(next(self._seq))
            self._ring.accept(event)
        return event

    def recent(self, after_seq: int = 0, limit: int = 1000) -> list[FeedEvent]:
        return self._ring.recent(after_seq, limit)

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]:
        return self._ring.subscribe(callback)
