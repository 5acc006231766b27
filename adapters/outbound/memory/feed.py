"""The EventFeed port in this process: a ring of the newest events, pushed to subscribers."""

from __future__ import annotations

import itertools
import threading
from collections import deque
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
        # Subscribers (the log, metrics, the dashboard's stream) hear of events in seq order, from
        # one thread at a time, but not under `_lock`: a publisher that finds another thread
        # delivering leaves its event to that thread and goes on, instead of queueing behind
        # someone else's log write (under load that queue was a sixth of `serve`'s busy time).
        self._undelivered: deque[FeedEvent] = deque()
        self._delivering = threading.Lock()

    def publish(self, event: FeedEvent) -> FeedEvent:
        with self._lock:
            event = event.numbered(next(self._seq))
            self._ring.keep(event)
            self._undelivered.append(event)
        self._deliver()
        return event

    def _deliver(self) -> None:
        # Re-checked after each release: an event appended while the last deliverer was finishing
        # found the lock taken, so whoever sees it now delivers it.
        while self._undelivered:
            if not self._delivering.acquire(blocking=False):
                return  # the thread delivering now delivers this event too
            try:
                while self._undelivered:
                    self._ring.notify(self._undelivered.popleft())
            finally:
                self._delivering.release()

    def recent(self, after_seq: int = 0, limit: int = 1000) -> list[FeedEvent]:
        return self._ring.recent(after_seq, limit)

    def subscribe(self, callback: Callable[[FeedEvent], None]) -> Callable[[], None]:
        return self._ring.subscribe(callback)
